#!/usr/bin/env bash
# Channel change time as a viewer feels it (TR-126): a player zaps through the client gateway
# (`groupcast client` without --channel) between three channels of the sample (H.264, 2 s GOP,
# the channels' default 1 s buffer), ZAPS times per case, each zap timed from the HTTP request to
# the first byte of the stream (the gateway starts it at a random access point) and to the
# first picture ffmpeg decodes (bench/zap.py). Three cases, in one run:
#   no peers       the gateway is the only viewer: no group member to ask, it waits for the
#                  next keyframe on multicast;
#   warm peers     two other viewers watch each channel (in other metros): fast start from them;
#   plain multicast  --no-fast-start (peers as in the first case): wait for the next keyframe.
# Everything stays on loopback (multicast on 127.0.0.1, TTL 1); every process is bounded in time.
#
#   bash bench/zap.sh            (ZAPS=50 by default; needs ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
ZAPS=${ZAPS:-50}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cargo build --release -q -p groupcast
gc=$PWD/target/release/groupcast
limit=$((ZAPS * 3 * 5 + 120)) # seconds every process may live

admin=bench-admin-token-0123456789abcdef
GROUPCAST_ADMIN_TOKEN=$admin timeout $limit $gc manager --listen 127.0.0.1:48090 \
  --db "sqlite://$work/m.db?mode=rwc" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf http://127.0.0.1:48090/api/v1/health >/dev/null && break; sleep 0.1; done
api() { curl -sf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  "http://127.0.0.1:48090/api/v1/$1" -d "$2"; }
channels=(za zb zc)
for i in 0 1 2; do
  api channels "{\"name\":\"${channels[$i]}\",\"group\":\"239.255.52.$((i + 1)):5004\"}" >/dev/null
  timeout $limit $gc source --input assets/sample.ts --loop --group "239.255.52.$((i + 1)):5004" \
    --iface 127.0.0.1 --ttl 1 --duration $limit >/dev/null 2>&1 &
done
token=$(api users '{"name":"zapper","role":"viewer","channels":["za","zb","zc"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export GROUPCAST_TOKEN=$token

# Runs the gateway on port $1 with extra options, zaps, prints the summary row for "$2".
measure() {
  local port=$1 name=$2; shift 2
  timeout $limit $gc client --manager http://127.0.0.1:48090 --metro gw --iface 127.0.0.1 \
    --output "http://127.0.0.1:$port" --quiet --stats-json "$work/gw-$port.json" "$@" \
    >"$work/gw-$port.log" 2>&1 &
  local pid=$!
  sleep 1
  python3 bench/zap.py "127.0.0.1:$port" "$ZAPS" "${channels[@]}" >"$work/zaps-$port.jsonl" \
    2>"$work/summary-$port.json" || { cat "$work/summary-$port.json" "$work/gw-$port.log" >&2; exit 1; }
  kill -INT $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  python3 - "$name" "$work/summary-$port.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
print(f"| {sys.argv[1]:16} | {s['zaps']:4} | {s['first_byte_p50_ms']:6} | {s['first_byte_p95_ms']:6}"
      f" | {s['first_picture_p50_ms']:6} | {s['first_picture_p95_ms']:6} | {s['no_byte'] + s['no_picture']:6} |")
PY
}

echo "| case             | zaps | first byte p50 ms | p95 ms | first picture p50 ms | p95 ms | failed |"
echo "|---|---|---|---|---|---|---|"
measure 48101 "no peers"
# Two viewers per channel in two other metros: the gateway's groups have warm members.
for ch in "${channels[@]}"; do
  for m in m1 m2; do
    timeout $limit $gc client --manager http://127.0.0.1:48090 --channel "$ch" --metro "$m" \
      --iface 127.0.0.1 --output file:/dev/null --quiet --duration $limit >/dev/null 2>&1 &
  done
done
sleep 4
measure 48102 "plain multicast" --no-fast-start
measure 48103 "warm peers"
