#!/usr/bin/env bash
# A dual-stack channel (issue 15): an IPv4 group and an IPv6 group, both source-specific; the
# source sends the very same datagrams to both. Every host has both families (LAB_IPV6); the
# manager listens on both. Half the viewers run IPv4 (manager, peers, media), half IPv6; each
# is handed its family's group and source, and IPv4 and IPv6 viewers are grouped apart (they
# could not reach each other). Each loses 3 % of its multicast and repairs it from its group;
# the source (IPv4, reachable from every dual-stack host) is the last resort for a datagram a
# whole group lost: with 6 viewers a family, groups of 3, each run has about a one-in-ten
# chance of one.
# Checks: byte-exact outputs and 0 unrecovered in both families; every repair group is of one
# family; each family's viewers joined their own group only.
set -euo pipefail
LAB_IPV6=1
source "$(dirname "$0")/../lib.sh"
GROUP6='[ff3e::4242]:5004'
LAB_MGR_LISTEN="[::]:$LAB_MGR_PORT" # both families (a dual-stack socket)
LAB_UNICAST_SECRET=lab-unicast-secret-$$-0123456789abcdef
RELAY=198.18.0.1:7100
lab_std 3 12
LAB_CHANNEL_ARGS=(--source 198.18.0.1 --group6 "$GROUP6" --source6 "${LAB_IP6[src]}" --relay "$RELAY")
lab_std_finish_setup
v4="" v6=""
for h in $(lab_client_names); do
  n=${h#c}
  if ((10#$n % 2)); then v4+=" $h"; else v6+=" $h"; fi
done
for h in $v4; do
  LAB_MEDIA_MATCH="ip daddr 239.0.0.0/8 ip protocol udp" lab_loss_client "$h" 3
  LAB_V4=1 lab_client "$h" 30
  lab_count "v4-$h" oifname "p-$h" ip daddr 239.0.0.0/8 udp dport 5004
  lab_count "v6-$h" oifname "p-$h" ip6 daddr ff3e::/16 udp dport 5004
done
for h in $v6; do
  LAB_MEDIA_MATCH="ip6 daddr ff3e::/16 meta l4proto udp" lab_loss_client "$h" 3
  lab_client "$h" 30
  lab_count "v4-$h" oifname "p-$h" ip daddr 239.0.0.0/8 udp dport 5004
  lab_count "v6-$h" oifname "p-$h" ip6 daddr ff3e::/16 udp dport 5004
done
sleep 2
LAB_V4=1 lab_source source 12 --group6 "$GROUP6" --iface6 eth0 --unicast-listen "$RELAY" \
  --unicast-secret "$LAB_UNICAST_SECRET" --channel "$LAB_CHANNEL"
lab_wait source || lab_die "source failed"
sleep 2
lab_exec mgr "$LAB_GC" admin --manager "http://${LAB_IP[mgr]}:$LAB_MGR_PORT" --token "$LAB_ADMIN_TOKEN" \
  --json sessions >"$LAB_WORK/sessions.json"
for h in $v4 $v6; do lab_stop "client-$h"; done
# shellcheck disable=SC2086
lab_check_clients "--max-segments 1 --min-bytes 1000000" $v4 $v6
for h in $v4 $v6; do
  lab_check "$h: repaired ($(lab_stat "$h" repaired) of $(lab_stat "$h" lost))" test "$(lab_stat "$h" repaired)" -gt 0
done
families=$(python3 - "$LAB_WORK/sessions.json" <<'PY'
import json, sys
groups = {}
for s in json.load(open(sys.argv[1])):
    groups.setdefault(s["group"], set()).add("v6" if s["peer_addr"].startswith("[") else "v4")
print(" ".join(f"{g}:{'+'.join(sorted(f))}" for g, f in sorted(groups.items())))
PY
)
lab_check "every repair group is of one family ($families)" test -n "$families" -a "$(grep -c + <<<"${families// /$'\n'}")" = 0
lab_check "both families have groups" grep -q v4 <<<"$families"
lab_check "(IPv6 too)" grep -q v6 <<<"$families"
wrong=0
for h in $v4; do wrong=$((wrong + $(lab_nft_packets "v6-$h"))); done
for h in $v6; do wrong=$((wrong + $(lab_nft_packets "v4-$h"))); done
right=0
for h in $v4; do right=$((right + $(lab_nft_packets "v4-$h"))); done
for h in $v6; do right=$((right + $(lab_nft_packets "v6-$h"))); done
lab_check "each viewer got its own family's group ($right datagrams) and not the other's ($wrong)" \
  test "$right" -gt 10000 -a "$wrong" = 0
lab_result "dual-stack: groups $families; unrecovered v4 $(lab_sum_stat unrecovered $v4), v6 $(lab_sum_stat unrecovered $v6); repaired v4 $(lab_sum_stat repaired $v4), v6 $(lab_sum_stat repaired $v6) (from the last resort $(lab_sum_stat last_resort_repaired $v4 $v6))"
lab_finish
