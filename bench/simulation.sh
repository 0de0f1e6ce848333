#!/usr/bin/env bash
# The design-question sweeps of docs/simulation.md, produced with `groupcast sim` (virtual time,
# deterministic: the same command prints the same tables). Prints Markdown.
#
#   bash bench/simulation.sh > /tmp/tables.md
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p groupcast
gc=target/release/groupcast
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Common audience: 60 viewers over 6 metros, a 1,000 packet/s stream for 10 s, 300 ms buffer.
base=(--clients 60 --metros 6 --seconds 10 --pps 1000 --buffer-ms 300 --seed 1)

row() { # label, then sim arguments
  local label=$1; shift
  "$gc" sim "${base[@]}" "$@" --json "$work/r.json" >/dev/null
  python3 - "$label" "$work/r.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
p50, p99 = d["latency_p50_ms"], d["latency_p99_ms"]
f = lambda v: "-" if v is None else f"{v:.1f}"
print(f"| {sys.argv[1]} | {d['network_loss']*100:.2f} % | {d['residual_loss']*100:.4f} % | {f(p50)} | {f(p99)} "
      f"| {d['duplicates_per_repair']:.2f} | {d['upload_kbps_mean']:.0f} | {d['upload_kbps_max']:.0f} "
      f"| {d['requests_per_packet']:.3f} |")
PY
}

header() {
  echo "| $1 | network loss | residual loss | p50 ms | p99 ms | dup/repair | upload kbit/s mean | max | requests/packet |"
  echo "|---|---|---|---|---|---|---|---|---|"
}

echo "### Group size x loss model"
echo
for model in "independent 5 %:--loss 5" "bursts of 8, 5 %:--loss 5 --burst 8" "2 % per viewer + 3 % per metro:--loss 2 --metro-loss 3"; do
  label=${model%%:*}; args=${model#*:}
  echo "#### $label"
  echo
  header "group size"
  for k in 2 3 4 5 6 7 8; do
    # shellcheck disable=SC2086
    row "$k" --group-size "$k" $args
  done
  echo
done

echo "### Grouping across metros, one metro out for 2 s"
echo
echo "Metro 0 loses everything from 3 s to 5 s; every viewer also loses 2 % on its own."
echo
header "grouping"
for g in cross-metro same-metro random; do
  row "$g" --grouping "$g" --loss 2 --outage 0:3:5
done
echo

echo "### Request strategy: all members vs best peer first"
echo
header "strategy"
for s in all ranked; do
  row "$s, 5 % independent" --strategy "$s" --loss 5
done
for s in all ranked; do
  row "$s, bursts of 8" --strategy "$s" --loss 5 --burst 8
done
echo

echo "### Without repair (the control)"
echo
header "repair"
row "off" --no-repair --loss 5
row "on" --loss 5
