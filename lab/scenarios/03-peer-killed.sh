#!/usr/bin/env bash
# A peer host killed: 10 clients over 3 metros with 5 % loss each; one client is killed with
# SIGKILL mid-stream (no goodbye). The manager times the dead session out and shrinks its
# group; a new viewer arrives and refills it. The victim's former group mates keep 0
# unrecovered and exact outputs throughout, end in a full group again, and the newcomer's
# losses are repaired too.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_std 3 11
lab_std_finish_setup
first=$(lab_client_names | head -10)
for h in $(lab_client_names); do lab_loss_client "$h" 5; done
for h in $first; do lab_client "$h" 90; done
sleep 3
lab_source source 90 --loop
sleep 4
victim=c02
vgroup=$(lab_stat "$victim" group)
mates=()
for h in $first; do
  [ "$h" != "$victim" ] && [ "$(lab_stat "$h" group)" = "$vgroup" ] && mates+=("$h")
done
lab_log "killing $victim (session $(lab_stat "$victim" session), group $vgroup with ${mates[*]})"
lab_check "the victim had group mates" test "${#mates[@]}" -ge 2
n=${#mates[@]}
kill -KILL "$(lab_child_pid "client-$victim")"
lab_wait "client-$victim" || true
peers_are() { # N: every mate sees N peers
  local h
  for h in "${mates[@]}"; do [ "$(lab_stat "$h" peers)" = "$1" ] || return 1; done
}
lab_check "the manager drops the dead peer from the group (mates see $((n - 1)) peers)" \
  lab_wait_until 40 "dead peer dropped" peers_are $((n - 1))
lab_client c11 60 # the newcomer
lab_check "the group is refilled (mates see $n peers again)" lab_wait_until 20 "group refilled" peers_are "$n"
sleep 6 # loss keeps being repaired in the refilled group
lab_snapshot end "${mates[@]}" c11
lab_stop source
sleep 1
survivors=$(for h in $first c11; do [ "$h" = "$victim" ] || echo "$h"; done)
for h in $survivors; do lab_stop "client-$h"; done

lab_check_clients "--loop --max-segments 1 --min-bytes 1000000" "${mates[@]}"
lab_check_clients "--loop --max-segments 1 --min-bytes 300000" c11
others=$(for h in $survivors; do [[ " ${mates[*]} c11 " == *" $h "* ]] || echo "$h"; done)
lab_check_clients "--loop --max-segments 1 --min-bytes 1000000" $others
lab_check "the newcomer is in the victim's group" test "$(lab_json "$LAB_WORK/c11.end.json" group)" = "$vgroup"
lab_check "the newcomer's losses were repaired ($(lab_stat c11 repaired) of $(lab_stat c11 lost))" \
  test "$(lab_stat c11 repaired)" -gt 0
lab_result "victim $victim (group $vgroup); mates ${mates[*]}; survivors unrecovered $(lab_sum_stat unrecovered $survivors), repaired $(lab_sum_stat repaired $survivors); newcomer repaired $(lab_stat c11 repaired)"
lab_finish
