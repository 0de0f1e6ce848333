#!/usr/bin/env bash
# The source restarted: 5 clients with 5 % loss; the source is stopped after 8 s and started
# again 1 s later (a new SSRC, sequence numbers from a new random start, the file from its
# beginning). Clients resync: each output is two exact slices (before and after), with
# 0 unrecovered and a counted source restart.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_std 3 5
lab_std_finish_setup
clients=$(lab_client_names)
for h in $clients; do
  lab_loss_client "$h" 5
  lab_client "$h" 40
done
sleep 3
lab_source source1 8
lab_wait source1 || lab_die "source failed"
sleep 1
lab_source source2 8
lab_wait source2 || lab_die "source failed"
sleep 2
for h in $clients; do lab_stop "client-$h"; done
for h in $clients; do
  r=$(lab_tscheck "$h" --max-segments 2 --min-bytes 2500000) || true
  lab_check "$h: two exact slices, before and after the restart ($r)" \
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['ok'] and d['segments']==2 and d['missing_ts_packets']==0 else 1)" "$r"
  lab_check "$h: 0 unrecovered (lost $(lab_stat "$h" lost), repaired $(lab_stat "$h" repaired))" \
    test "$(lab_stat "$h" unrecovered)" = 0
  lab_check "$h: the restart was seen ($(lab_stat "$h" source_restarts))" test "$(lab_stat "$h" source_restarts)" -ge 1
done
lab_result "unrecovered $(lab_sum_stat unrecovered $clients), repaired $(lab_sum_stat repaired $clients), restarts seen $(lab_sum_stat source_restarts $clients)"
lab_finish
