#!/usr/bin/env bash
# IPv6 end to end with source-specific multicast (issue 15): every host has an address in
# 2001:2::/48, the bridges snoop MLDv2, and the manager, the peers, the central-to-edge relay
# and the media all run over IPv6. The channel is SSM: viewers join (source, group) with MLDv2
# (MCAST_JOIN_SOURCE_GROUP); metro m1 is fed by an edge over IPv6 that re-multicasts on its
# own group from its own address, named as m1's source. Each viewer loses 3 % of its
# multicast and repairs it from its group (repairs rebuild the UDP header and checksum over
# the IPv6 pseudo-header). A stranger in m2 sends its own stream to the central's group from
# another address all along. Checks: byte-exact outputs and 0 unrecovered; the bridges learned
# the joins by MLD; no SSM viewer took a stranger's datagram; control: an any-source viewer of
# a second channel on the same group does see the stranger's.
set -euo pipefail
LAB_IPV6=1
source "$(dirname "$0")/../lib.sh"
LAB_GROUP='[ff3e::4242]:5004'
EDGE_GROUP='[ff3e::4243]:5004'
LAB_MEDIA_MATCH="ip6 daddr ff3e::/16 meta l4proto udp"
lab_std 3 7 # c01..c06 on the SSM channel, c07 (m1) on the any-source control
lab_add_host e1 br-m1 198.18.1.250
lab_add_host x1 br-m2 198.18.2.251 # the stranger
SRC6=${LAB_IP6[src]}
EDGE6=${LAB_IP6[e1]}
LAB_METRO_GROUPS=("m1=$EDGE_GROUP")
LAB_CHANNEL_ARGS=(--source "$SRC6" --metro-source "m1=$EDGE6")
lab_std_finish_setup
adm=("$LAB_GC" admin --manager "$(lab_manager_url)" --token "$LAB_ADMIN_TOKEN")
lab_exec mgr "${adm[@]}" channel add asm --group "$LAB_GROUP" --buffer-ms "$LAB_BUFFER_MS" >&2
lab_exec mgr "${adm[@]}" grant viewer asm
clients=$(lab_client_names | grep -v c07)
for h in $clients; do
  lab_loss_client "$h" 3
  lab_client "$h" 30
done
LAB_CHANNEL=asm lab_client c07 30
lab_count src-to-stranger oifname p-x1 ip6 daddr ff3e::4242 udp dport 5004
sw nft add rule bridge "$LAB_NFT_TABLE" ingress iifname p-x1 ip6 daddr ff3e::4242 counter comment '"stranger"'
sleep 2
lab_bg e1 edge 32 "$LAB_GC" edge --upstream "[$SRC6]:6000" --token lab-edge-token \
  --group "$EDGE_GROUP" --iface eth0 --stats-json "$LAB_WORK/edge.json"
lab_source source 12 --relay-listen "[$SRC6]:6000" --edge-token lab-edge-token
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
for h in $clients c07; do
  lab_check "the bridge learned $h's join by MLD" grep -q "port p-$h grp ff3e::424" <<<"$mdb"
done
lab_wait source || lab_die "source failed"
sleep 2
lab_stop edge
for h in $clients c07; do lab_stop "client-$h"; done
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
for h in $clients; do
  lab_check "$h: repaired over IPv6 ($(lab_stat "$h" repaired) of $(lab_stat "$h" lost))" test "$(lab_stat "$h" repaired)" -gt 0
done
stranger=$(sw nft list chain bridge "$LAB_NFT_TABLE" ingress | awk '/comment "stranger"/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
lab_check "the stranger sent to the group in m2 ($stranger datagrams)" test "${stranger:-0}" -gt 1000
lab_check "no SSM viewer took a stranger's datagram (ssrc_mismatch $(lab_sum_stat ssrc_mismatch $clients))" \
  test "$(lab_sum_stat ssrc_mismatch $clients)" = 0
lab_check "control: the any-source viewer saw them ($(lab_stat c07 ssrc_mismatch))" \
  test "$(lab_stat c07 ssrc_mismatch)" -gt 100
lab_check "snooping kept the stream from the stranger's port ($(lab_nft_packets src-to-stranger) datagrams)" \
  test "$(lab_nft_packets src-to-stranger)" -lt 50
lab_check "m1 played the edge's stream over IPv6 (edge forwarded $(lab_json "$LAB_WORK/edge.json" forwarded))" \
  test "$(lab_json "$LAB_WORK/edge.json" forwarded)" -gt 1000
lab_result "IPv6 SSM: clients unrecovered $(lab_sum_stat unrecovered $clients), repaired $(lab_sum_stat repaired $clients); stranger sent ${stranger:-0}, taken 0 by SSM, $(lab_stat c07 ssrc_mismatch) seen by the any-source control"
lab_finish
