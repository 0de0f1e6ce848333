#!/usr/bin/env bash
# Issue 12, item 6: the simulator against the lab on the same model. Runs lab scenario 13
# (RUNS times: 10 Mbit/s, about 950 datagrams/s, a 200 ms buffer, N viewers over 3 metros in
# groups of 5, 5 % loss on all UDP both ways per viewer and 3 % per trunk, a 2 s multicast cut
# of m1, the source's relay as the last resort) and `groupcast sim` on the same model (SEEDS
# seeds of the lab's 16 s, the cut 7 s in, 1 ms one way between hosts as on the lab's
# bridges), and prints the figures both produce side by side as Markdown.
#
#   bash bench/crosscheck.sh            (as root; N=12 RUNS=2 SEEDS=20 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-12}
RUNS=${RUNS:-2}
SEEDS=${SEEDS:-20}
[ "$(id -u)" = 0 ] || { echo "bench/crosscheck.sh needs root (the lab's namespaces)" >&2; exit 1; }
cargo build --release -q -p groupcast --locked
gc=$PWD/target/release/groupcast
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for ((r = 1; r <= RUNS; r++)); do
  mkdir -p "$work/lab$r"
  LAB_WORK=$work/lab$r LAB_KEEP=1 HD_VIEWERS=$N GC_BIN=$gc LAB_GC_RELEASE=$gc \
    bash lab/scenarios/13-hd-all-links.sh >"$work/lab$r.log" 2>&1 || echo "lab run $r failed its checks (figures kept)" >&2
done
for ((s = 1; s <= SEEDS; s++)); do
  "$gc" sim --clients "$N" --metros 3 --seconds 16 --pps 950 --buffer-ms 200 --loss 5 \
    --metro-loss 3 --loss-on-all-links --last-resort --peer-delay-ms 1 --relay-delay-ms 1 \
    --outage 0:7:9 --seed "$s" --json "$work/sim$s.json" >/dev/null
done

python3 - "$work" "$N" "$RUNS" "$SEEDS" <<'PY'
import glob, json, os, re, statistics, sys
work, n, runs, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = []
for r in range(1, runs + 1):
    d = os.path.join(work, f"lab{r}")
    cs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "c[0-9][0-9].json")))]
    t = lambda k: sum(c.get(k, 0) for c in cs)
    due = t("received") + t("lost")
    log = open(os.path.join(work, f"lab{r}.log"), errors="replace").read()
    m = re.search(r"source egress ([0-9.]+)x", log)
    relay = json.load(open(os.path.join(d, "source.json")))["unicast"]
    rows.append(dict(
        net=t("lost") / due, residual=t("unrecovered") / due, lr=t("last_resort_repaired") / due,
        dup=t("duplicate_repairs") / max(1, t("repaired")), req=t("requests_sent") / due,
        p50=statistics.median(c["repair_p50_us"] for c in cs) / 1000,
        p99=max(c["repair_p99_us"] for c in cs) / 1000,
        resent=relay["multicast_resent"] / due * n,
        egress=float(m.group(1)) if m else None, packets=due))
sims = []
for s in range(1, seeds + 1):
    j = json.load(open(os.path.join(work, f"sim{s}.json")))
    due = j["packets"] * j["clients"]
    sims.append(dict(net=j["network_loss"], residual=j["residual_loss"],
        lr=j["last_resort_repaired"] / due, dup=j["duplicates_per_repair"],
        req=j["requests_per_packet"], p50=j["latency_p50_ms"], p99=j["latency_p99_ms"],
        resent=(j["relay_resent"] or 0) / due * j["clients"],
        egress=j["source_egress"], packets=due))
def span(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    lo, hi = min(xs), max(xs)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} – {fmt.format(hi)}"
figs = [("network loss (lost / due)", "net", "{:.2%}"), ("residual (unrecovered / due)", "residual", "{:.1e}"),
        ("filled by the last resort (/ due)", "lr", "{:.1e}"), ("duplicates per repair", "dup", "{:.2f}"),
        ("requests per packet", "req", "{:.3f}"), ("repair p50 ms (median viewer)", "p50", "{:.1f}"),
        ("repair p99 ms (worst viewer / all)", "p99", "{:.1f}"),
        ("relay's multicast resends (/ stream packet)", "resent", "{:.1e}"), ("source egress", "egress", "{:.4f}x")]
print(f"| figure | lab ({runs} runs, {sum(r['packets'] for r in rows):,} client-packets) | simulator ({seeds} seeds, {sum(s['packets'] for s in sims):,} client-packets) |")
print("|---|---|---|")
for label, k, fmt in figs:
    print(f"| {label} | {span([r[k] for r in rows], fmt)} | {span([s[k] for s in sims], fmt)} |")
PY
