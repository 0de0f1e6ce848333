#!/usr/bin/env bash
# The unicast fallback's cost at an edge (issue 15): edge CPU per unicast viewer of a 10 Mbit/s
# channel, and from it the most viewers one edge core feeds. A source relays the sample,
# re-muxed to a constant 10 Mbit/s and looped, to an edge that re-multicasts it and feeds N
# ticket-holding viewers by unicast (bench/unicast_viewers.py: admitted by the challenge, then
# refreshing; they do not read, so the kernel drops what they would play). The edge's CPU is
# read from the scheduler for N = 0 and more, in one run. Loopback only (multicast pinned to
# 127.0.0.1, TTL 1); every process is bounded in time.
#
#   bash bench/unicast.sh        (needs ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
COUNTS=${COUNTS:-0 25 50 100 200}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release -q -p groupcast
gc=$PWD/target/release/groupcast
ffmpeg -hide_banner -loglevel error -y -i assets/sample.ts -c copy -muxrate 10000k -f mpegts "$work/10m.ts"
secret=bench-unicast-secret-0123456789abcdef
runs=$(($(wc -w <<<"$COUNTS") * (SECS + 4) + 30))
timeout "$runs" "$gc" source --input "$work/10m.ts" --loop --group 239.255.52.1:5004 --iface 127.0.0.1 \
  --relay-listen 127.0.0.1:46000 --edge-token bench-edge-token --duration "$runs" >/dev/null 2>&1 &
timeout "$runs" "$gc" edge --upstream 127.0.0.1:46000 --token bench-edge-token --group 239.255.52.2:5004 \
  --iface 127.0.0.1 --unicast-listen 127.0.0.1:46100 --unicast-secret "$secret" --channel bench \
  --max-unicast-viewers 10000 --stats-json "$work/edge.json" --duration "$runs" >/dev/null 2>"$work/edge.log" &
edge=$!
sleep 2
epid=$(pgrep -P "$edge" || echo "$edge")
cpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.4f", s / 1e9 }'; }
echo "| unicast viewers | edge CPU, % of a core | per viewer, % of a core |"
echo "|---|---|---|"
base=""
for n in $COUNTS; do
  if [ "$n" -gt 0 ]; then
    python3 bench/unicast_viewers.py --relay 127.0.0.1:46100 --secret "$secret" --channel bench \
      --viewers "$n" --secs "$((SECS + 2))" >/dev/null &
    viewers=$!
    sleep 2
  fi
  a=$(cpu "$epid"); t0=$(date +%s.%N)
  sleep "$SECS"
  b=$(cpu "$epid"); t1=$(date +%s.%N)
  pct=$(echo "$a $b $t0 $t1" | awk '{ printf "%.2f", ($2 - $1) / ($4 - $3) * 100 }')
  [ -n "$base" ] || base=$pct
  per=$(echo "$pct $base $n" | awk '{ if ($3 > 0) printf "%.3f", ($1 - $2) / $3; else print "-" }')
  echo "| $n | $pct | $per |"
  if [ "$n" -gt 0 ]; then wait "$viewers" || echo "viewers failed" >&2; fi
  sleep 1
done
kill -INT "$epid" 2>/dev/null || true
sleep 1
echo
echo "edge unicast feed: $(python3 -c "import json; u = json.load(open('$work/edge.json'))['unicast']; print(', '.join(f'{k} {u[k]}' for k in ('joined', 'sent', 'bytes_sent', 'send_errors', 'dropped')))")"
