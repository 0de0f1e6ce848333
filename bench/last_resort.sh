#!/usr/bin/env bash
# Issue 12's simulator table: the operator's model (1,000 packets/s, 200 ms buffer, 5 % loss
# on all UDP per viewer, 3 % per metro trunk, a 2 s multicast cut of one metro every 300 s,
# 3 metros, groups of 5) for 6, 12 and 24 viewers, at least 1e8 client-packets per row, with
# the repair groups only, with each viewer's backups in the neighbouring groups (one per
# neighbouring group, the manager's default), and with the source's relay as the last resort
# behind both (its multicast resends modelled, as the relay's default). Prints Markdown.
#
#   bash bench/last_resort.sh [CLIENT_PACKETS] > /tmp/last_resort.md
source "$(dirname "$0")/operator_model.sh"
total=${1:-100000000}

echo "| viewers | tiers | client-packets | network loss | residual loss (unrecovered) | p50 ms | p99 ms | dup/repair | upload kbit/s mean | from backups | from the last resort | relay resends | source egress | sim wall s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in 6 12 24; do
  secs=$(( (total + n * 1000 - 1) / (n * 1000) ))
  for tier in "groups only:--backups 0" "+ backup group:--backups 1" "+ last resort:--backups 1 --last-resort"; do
    label=${tier%%:*}; extra=${tier#*:}
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    operator_model "$n" "$total" "$work/r.json" $extra
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    python3 - "$n" "$label" "$secs" "$wall" "$work/r.json" <<'PY'
import json, sys
n, label, secs, wall, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
d = json.load(open(path))
due = int(n) * d["packets"]
unrec = round(d["residual_loss"] * due)
f = lambda v: "-" if v is None else f"{v:.1f}"
print(f"| {n} | {label} | {due:.2e} | {d['network_loss']*100:.2f} % | {d['residual_loss']:.1e} ({unrec}) "
      f"| {f(d['latency_p50_ms'])} | {f(d['latency_p99_ms'])} | {d['duplicates_per_repair']:.2f} "
      f"| {d['upload_kbps_mean']:.0f} | {d['backup_repaired']} | {d['last_resort_repaired']} | {d.get('relay_resent') or 0} "
      f"| {d['source_egress']:.4f}x | {wall:.0f} |")
PY
  done
done
