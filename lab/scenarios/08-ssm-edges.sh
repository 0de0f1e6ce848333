#!/usr/bin/env bash
# Source-specific multicast through an edge (issue 15). The channel is SSM: the central source
# 198.18.0.1 sends LAB_GROUP; metro m1 is fed by an edge that re-multicasts on its own group
# from its own address, named as m1's source. Every viewer joins its (source, group) pair by
# IGMPv3: m1's from the edge, the others' from the central. A stranger in m1 sends its own
# stream to the edge's group from another address all along. Checks: exact outputs and 0
# unrecovered everywhere (m1's viewers receive the edge's stream, which a viewer handed the
# central's source with the edge's group would not), m1 viewers got the edge's group and not
# the central's, the stranger's datagrams were on m1's bridge and no viewer counted one.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
EDGE_GROUP=239.255.1.1:5004
EDGE_IP=198.18.1.250
LAB_METRO_GROUPS=("m1=$EDGE_GROUP")
LAB_CHANNEL_ARGS=(--source 198.18.0.1 --metro-source "m1=$EDGE_IP")
lab_std 3 5 # one repair group of 5: a loss every member shares is ~1e-4 a run
lab_add_host e1 br-m1 "$EDGE_IP"
lab_add_host x1 br-m1 198.18.1.251 # the stranger
lab_std_finish_setup
clients=$(lab_client_names)
for h in $clients; do
  lab_loss_client "$h" 3
  lab_client "$h" 40
done
lab_count m1-edge-media oifname p-c01 ip daddr "${EDGE_GROUP%:*}" udp dport "${EDGE_GROUP#*:}"
lab_count m1-central-media oifname p-c01 ip daddr "${LAB_GROUP%:*}" udp dport "${LAB_GROUP#*:}"
sw nft add rule bridge "$LAB_NFT_TABLE" ingress iifname p-x1 ip daddr "${EDGE_GROUP%:*}" counter comment '"stranger"'
sleep 2
# The edge first, so that m1 gets the stream from its first packet (the edge relays what it
# receives after it registered; scenario 06 covers an edge that joins late).
lab_bg e1 edge 32 "$LAB_GC" edge --upstream "${LAB_IP[src]}:6000" --token lab-edge-token \
  --group "$EDGE_GROUP" --iface "$EDGE_IP" --stats-json "$LAB_WORK/edge.json"
lab_bg src source 30 "$LAB_GC" source --input "$LAB_SAMPLE" --group "$LAB_GROUP" --iface "${LAB_IP[src]}" \
  --relay-listen "${LAB_IP[src]}:6000" --edge-token lab-edge-token --stats-json "$LAB_WORK/source.json"
# RTP of its own SSRC, TS null packets, 100 a second for 14 s, TTL 1: bounded and local to m1.
lab_bg x1 stranger 20 python3 -c "
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('${LAB_IP[x1]}'))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for i in range(1400):
    rtp = struct.pack('!BBHII', 0x80, 33, i, i * 900, 0x5EC0DE)
    s.sendto(rtp + b'\x47\x1f\xff\x10' + b'\xff' * 184, ('${EDGE_GROUP%:*}', ${EDGE_GROUP#*:}))
    time.sleep(0.01)
"
lab_wait source || lab_die "source failed"
sleep 2
lab_stop edge
for h in $clients; do lab_stop "client-$h"; done
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
lab_check "m1's clients got the edge's group ($(lab_nft_packets m1-edge-media) packets)" test "$(lab_nft_packets m1-edge-media)" -gt 1000
lab_check "and not the central's ($(lab_nft_packets m1-central-media) packets)" test "$(lab_nft_packets m1-central-media)" = 0
stranger=$(sw nft list chain bridge "$LAB_NFT_TABLE" ingress | awk '/comment "stranger"/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
lab_check "the stranger sent to the edge's group in m1 ($stranger datagrams)" test "${stranger:-0}" -gt 1000
lab_check "no viewer took a datagram of the stranger (ssrc_mismatch $(lab_sum_stat ssrc_mismatch $clients))" \
  test "$(lab_sum_stat ssrc_mismatch $clients)" = 0
lab_check "no viewer saw a source restart ($(lab_sum_stat source_restarts $clients))" \
  test "$(lab_sum_stat source_restarts $clients)" = 0
lab_result "SSM via edge: clients unrecovered $(lab_sum_stat unrecovered $clients), repaired $(lab_sum_stat repaired $clients); stranger sent ${stranger:-0}, taken 0"
lab_finish
