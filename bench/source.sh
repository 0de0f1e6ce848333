#!/usr/bin/env bash
# Source send rate and CPU per Mbit/s, groupcast side by side with librist's ristsender, in one
# run on the same 20 Mbit/s input. Everything stays on loopback (multicast pinned to 127.0.0.1 /
# lo with TTL 1); every process is bounded in time.
#
#   bash bench/source.sh            (needs ffmpeg and rist-tools: apt-get install ffmpeg rist-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release -q -p groupcast
gc=target/release/groupcast
hz=$(getconf CLK_TCK)

# The sample re-muxed to a constant 20 Mbit/s (the same programmes padded with null packets).
ffmpeg -hide_banner -loglevel error -y -i assets/sample.ts -c copy -muxrate 20000k -f mpegts "$work/20m.ts"

# CPU seconds (user + system) a process has used.
cpu() { awk -v hz="$hz" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# Runs "$@" in the background, prints the CPU seconds it uses from second 2 to second SECS,
# then stops it with SIGINT (it writes its statistics) and waits for it.
measure() {
  "$@" >/dev/null 2>&1 & local pid=$!
  sleep 2; local a; a=$(cpu "$pid")
  sleep $((SECS - 2)); local b; b=$(cpu "$pid")
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$a $b" | awk '{ printf "%.3f", $2 - $1 }'
}

row() { printf '| %-44s | %9s | %11s | %8s | %12s |\n' "$@"; }
row "sender" "Mbit/s" "packets/s" "CPU %" "CPU %/Mbit/s"
row "---" "---" "---" "---" "---"

# 1. groupcast source, paced at the file's 20 Mbit/s.
c=$(measure $gc source --input "$work/20m.ts" --loop --group 239.255.50.1:5004 --iface 127.0.0.1 \
  --duration $((SECS + 5)) --stats-json "$work/paced.json")
read -r pk by s < <(python3 -c "import json;d=json.load(open('$work/paced.json'));print(d['packets'],d['bytes'],d['seconds'])")
python3 - "$c" "$pk" "$by" "$s" "$SECS" <<'PY'
import sys
c, pk, by, s, secs = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mbps = by * 8 / s / 1e6; cpu = c / (secs - 2) * 100
print(f"| {'groupcast source, paced by PCR':44} | {mbps:9.2f} | {pk/s:11.0f} | {cpu:8.2f} | {cpu/mbps:12.4f} |")
PY
pacing=$(python3 -c "import json;p=json.load(open('$work/paced.json'))['pacing_error'];print(f\"{p['mean_us']:.0f} us mean, {p['max_us']} us max\")")

# 2. groupcast source, unpaced: the most one core sends.
c=$(measure $gc source --input "$work/20m.ts" --loop --unpaced --group 239.255.50.1:5004 --iface 127.0.0.1 \
  --duration $((SECS + 5)) --stats-json "$work/max.json")
read -r pk by s < <(python3 -c "import json;d=json.load(open('$work/max.json'));print(d['packets'],d['bytes'],d['seconds'])")
python3 - "$c" "$pk" "$by" "$s" "$SECS" <<'PY'
import sys
c, pk, by, s, secs = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mbps = by * 8 / s / 1e6; cpu = c / (secs - 2) * 100
print(f"| {'groupcast source, unpaced (maximum rate)':44} | {mbps:9.2f} | {pk/s:11.0f} | {cpu:8.2f} | {cpu/mbps:12.4f} |")
PY

# 3. groupcast source relaying live RTP (the job ristsender does below): RTP in, RTP multicast out.
$gc source --input "$work/20m.ts" --loop --group 239.255.50.3:5000 --iface 127.0.0.1 --duration $((SECS + 3)) 2>/dev/null &
c=$(measure $gc source --input "rtp://@239.255.50.3:5000" --iface 127.0.0.1 --group 239.255.50.4:5004 \
  --duration $((SECS + 5)) --stats-json "$work/live.json")
read -r pk by s < <(python3 -c "import json;d=json.load(open('$work/live.json'));print(d['packets'],d['bytes'],d['seconds'])")
python3 - "$c" "$SECS" <<'PY'
import sys
c, secs = float(sys.argv[1]), int(sys.argv[2])
cpu = c / (secs - 2) * 100; mbps = 20.0
print(f"| {'groupcast source, live RTP in (same job)':44} | {mbps:9.2f} | {20e6/8/1328:11.0f} | {cpu:8.2f} | {cpu/mbps:12.4f} |")
PY
wait

# 4. ristsender (simple profile) relaying the same 20 Mbit/s RTP stream to a ristreceiver.
timeout $((SECS + 5)) ristreceiver -p 0 -i "rist://@127.0.0.1:48200" -o "udp://127.0.0.1:48300" -S 0 -v 3 >/dev/null 2>&1 &
$gc source --input "$work/20m.ts" --loop --group 239.255.50.2:5000 --iface 127.0.0.1 --duration $((SECS + 3)) 2>/dev/null &
c=$(measure ristsender -p 0 -i "rtp://@239.255.50.2:5000?miface=lo" -o "rist://127.0.0.1:48200" -S 0 -v 3)
python3 - "$c" "$SECS" <<'PY'
import sys
c, secs = float(sys.argv[1]), int(sys.argv[2])
cpu = c / (secs - 2) * 100; mbps = 20.0
print(f"| {'ristsender -p 0, same 20 Mbit/s stream':44} | {mbps:9.2f} | {20e6/8/1328:11.0f} | {cpu:8.2f} | {cpu/mbps:12.4f} |")
PY
echo
echo "pacing error of the paced run (send time minus PCR schedule): $pacing"
