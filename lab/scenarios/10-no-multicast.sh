#!/usr/bin/env bash
# Viewers without multicast (issue 15): metro m1's bridge carries no multicast at all to or
# from its viewers' ports (media, IGMP queries and reports). m1 is fed by an edge that also
# runs the unicast feed; the channel names it as m1's relay (and the central's feed for the
# other metros). m1's viewers find no multicast after 1.5 s, get a ticket-checked unicast feed
# from the edge, lose 3 % of all their UDP (feed, requests, repairs), repair from their groups
# across metros and play byte-exact outputs; the edge counts its unicast egress. The other
# metros stay on multicast and lose 3 % of it. Control: an m1 viewer with `--unicast never` plays
# nothing.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
EDGE_GROUP=239.255.1.1:5004
EDGE_IP=198.18.1.250
LAB_UNICAST_SECRET=lab-unicast-secret-$$-0123456789abcdef
LAB_METRO_GROUPS=("m1=$EDGE_GROUP")
LAB_CHANNEL_ARGS=(--relay "198.18.0.1:7100" --metro-relay "m1=$EDGE_IP:7100")
lab_std 3 10 # c01, c04, c07 and c10 (the control) in m1
lab_add_host e1 br-m1 "$EDGE_IP"
lab_std_finish_setup
m1=$(lab_client_names m1 | grep -v c10)
others=$(lab_client_names | grep -v -x -F "$(lab_client_names m1)")
for h in $m1 c10; do
  lab_nft_rule "nomc-$h" oifname "p-$h" ip daddr 224.0.0.0/4 counter drop
  sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd iifname "p-$h" ip daddr 224.0.0.0/4 counter drop comment "\"nomc-$h\""
done
feed=(--unicast-secret "$LAB_UNICAST_SECRET" --channel "$LAB_CHANNEL")
lab_bg e1 edge 32 "$LAB_GC" edge --upstream "${LAB_IP[src]}:6000" --token lab-edge-token \
  --group "$EDGE_GROUP" --iface "$EDGE_IP" --stats-json "$LAB_WORK/edge.json" \
  --unicast-listen "$EDGE_IP:7100" "${feed[@]}"
for h in $m1; do
  lab_loss_host_all "$h" 3
  lab_client "$h" 20 --multicast-wait-ms 1500
done
lab_client c10 20 --unicast never
for h in $others; do
  lab_loss_client "$h" 3
  lab_client "$h" 20
done
# The channel goes on air within the others' 3 s wait; m1's viewers give up on multicast
# 1.5 s after joining, when it is on air, and start at a keyframe of the edge's feed.
sleep 1
lab_source source 12 --relay-listen "${LAB_IP[src]}:6000" --edge-token lab-edge-token \
  --unicast-listen "${LAB_IP[src]}:7100" "${feed[@]}"
lab_wait source || lab_die "source failed"
sleep 2
for h in $m1 c10 $others; do lab_stop "client-$h"; done
lab_stop edge
lab_check_clients "--max-segments 1 --min-bytes 800000" $m1 $others
nomc=0
for h in $m1 c10; do nomc=$((nomc + $(lab_nft_packets "nomc-$h"))); done
lab_check "m1's bridge dropped the multicast to and from its viewers ($nomc packets)" test "$nomc" -gt 1000
for h in $m1; do
  lab_check "$h: fed by unicast (received $(lab_stat "$h" unicast_received), starts $(lab_stat "$h" unicast_starts))" \
    test "$(lab_stat "$h" unicast_starts)" = 1 -a "$(lab_stat "$h" unicast_received)" -gt 500
  lab_check "$h: its group repaired it ($(lab_stat "$h" repaired) of $(lab_stat "$h" lost) lost)" \
    test "$(lab_stat "$h" repaired)" -gt 0
done
lab_check "the metros with multicast stayed on it ($(lab_sum_stat unicast_starts $others) unicast starts)" \
  test "$(lab_sum_stat unicast_starts $others)" = 0
joined=$(lab_json "$LAB_WORK/edge.json" unicast.joined)
egress=$(lab_json "$LAB_WORK/edge.json" unicast.bytes_sent)
lab_check "the edge fed m1's 3 viewers ($joined admitted) and counted its unicast egress ($egress bytes)" \
  test "$joined" = 3 -a "$egress" -gt 2000000
central=$(lab_json "$LAB_WORK/source.json" unicast.joined)
lab_check "the central fed nobody: m1 has its own relay ($central admitted)" test "$central" = 0
lab_check "control: c10 with --unicast never received nothing ($(lab_stat c10 received))" \
  test "$(lab_stat c10 received)" = 0
lab_log "edge unicast: $(python3 -c "import json; print(json.load(open('$LAB_WORK/edge.json'))['unicast'])")"
lab_result "no multicast in m1: viewers fed by unicast $(lab_sum_stat unicast_received $m1) datagrams, repaired $(lab_sum_stat repaired $m1), unrecovered $(lab_sum_stat unrecovered $m1); edge egress $egress bytes"
lab_finish
