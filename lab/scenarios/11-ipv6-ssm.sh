#!/usr/bin/env bash
# IPv6 end to end with source-specific multicast (issue 15): every host has an address in
# 2001:2::/48, the bridges snoop MLDv2, and the manager, the peers, the central-to-edge relay
# and the media all run over IPv6. The channel is SSM: viewers join (source, group) with MLDv2
# (MCAST_JOIN_SOURCE_GROUP); metro m1 is fed by an edge over IPv6 that re-multicasts on its
# own group from its own address, named as m1's source. Each viewer loses 3 % of its
# multicast and repairs it from its group (repairs rebuild the UDP header and checksum over
# the IPv6 pseudo-header). A stranger in m2 sends its own stream to the central's group from
# another address all along. Viewer c06 (m3) gets no media multicast and no MLD through its
# port: it falls back to the central's unicast feed over IPv6. Checks: byte-exact outputs and 0 unrecovered; the bridges learned
# the joins by MLD; no SSM viewer took a stranger's datagram; control: an any-source viewer of
# a second channel on the same group does see the stranger's.
set -euo pipefail
LAB_IPV6=1
LAB_UNICAST_SECRET=lab-unicast-secret-$$-0123456789abcdef
source "$(dirname "$0")/../lib.sh"
LAB_GROUP='[ff3e::4242]:5004'
EDGE_GROUP='[ff3e::4243]:5004'
LAB_MEDIA_MATCH="ip6 daddr ff3e::/16 meta l4proto udp"
lab_std 3 10 # c01..c09 on the SSM channel, c10 (m1) on the any-source control
lab_add_host e1 br-m1 198.18.1.250
lab_add_host x1 br-m2 198.18.2.251 # the stranger
SRC6=${LAB_IP6[src]}
EDGE6=${LAB_IP6[e1]}
LAB_METRO_GROUPS=("m1=$EDGE_GROUP")
LAB_CHANNEL_ARGS=(--source "$SRC6" --metro-source "m1=$EDGE6" --relay "[$SRC6]:7100")
lab_std_finish_setup
adm=("$LAB_GC" admin --manager "$(lab_manager_url)" --token "$LAB_ADMIN_TOKEN")
lab_exec mgr "${adm[@]}" channel add asm --group "$LAB_GROUP" --buffer-ms "$LAB_BUFFER_MS" >&2
lab_exec mgr "${adm[@]}" grant viewer asm
clients=$(lab_client_names | grep -v c10)
others=$(grep -v c06 <<<"$clients")
# c06: no media multicast out of its port, no MLD report in (neighbour discovery still works).
lab_nft_rule nomc-c06 oifname p-c06 ip6 daddr ff3e::/16 counter drop
sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd iifname p-c06 ip6 daddr ff02::16 counter drop comment '"nomc-c06"'
# ... and 3 % of all its IPv6 UDP (the unicast feed, requests, repairs) lost.
lab_nft_rule loss6-c06 oifname p-c06 ip6 nexthdr udp numgen random mod 10000 '<' 300 counter drop
for h in $clients; do
  [ "$h" = c06 ] || lab_loss_client "$h" 3
  if [ "$h" = c06 ]; then lab_client "$h" 30 --multicast-wait-ms 1500; else lab_client "$h" 30; fi
done
LAB_CHANNEL=asm lab_client c10 30
lab_count src-to-stranger oifname p-x1 ip6 daddr ff3e::4242 udp dport 5004
sw nft add rule bridge "$LAB_NFT_TABLE" ingress iifname p-x1 ip6 daddr ff3e::4242 counter comment '"stranger"'
sleep 1
lab_bg e1 edge 32 "$LAB_GC" edge --upstream "[$SRC6]:6000" --token lab-edge-token \
  --group "$EDGE_GROUP" --iface eth0 --stats-json "$LAB_WORK/edge.json"
sleep 1 # the edge registered: m1 gets the stream from its first packet, well within 3 s
lab_source source 12 --relay-listen "[$SRC6]:6000" --edge-token lab-edge-token \
  --unicast-listen "[$SRC6]:7100" --unicast-secret "$LAB_UNICAST_SECRET" --channel "$LAB_CHANNEL"
# RTP of its own SSRC, TS null packets, 100 a second for 14 s, hop limit 1: bounded, in m2.
lab_bg x1 stranger 20 python3 -c "
import socket, struct, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('${LAB_IP6[x1]}', 0))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex('eth0'))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
for i in range(1400):
    rtp = struct.pack('!BBHII', 0x80, 33, i, i * 900, 0x5EC0DE)
    s.sendto(rtp + b'\x47\x1f\xff\x10' + b'\xff' * 184, ('ff3e::4242', 5004))
    time.sleep(0.01)
"
sleep 4
lab_log "MLD snooping: $(lab_mdb | grep -c ff3e::) entries: $(lab_mdb | grep ff3e:: | tr -s ' ' | head -12 | tr '\n' ';')"
mdb=$(lab_mdb)
for h in $others c10; do
  lab_check "the bridge learned $h's join by MLD" grep -q "port p-$h grp ff3e::424" <<<"$mdb"
done
lab_wait source || lab_die "source failed"
sleep 2
lab_stop edge
for h in $clients c10; do lab_stop "client-$h"; done
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
for h in $clients; do
  lab_check "$h: repaired over IPv6 ($(lab_stat "$h" repaired) of $(lab_stat "$h" lost))" test "$(lab_stat "$h" repaired)" -gt 0
done
stranger=$(sw nft list chain bridge "$LAB_NFT_TABLE" ingress | awk '/comment "stranger"/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
lab_check "the stranger sent to the group in m2 ($stranger datagrams)" test "${stranger:-0}" -gt 1000
lab_check "no SSM viewer took a stranger's datagram (ssrc_mismatch $(lab_sum_stat ssrc_mismatch $clients))" \
  test "$(lab_sum_stat ssrc_mismatch $clients)" = 0
lab_check "control: the any-source viewer saw them ($(lab_stat c10 ssrc_mismatch))" \
  test "$(lab_stat c10 ssrc_mismatch)" -gt 100
lab_check "snooping kept the stream from the stranger's port ($(lab_nft_packets src-to-stranger) datagrams)" \
  test "$(lab_nft_packets src-to-stranger)" -lt 50
lab_check "m1 played the edge's stream over IPv6 (edge forwarded $(lab_json "$LAB_WORK/edge.json" forwarded))" \
  test "$(lab_json "$LAB_WORK/edge.json" forwarded)" -gt 1000
lab_check "c06 without multicast was fed by unicast over IPv6 (received $(lab_stat c06 unicast_received), starts $(lab_stat c06 unicast_starts), ends $(lab_stat c06 unicast_ends))" \
  test "$(lab_stat c06 unicast_starts)" = 1 -a "$(lab_stat c06 unicast_ends)" = 1 -a "$(lab_stat c06 unicast_received)" -gt 1000
# A viewer whose multicast came late (the channel went on air after its wait) may have joined
# the feed; it must have left it as soon as multicast came with the feed's media.
stayed=0
for h in $others; do
  if [ "$(lab_stat "$h" unicast_starts)" != "$(lab_stat "$h" unicast_ends)" ] ||
    [ "$(lab_stat "$h" unicast_received)" -gt 200 ]; then stayed=$((stayed + 1)); fi
done
lab_check "no viewer with multicast stayed on unicast ($stayed; $(lab_sum_stat unicast_received $others) datagrams by unicast)" test "$stayed" = 0
lab_result "IPv6 SSM: clients unrecovered $(lab_sum_stat unrecovered $clients), repaired $(lab_sum_stat repaired $clients); stranger sent ${stranger:-0}, taken 0 by SSM, $(lab_stat c10 ssrc_mismatch) seen by the any-source control"
lab_finish
