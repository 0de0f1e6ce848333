# Sourced by bench/last_resort.sh and bench/rota.sh: issue 12's operator model in the
# simulator. Builds the release binary, makes a scratch directory ($work), and defines
# operator_model N TOTAL JSON [SIM ARGS...]: N viewers over 3 metros, 1,000 packets/s, 200 ms
# buffer, 5 % loss on all UDP per viewer and 3 % per metro trunk, a 2 s multicast cut of one
# metro every 300 s (metros in turn), seed 1, for TOTAL client-packets; the report goes to
# JSON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p groupcast
gc=target/release/groupcast
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

operator_model() {
  local n=$1 total=$2 json=$3
  shift 3
  local secs=$(((total + n * 1000 - 1) / (n * 1000)))
  local cuts=() k
  for ((k = 0; k * 300 + 12 <= secs; k++)); do
    cuts+=(--outage "$((k % 3)):$((k * 300 + 10)):$((k * 300 + 12))")
  done
  "$gc" sim --clients "$n" --metros 3 --seconds "$secs" --pps 1000 --buffer-ms 200 \
    --loss 5 --metro-loss 3 --loss-on-all-links --seed 1 "${cuts[@]}" "$@" \
    --json "$json" >/dev/null
}
