#!/usr/bin/env bash
# An edge in metro m1 fed by the central source over a lossy unicast link (5 % of the UDP in
# each direction of the edge's port, unicast only) re-multicasts the stream in m1 on its own
# group; the channel maps m1 to that group. m1's clients play from the edge, the others from
# the central; all share one sequence space and repair each other: 0 unrecovered, exact outputs,
# and the edge repaired its link from the central's ring.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
EDGE_GROUP=239.255.1.1:5004
LAB_METRO_GROUPS=("m1=$EDGE_GROUP")
lab_std 3 5
lab_add_host e1 br-m1 198.18.1.250
lab_std_finish_setup
clients=$(lab_client_names)
lab_loss_host_unicast e1 5
for h in $clients; do
  lab_loss_client "$h" 3
  lab_client "$h" 40
done
lab_count m1-edge-media oifname p-c01 ip daddr "${EDGE_GROUP%:*}" udp dport "${EDGE_GROUP#*:}"
lab_count m1-central-media oifname p-c01 ip daddr "${LAB_GROUP%:*}" udp dport "${LAB_GROUP#*:}"
sleep 2
lab_bg src source 30 "$LAB_GC" source --input "$LAB_SAMPLE" --group "$LAB_GROUP" --iface "${LAB_IP[src]}" \
  --relay-listen "${LAB_IP[src]}:6000" --edge-token lab-edge-token --stats-json "$LAB_WORK/source.json"
sleep 0.5
lab_bg e1 edge 30 "$LAB_GC" edge --upstream "${LAB_IP[src]}:6000" --token lab-edge-token \
  --group "$EDGE_GROUP" --iface "${LAB_IP[e1]}" --stats-json "$LAB_WORK/edge.json"
lab_wait source || lab_die "source failed"
sleep 2
lab_stop edge
for h in $clients; do lab_stop "client-$h"; done
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
lab_check "the lossy link dropped relay traffic ($(lab_nft_dropped lossuni-e1))" test "$(lab_nft_dropped lossuni-e1)" -gt 0
lab_check "m1's clients got the edge's group ($(lab_nft_packets m1-edge-media) packets)" test "$(lab_nft_packets m1-edge-media)" -gt 1000
lab_check "and not the central's ($(lab_nft_packets m1-central-media) packets)" test "$(lab_nft_packets m1-central-media)" = 0
lab_log "edge statistics: $(tr -d '\n' <"$LAB_WORK/edge.json" | head -c 600)"
lab_result "edge link dropped $(lab_nft_dropped lossuni-e1); clients unrecovered $(lab_sum_stat unrecovered $clients), repaired $(lab_sum_stat repaired $clients)"
lab_finish
