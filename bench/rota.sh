#!/usr/bin/env bash
# Issue 12, item 5: who answers a repair request. The operator's model (bench/operator_model.sh)
# with the source's relay as the last resort, for 6, 12 and 24 viewers, with each request
# strategy: `all` (every member asked, every member answers), `ranked` (the best peer asked
# first) and `rota` (every member asked, the first live member of a per-packet rota answers,
# every member on the retry). Prints Markdown.
#
#   bash bench/rota.sh [CLIENT_PACKETS_PER_ROW] > /tmp/rota.md
source "$(dirname "$0")/operator_model.sh"
total=${1:-20000000}

echo "| viewers | strategy | client-packets | residual loss | p50 ms | p99 ms | dup/repair | upload kbit/s mean | upload kbit/s max | source egress |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 6 12 24; do
  for strategy in all ranked rota; do
    operator_model "$n" "$total" "$work/r.json" --last-resort --strategy "$strategy"
    python3 - "$n" "$strategy" "$work/r.json" <<'PY'
import json, sys
n, strategy, path = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(open(path))
due = int(n) * d["packets"]
f = lambda v: "-" if v is None else f"{v:.1f}"
print(f"| {n} | {strategy} | {due:.1e} | {d['residual_loss']:.1e} | {f(d['latency_p50_ms'])} "
      f"| {f(d['latency_p99_ms'])} | {d['duplicates_per_repair']:.2f} | {d['upload_kbps_mean']:.0f} "
      f"| {d['upload_kbps_max']:.0f} | {d['source_egress']:.4f}x |")
PY
  done
done
