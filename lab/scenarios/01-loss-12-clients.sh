#!/usr/bin/env bash
# 12 clients over 3 metros, 5 % loss per client plus 3 % per metro trunk (multicast media
# only): every client's output is a byte-exact slice of the sample with 0 unrecovered, the
# bridges' multicast database shows every client's IGMP join. Control in the same run: one
# client per metro with --no-repair under the same loss must show holes.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_up 3
lab_add_host src br-core 198.18.0.1
lab_add_host mgr br-core 198.18.0.2
lab_clients 12
for m in 1 2 3; do lab_add_host "k0$m" "br-m$m" "198.18.$m.10$m"; done # controls
lab_check_isolation || lab_die "isolation"
lab_manager_up
lab_settle

SECS=12 # the sample, not looped: outputs must be exact slices of it
clients=$(lab_client_names)
for h in $clients; do
  lab_client "$h" 30
  lab_loss_client "$h" 5
done
for m in 1 2 3; do
  lab_client "k0$m" 30 --no-repair
  lab_loss_client "k0$m" 5
  lab_loss_trunk "m$m" 3
done
sleep 3
lab_mdb >"$LAB_WORK/mdb.txt"
mdb_ok() {
  local h
  for h in $clients; do grep -q "port p-$h grp ${LAB_GROUP%:*}" "$LAB_WORK/mdb.txt" || return 1; done
}
lab_check "the bridges' multicast database shows the IGMP join of every client" mdb_ok

lab_bg src source $((SECS + 5)) "$LAB_GC" source --input "$LAB_SAMPLE" --group "$LAB_GROUP" \
  --iface "${LAB_IP[src]}" --stats-json "$LAB_WORK/source.json"
lab_wait source || lab_die "source failed"
sleep 2 # the last repairs and the play-out buffer
for h in $clients k01 k02 k03; do lab_stop "client-$h"; done

sent=$(lab_json "$LAB_WORK/source.json" packets)
worst=0
for h in $clients; do
  r=$(lab_tscheck "$h" --max-segments 1 --min-bytes 1000000) || true
  lab_check "$h: output byte-exact, contiguous ($r)" grep -q '"ok": true' <<<"$r"
  lab_check "$h: 0 unrecovered, lost $(lab_stat "$h" lost), repaired $(lab_stat "$h" repaired)" \
    test "$(lab_stat "$h" unrecovered)" = 0
  l=$(lab_stat "$h" lost)
  ((l > worst)) && worst=$l
done
lost=$(lab_sum_stat lost $clients)
repaired=$(lab_sum_stat repaired $clients)
unrec=$(lab_sum_stat unrecovered $clients)
ctrl=$(lab_sum_stat unrecovered k01 k02 k03)
lab_check "clients saw the injected loss (lost $lost of $((sent * 12)))" \
  python3 -c "import sys; sys.exit(0 if $lost > 0.05 * $sent * 12 else 1)"
lab_check "control (--no-repair) under the same loss has holes: unrecovered $ctrl" test "$ctrl" -gt 0
lab_check "control output is not exact" bash -c "! python3 '$LAB_DIR_ROOT/tools/tscheck.py' '$LAB_WORK/out-k01.ts' '$LAB_SAMPLE' --max-segments 1 >/dev/null"
lab_check "bad datagrams 0 (no noise in the lab)" test "$(lab_sum_stat bad_datagrams $clients)" = 0
lab_result "sent $sent; 12 clients lost $lost, repaired $repaired, unrecovered $unrec; control unrecovered $ctrl"
lab_finish
