#!/usr/bin/env bash
# Garbage, truncated and forged datagrams: an attacker on the core and one inside metro m1 send
# random bytes, truncated and malformed RTP to the multicast group, and random bytes, truncated
# envelopes and well-formed protocol messages with forged tags (naming real sessions, channel
# and epoch) to every client's peer socket, while 5 clients with 5 % loss play. Nothing
# crashes, outputs stay exact with 0 unrecovered, not one datagram goes back to an attacker,
# and the clients' counters show the junk.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
lab_std 3 5
lab_add_host x0 br-core 198.18.0.66
lab_add_host x1 br-m1 198.18.1.66
lab_std_finish_setup
clients=$(lab_client_names)
for h in $clients; do
  lab_loss_client "$h" 5
  lab_client "$h" 40
  lab_count "to-x-$h" iifname "p-$h" ip daddr '{ 198.18.0.66, 198.18.1.66 }'
done
sleep 3
lab_source source 12
sleep 3
peers=()
for h in $clients; do peers+=(--peer "${LAB_IP[$h]}:7000,$(lab_stat "$h" session),$(lab_stat "$h" epoch)"); done
for x in x0 x1; do
  lab_bg "$x" "garbage-$x" 12 python3 "$LAB_DIR_ROOT/tools/garbage.py" --group "$LAB_GROUP" \
    --iface "${LAB_IP[$x]}" --rounds 600 --seconds 6 --mc-kinds "${GARBAGE_MC_KINDS:-0,1,2,3,4,5,6,7}" "${peers[@]}"
done
for x in x0 x1; do lab_wait "garbage-$x" || lab_die "garbage sender failed: $(cat "$LAB_WORK/garbage-$x.log")"; done
lab_wait source || lab_die "source failed"
sleep 2
alive=0
for h in $clients; do lab_running "client-$h" && alive=$((alive + 1)); done
lab_check "every client survived ($alive of 5 still running)" test "$alive" = 5
for h in $clients; do lab_stop "client-$h"; done
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
answered=0
for h in $clients; do answered=$((answered + $(lab_nft_packets "to-x-$h"))); done
lab_check "nothing was answered to the attackers ($answered datagrams)" test "$answered" = 0
sent_mc=$(python3 -c "import json; print(sum(json.load(open('$LAB_WORK/garbage-x'+x+'.log'))['multicast'] for x in '01'))")
sent_peer=$(python3 -c "import json; print(sum(json.load(open('$LAB_WORK/garbage-x'+x+'.log'))['peer'] for x in '01'))")
for h in $clients; do
  bad=$(lab_stat "$h" bad_datagrams)
  lab_check "$h: counted the junk (bad_datagrams $bad, unauthenticated $(lab_stat "$h" unauthenticated))" \
    test "$bad" -ge $((sent_peer / 5 / 2))
done
lab_result "sent $sent_mc junk multicast + $sent_peer junk peer datagrams; answered $answered; bad_datagrams $(lab_sum_stat bad_datagrams $clients); unrecovered $(lab_sum_stat unrecovered $clients)"
lab_finish
