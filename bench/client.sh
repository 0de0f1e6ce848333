#!/usr/bin/env bash
# Client receive rate and CPU per Mbit/s, groupcast side by side with librist's ristreceiver, in
# one run; then the highest rate one client takes without loss. Everything stays on loopback
# (multicast pinned to 127.0.0.1 with TTL 1); every process is bounded in time.
#
#   bash bench/client.sh        (needs ffmpeg and rist-tools: apt-get install ffmpeg rist-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
RATE_MBPS=${RATE_MBPS:-1100}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release -q -p groupcast

# The client asks for an 8 MB receive buffer; Linux caps it at net.core.rmem_max (208 KB by
# default, 1.5 ms at 100,000 packets/s). Raise the cap for this run, as a receiver host would.
old_rmem=$(sysctl -n net.core.rmem_max)
sysctl -qw net.core.rmem_max=16777216 || echo "could not raise net.core.rmem_max (not root?)" >&2
trap 'kill $(jobs -p) 2>/dev/null || true; sysctl -qw net.core.rmem_max=$old_rmem 2>/dev/null; rm -rf "$work"' EXIT
gc=$PWD/target/release/groupcast

# The sample re-muxed to a constant 20 Mbit/s, and its first 2 s at RATE_MBPS (null-padded).
ffmpeg -hide_banner -loglevel error -y -i assets/sample.ts -c copy -muxrate 20000k -f mpegts "$work/20m.ts"
ffmpeg -hide_banner -loglevel error -y -i assets/sample.ts -t 2 -c copy -muxrate "${RATE_MBPS}000k" -f mpegts "$work/fast.ts"
# Most of those packets are null padding, which carries nothing to decrypt. So that the
# encrypted rows decrypt the whole rate, turn every null packet into a packet of a private PES
# stream on PID 0x1ff0 (not in the PMT: players skip it; a PES start every 64 packets), in both
# files, for the clear rows too.
fill() {
  python3 - "$1" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = 0
for at in range(0, len(data) - 187, 188):
    p = data[at:at + 188]
    if p[0] != 0x47 or ((p[1] & 0x1f) << 8 | p[2]) != 0x1fff:
        continue
    start = n % 64 == 0
    p[1] = (0x40 if start else 0) | 0x1f
    p[2] = 0xf0
    p[3] = 0x10 | (n % 16)
    p[4:] = bytes(range(184)) if not start else b"\x00\x00\x01\xbd\x00\x00" + bytes(178)
    data[at:at + 188] = p
    n += 1
open(path, "wb").write(data)
PY
}
fill "$work/20m.ts"
fill "$work/fast.ts"

# CPU seconds of a process, all its threads, from the scheduler's own clock (schedstat, in ns).
# Not /proc/PID/stat's utime + stime: those are sampled at the timer tick, and a process that
# wakes on a timer (as the client does when it coalesces its reads) runs at the tick more often
# than its share, so the tick count overstates it.
cpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.3f", s / 1e9 }'; }
# Runs "$@" in the background; prints the CPU seconds it used from second 2 to second SECS;
# stops it with SIGINT (it writes its statistics) and waits.
measure() {
  "$@" >/dev/null 2>"$work/measured.log" & local pid=$!
  sleep 2; local a; a=$(cpu "$pid")
  sleep $((SECS - 2)); local b; b=$(cpu "$pid")
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$a $b" | awk '{ printf "%.3f", $2 - $1 }'
}

# A manager with one channel per stream and a viewer.
admin=bench-admin-token-0123456789abcdef
# Encrypted channels (issue 13, finding 8): the manager hands every session its channel's media
# keys; the sources of c20e and faste scramble with the same secret.
secret=bench-media-secret-0123456789abcdef
GROUPCAST_MEDIA_SECRET=$secret GROUPCAST_ADMIN_TOKEN=$admin timeout $((SECS * 4 + 60)) $gc manager --listen 127.0.0.1:48080 \
  --db "sqlite://$work/m.db?mode=rwc" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf http://127.0.0.1:48080/api/v1/health >/dev/null && break; sleep 0.1; done
api() { curl -sf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  "http://127.0.0.1:48080/api/v1/$1" -d "$2"; }
api channels '{"name":"c20","group":"239.255.51.1:5004"}' >/dev/null
api channels '{"name":"fast","group":"239.255.51.2:5004","buffer_ms":500}' >/dev/null
api channels '{"name":"c20e","group":"239.255.51.4:5004"}' >/dev/null
api channels '{"name":"faste","group":"239.255.51.5:5004","buffer_ms":500}' >/dev/null
token=$(api users '{"name":"bench","role":"viewer","channels":["c20","fast","c20e","faste"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
client() { # exec: the measured PID is the client itself
  GROUPCAST_TOKEN=$token exec $gc client --manager http://127.0.0.1:48080 --channel "$1" --metro m \
    --iface 127.0.0.1 --output file:/dev/null --quiet --duration $((SECS + 5)) --stats-json "$2"
}

row() { printf '| %-46s | %9s | %11s | %8s | %12s | %9s |\n' "$@"; }
row "receiver" "Mbit/s" "packets/s" "CPU %" "CPU %/Mbit/s" "lost"
row "---" "---" "---" "---" "---" "---"
report() { # name cpu-seconds stats.json
  python3 - "$@" "$SECS" <<'PY'
import json, sys
name, c, path, secs = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
d = json.load(open(path))
pps = d["received"] / d["seconds"]; mbps = pps * 1328 * 8 / 1e6
cpu = c / (secs - 2) * 100
print(f"| {name:46} | {mbps:9.2f} | {pps:11.0f} | {cpu:8.2f} | {cpu / mbps:12.4f} | {d['lost']:9} |")
if d.get("media_decrypted") or d.get("media_no_key"):
    print(f"|   (TS packets decrypted {d['media_decrypted']}, left scrambled {d['media_no_key']})")
PY
}
encrypted() { echo --media-secret "$secret" --channel "$1"; }

# 1. groupcast client on the 20 Mbit/s multicast.
$gc source --input "$work/20m.ts" --loop --group 239.255.51.1:5004 --iface 127.0.0.1 --duration $((SECS + 6)) 2>/dev/null &
c=$(measure client c20 "$work/c20.json")
report "groupcast client, 20 Mbit/s multicast" "$c" "$work/c20.json"
sleep 1

# 1b. The same, encrypted.
$gc source --input "$work/20m.ts" --loop --group 239.255.51.4:5004 --iface 127.0.0.1 --duration $((SECS + 6)) \
  $(encrypted c20e) 2>/dev/null &
c=$(measure client c20e "$work/c20e.json")
report "groupcast client, 20 Mbit/s, encrypted" "$c" "$work/c20e.json"
sleep 1

# 2. ristreceiver on the same stream relayed by ristsender (simple profile) over loopback.
$gc source --input "$work/20m.ts" --loop --group 239.255.51.3:5000 --iface 127.0.0.1 --duration $((SECS + 6)) 2>/dev/null &
timeout $((SECS + 6)) ristsender -p 0 -i "rtp://@239.255.51.3:5000?miface=lo" -o "rist://127.0.0.1:48200" -S 0 -v 3 >/dev/null 2>&1 &
c=$(measure ristreceiver -p 0 -i "rist://@127.0.0.1:48200" -o "udp://127.0.0.1:48300" -S 0 -v 3)
python3 - "$c" "$SECS" <<'PY'
import sys
c, secs = float(sys.argv[1]), int(sys.argv[2])
cpu = c / (secs - 2) * 100; mbps = 20.0
print(f"| {'ristreceiver -p 0, same stream over RIST':46} | {mbps:9.2f} | {20e6/8/1328:11.0f} | {cpu:8.2f} | {cpu/mbps:12.4f} | {'n/a':>9} |")
PY
# Part 3 measures one client at full rate: nothing else of ours may still be running.
pkill -f "ristsender -p 0 -i rtp://@239.255.51.3" 2>/dev/null || true
pkill -f "groupcast source --input $work/20m.ts" 2>/dev/null || true
sleep 1

# 3. groupcast client at RATE_MBPS: the most one client takes.
$gc source --input "$work/fast.ts" --loop --group 239.255.51.2:5004 --iface 127.0.0.1 --duration $((SECS + 6)) \
  --stats-json "$work/fast-source.json" 2>/dev/null &
c=$(measure client fast "$work/fast.json")
report "groupcast client, ${RATE_MBPS} Mbit/s multicast" "$c" "$work/fast.json"
pkill -f "groupcast source --input $work/fast.ts" 2>/dev/null || true
sleep 1

# 3b. The same, encrypted (the source scrambles too; both on this machine's two cores).
$gc source --input "$work/fast.ts" --loop --group 239.255.51.5:5004 --iface 127.0.0.1 --duration $((SECS + 6)) \
  --stats-json "$work/faste-source.json" $(encrypted faste) 2>/dev/null &
c=$(measure client faste "$work/faste.json")
report "groupcast client, ${RATE_MBPS} Mbit/s, encrypted" "$c" "$work/faste.json"
