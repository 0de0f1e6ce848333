#!/usr/bin/env bash
# groupcast vs librist, side by side in the network lab (lab/lib.sh): one run per audience size
# N, both systems at once on the same looped sample, the same 3 metros and the same nftables
# loss, which hits both systems alike. By default (LOSS_ON=all, issue 12) real links' loss:
# LOSS % of all UDP both ways on every client's port (media, requests, repairs, NACKs, pings)
# and TRUNK % of all UDP both ways on every metro trunk. LOSS_ON=media is the older model: LOSS %
# of the multicast media towards every client, nothing else. Prints a Markdown table.
#
#   bash bench/lab.sh                 (N = 6 12 24; as root; needs nftables, iproute2, rist-tools)
#   NS="6 12" SECS=25 LOSS=5 TRUNK=3 LOSS_ON=all bash bench/lab.sh
#
# groupcast: `groupcast source` (the file paced by its PCR, looped) to 239.255.0.1; clients
#   with --buffer-ms 300 repair from their group of 5 (cross-metro) via the lab's manager; with
#   LOSS_ON=all, the source's relay is their last resort (as lab scenario 13 runs it).
# librist 0.2.7: a second `groupcast source` on the RIST sender host's loopback feeds the same
#   file to `ristsender -p 0` (simple profile), which sends RIST to the multicast group
#   239.255.10.1 with buffer=300; each client host runs `ristreceiver -p 0` (buffer=300) into
#   a capture on its loopback.
# Figures: residual loss = TS packets missing (holes) in the player output / TS packets the
#   output should hold (byte comparison with the sample, lab/tools/tscheck.py); source egress
#   = IPv4 bytes the source host sent (nftables counter on its bridge port) / (stream packets x
#   1,356 bytes: IP + UDP + RTP + 7 x 188); CPU per client = user + system time of the client
#   process / wall time (one core = 100 %); repair latency and duplicates from each system's own
#   statistics; added latency = the receive buffer both run with.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-6 12 24}
SECS=${SECS:-25}
LOSS=${LOSS:-5}
BUF=${BUF:-300}
LOSS_ON=${LOSS_ON:-all}
TRUNK=${TRUNK:-3}
case $LOSS_ON in all | media) ;; *) echo "LOSS_ON is all or media" >&2; exit 2 ;; esac
for t in ristsender ristreceiver nft ip; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install rist-tools nftables iproute2" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/lab.sh needs root (network namespaces)" >&2; exit 1; }
if [ -z "${GC_BIN:-}" ]; then
  cargo build --release -q -p groupcast
  export GC_BIN=$PWD/target/release/groupcast
fi
RIST_GROUP=239.255.10.1:6000
FEED_GROUP=239.255.99.1:5000

one_run() { # N: prints one JSON line per system on stdout
  local n=$1
  export LAB_BUFFER_MS=$BUF LAB_MAX_SECS=$((SECS + 40))
  # shellcheck source=../lab/lib.sh
  source lab/lib.sh
  [ "$LOSS_ON" != all ] || lab_last_resort
  lab_std 3 "$n"
  lab_add_host rsrc br-core 198.18.0.3
  lab_std_finish_setup
  lab_exec rsrc ip link set lo multicast on
  lab_exec rsrc ip route add "${FEED_GROUP%:*}/32" dev lo
  lab_count_host src
  lab_count_host rsrc
  local h hz
  hz=$(getconf CLK_TCK)
  if [ "$LOSS_ON" = all ]; then
    for h in 1 2 3; do lab_loss_trunk_all "$h" "$TRUNK"; done
  fi
  for h in $(lab_client_names); do
    if [ "$LOSS_ON" = all ]; then lab_loss_host_all "$h" "$LOSS"; else lab_loss_client "$h" "$LOSS"; fi
    lab_client "$h" $((SECS + 20))
    lab_bg "$h" "rcap-$h" $((SECS + 25)) python3 lab/tools/rtprecv.py --raw --group 127.0.0.1:5100 \
      --iface 127.0.0.1 --duration $((SECS + 20)) --json "$LAB_WORK/rcap-$h.json" --out "$LAB_WORK/rist-$h.ts"
    lab_bg "$h" "rist-$h" $((SECS + 25)) ristreceiver -p 0 \
      -i "rist://@${RIST_GROUP}?miface=eth0&buffer=$BUF" -o "udp://127.0.0.1:5100" -S 1000 -v 6
  done
  lab_bg rsrc ristsender $((SECS + 25)) ristsender -p 0 -i "rtp://@${FEED_GROUP}?miface=lo" \
    -o "rist://${RIST_GROUP}?miface=eth0&buffer=$BUF" -S 1000 -v 6
  sleep 3
  # Both sources start together on the same file.
  lab_bg rsrc feed $((SECS + 5)) "$GC_BIN" source --input "$LAB_SAMPLE" --loop --group "$FEED_GROUP" \
    --iface 127.0.0.1 --duration "$SECS" --stats-json "$LAB_WORK/feed.json"
  lab_source source "$SECS" --loop "${LAB_RELAY_SOURCE[@]}"
  local t0 cpu0=() cpu1=()
  sleep 2
  declare -A c0=() c1=()
  for h in $(lab_client_names); do
    c0[gc-$h]=$(awk '{print $14 + $15}' "/proc/$(lab_child_pid "client-$h")/stat")
    c0[rist-$h]=$(awk '{print $14 + $15}' "/proc/$(lab_child_pid "rist-$h")/stat")
  done
  t0=$(date +%s.%N)
  sleep $((SECS - 4))
  for h in $(lab_client_names); do
    c1[gc-$h]=$(awk '{print $14 + $15}' "/proc/$(lab_child_pid "client-$h")/stat")
    c1[rist-$h]=$(awk '{print $14 + $15}' "/proc/$(lab_child_pid "rist-$h")/stat")
  done
  local wall
  wall=$(python3 -c "import time; print(time.time() - $t0)")
  lab_wait source || true
  lab_wait feed || true
  sleep 3 # the last repairs and buffers
  for h in $(lab_client_names); do lab_stop "client-$h"; lab_stop "rist-$h"; done
  lab_stop ristsender
  for h in $(lab_client_names); do lab_wait "rcap-$h" || true; done
  local gc_egress rist_egress
  gc_egress=$(lab_count_bytes src)
  rist_egress=$(lab_count_bytes rsrc)
  for h in $(lab_client_names); do
    echo "$h $(python3 lab/tools/tscheck.py --loop "$LAB_WORK/out-$h.ts" "$LAB_SAMPLE" || true)" >>"$LAB_WORK/gc-check.txt"
    echo "$h $(python3 lab/tools/tscheck.py --loop "$LAB_WORK/rist-$h.ts" "$LAB_SAMPLE" || true)" >>"$LAB_WORK/rist-check.txt"
    echo "$h $(python3 -c "print((${c1[gc-$h]} - ${c0[gc-$h]}) / $hz / $wall * 100)") $(python3 -c "print((${c1[rist-$h]} - ${c0[rist-$h]}) / $hz / $wall * 100)")" >>"$LAB_WORK/cpu.txt"
  done
  python3 - "$LAB_WORK" "$n" "$gc_egress" "$rist_egress" "$BUF" <<'PY'
import json, sys, os, re, glob
work, n, gce, re_, buf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def checks(name):
    out = {}
    for line in open(os.path.join(work, name)):
        h, js = line.split(" ", 1)
        try:
            out[h] = json.loads(js)
        except ValueError:
            out[h] = {"output_ts_packets": 0, "missing_ts_packets": 0, "null_filler_ts_packets": 0}
    return out
def residual(ch):
    miss = sum(c.get("missing_ts_packets", 0) + c.get("null_filler_ts_packets", 0) + c.get("unmatched_ts_packets", 0) for c in ch.values())
    tot = sum(c.get("output_ts_packets", 0) + c.get("missing_ts_packets", 0) for c in ch.values())
    return miss / tot if tot else 1.0, sum(1 for c in ch.values() if c.get("output_ts_packets", 0) == 0)
cpu = {}
for line in open(os.path.join(work, "cpu.txt")):
    h, g, r = line.split()
    cpu[h] = (float(g), float(r))
src = json.load(open(os.path.join(work, "source.json")))
feed = json.load(open(os.path.join(work, "feed.json")))
PKT = 1356
gstats = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(work, "c[0-9][0-9].json")))]
rep = sum(s.get("repaired", 0) for s in gstats)
dup = sum(s.get("duplicates", 0) for s in gstats)
p50 = sorted(s.get("repair_p50_us", 0) for s in gstats)[len(gstats) // 2] / 1000
p99 = max(s.get("repair_p99_us", 0) for s in gstats) / 1000
lost = sum(s.get("lost", 0) for s in gstats)
res, empty = residual(checks("gc-check.txt"))
print(json.dumps(dict(system="groupcast", n=n, residual=res, empty_outputs=empty, lost=lost, repaired=rep,
    egress=gce / (src["packets"] * PKT), p50_ms=p50, p99_ms=p99, dup_per_repair=dup / rep if rep else 0,
    cpu=sum(c[0] for c in cpu.values()) / len(cpu), buffer_ms=buf)))
# librist: its receivers' per-interval ("flowinstant") stats lines, summed per client.
rl = rr = rd = 0
rtts = []
for f in glob.glob(os.path.join(work, "rist-c*.log")):
    for line in open(f, errors="replace"):
        i = line.find('{"receiver-stats"')
        if i < 0:
            continue
        try:
            fl = json.loads(line[i:])["receiver-stats"]["flowinstant"]
        except (ValueError, KeyError):
            continue
        st = fl["stats"]
        rl += st.get("lost", 0); rr += st.get("recovered_total", 0); rd += st.get("duplicates", 0)
        rtts += [p["stats"].get("avg_rtt", 0) for p in fl.get("peers", []) if p["stats"].get("avg_rtt")]
res, empty = residual(checks("rist-check.txt"))
print(json.dumps(dict(system="librist", n=n, residual=res, empty_outputs=empty, lost=rl, repaired=rr,
    egress=re_ / (feed["packets"] * PKT), p50_ms=None, p99_ms=None, rtt_ms=(sorted(rtts)[len(rtts) // 2] if rtts else None),
    dup_per_repair=rd / rr if rr else None, cpu=sum(c[1] for c in cpu.values()) / len(cpu), buffer_ms=buf)))
PY
  lab_down
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for n in $NS; do
  echo "N = $n ..." >&2
  (one_run "$n") >>"$results" 2> >(grep -E 'FATAL|gave up' >&2 || true)
done
python3 - "$results" "$LOSS" "$SECS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
f = lambda v, fmt: "n/a" if v is None else fmt.format(v)
print(f"| N | system | residual loss | source egress ÷ stream | repair p50 / p99 ms | duplicates per repair | CPU per client (% of a core) | added latency |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    lat = f"{f(r['p50_ms'], '{:.1f}')} / {f(r['p99_ms'], '{:.1f}')}"
    if r["system"] == "librist" and r.get("rtt_ms") is not None:
        lat = f"n/a (median RTT {r['rtt_ms']:.1f})"
    print(f"| {r['n']} | {r['system']} | {r['residual'] * 100:.3f} % | {r['egress']:.3f}x | {lat} | "
          f"{f(r['dup_per_repair'], '{:.2f}')} | {r['cpu']:.2f} | {r['buffer_ms']} ms buffer |")
PY
