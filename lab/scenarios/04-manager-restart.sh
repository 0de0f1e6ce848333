#!/usr/bin/env bash
# The manager stopped for 30 s and started again: 5 clients (one repair group) over 3 metros with 5 % loss each
# keep playing and repairing with their last group meanwhile (0 unrecovered, exact outputs,
# no more loss than the injected rate), and their sessions re-attach afterwards (heartbeats
# accepted: every client reports in to the restarted manager).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_std 3 5
lab_std_finish_setup
clients=$(lab_client_names)
for h in $clients; do
  lab_loss_client "$h" 5
  lab_client "$h" 80
done
sleep 3
lab_source source 80 --loop
sleep 5
lab_snapshot before $clients
lab_log "stopping the manager for 30 s"
lab_stop manager TERM
sleep 30
lab_snapshot during $clients
lab_manager_start
lab_log "manager back"
reattached() { # every client's log says so, or the manager lists every session again
  local h
  for h in $clients; do grep -qE "re-attached|session open" <(tail -n +3 "$LAB_WORK/client-$h.log") || return 1; done
}
lab_check "every client's session re-attaches" lab_wait_until 20 "sessions re-attach" reattached
sleep 3
lab_stop source
sleep 1
for h in $clients; do lab_stop "client-$h"; done

lab_check_clients "--loop --max-segments 1 --min-bytes 3000000" $clients
for h in $clients; do
  b=$(lab_json "$LAB_WORK/$h.before.json" repaired)
  d=$(lab_json "$LAB_WORK/$h.during.json" repaired)
  lab_check "$h: repaired while the manager was away ($((d - b)))" test $((d - b)) -gt 0
  lab_check "$h: kept its group while the manager was away" \
    test "$(lab_json "$LAB_WORK/$h.during.json" peers)" -ge 1
done
lost=$(lab_sum_stat lost $clients)
recv=$(lab_sum_stat received $clients)
lab_check "no added loss: lost share $(python3 -c "print(f'{$lost/($lost+$recv):.4f}')") <= 0.06" \
  python3 -c "import sys; sys.exit(0 if $lost / ($lost + $recv) <= 0.06 else 1)"
lab_result "lost $lost, repaired $(lab_sum_stat repaired $clients), unrecovered $(lab_sum_stat unrecovered $clients) over 5 clients; manager away 30 s"
lab_finish
