#!/usr/bin/env bash
# Metro outage: metro m1's trunk drops all multicast media for 2 s in the middle of the stream
# (peer unicast still flows, like a failing multicast device). The metro's clients recover the
# whole outage from their group's peers in other metros: 0 unrecovered, outputs exact. Control:
# a --no-repair client in m1 has holes.
# LAB_HD=1 (scenario 15): at HD rates, 1,000 packets/s with a 200 ms buffer and the source's
# relay as the viewers' last resort (lab_hd; its budget, 0.9 % of the stream, is no help with a
# 2 s outage: the peers catch it up); the control has neither repair nor last resort.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_std 3 9
lab_add_host k01 br-m1 198.18.1.101
control=(--no-repair)
if [ -n "${LAB_HD:-}" ]; then
  lab_hd
  control+=(--no-last-resort --unicast never)
fi
lab_std_finish_setup
clients=$(lab_client_names)
for h in $clients; do lab_client "$h" 30; done
lab_client k01 30 "${control[@]}"
sleep 3
lab_source source 12 "${LAB_RELAY_SOURCE[@]}"
lab_outage m1 2 5
lab_wait source || lab_die "source failed"
sleep 2
for h in $clients k01; do lab_stop "client-$h"; done
lab_wait outage1 || true

sent=$(lab_json "$LAB_WORK/source.json" packets)
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
m1lost=$(lab_sum_stat lost $(lab_client_names m1))
exp=$(python3 -c "print(int($sent / 12 * 2 * 3 * 0.9))") # 2 s of 12, 3 clients, 10 % slack
lab_check "m1's clients lost the outage ($m1lost >= $exp packets)" test "$m1lost" -ge "$exp"
lab_check "the outage dropped media at the trunk ($(cat "$LAB_WORK/outage1.dropped") packets)" test "$(cat "$LAB_WORK/outage1.dropped")" -gt 0
ctrl=$(lab_stat k01 unrecovered)
lab_check "control (--no-repair, m1) has holes: unrecovered $ctrl" test "$ctrl" -gt 100
lab_result "sent $sent; m1 lost $m1lost, repaired $(lab_sum_stat repaired $(lab_client_names m1)), unrecovered $(lab_sum_stat unrecovered $clients) (all clients); control unrecovered $ctrl"
lab_finish
