#!/usr/bin/env bash
# Encrypted channel (issue 13, finding 8): the source scrambles the channel's PES payloads with
# keys from a secret it shares with the manager, which hands them to the viewers' sessions.
# 10 clients over 3 metros, each losing 5 % of its multicast, repair each other with the
# ciphertext and play the sample byte for byte. A host that joins the group without a session
# (a tap in metro m3) gets scrambled media only: no packet of the sample's video or audio.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
LAB_MEDIA_SECRET=lab-media-secret-$$-0123456789abcdef
lab_std 3 10
lab_add_host tap br-m3 198.18.3.200
lab_std_finish_setup

clients=$(lab_client_names)
for h in $clients; do
  lab_client "$h" 30
  lab_loss_client "$h" 5
done
lab_bg tap rx-tap 30 python3 "$LAB_DIR_ROOT/tools/rtprecv.py" --group "$LAB_GROUP" \
  --iface "${LAB_IP[tap]}" --duration 25 --idle-exit 4 --json "$LAB_WORK/rx-tap.json" \
  --out "$LAB_WORK/tap.ts"
sleep 3
lab_source source 12 --media-secret "$LAB_MEDIA_SECRET" --channel "$LAB_CHANNEL"
lab_wait source || lab_die "source failed"
sleep 2
for h in $clients; do lab_stop "client-$h"; done
lab_wait rx-tap || true

sent=$(lab_json "$LAB_WORK/source.json" packets)
scrambled=$(lab_json "$LAB_WORK/source.json" scrambled_ts_packets)
lab_check "the source scrambled the media ($scrambled TS packets)" test "$scrambled" -gt 10000
lab_check_clients "--max-segments 1 --min-bytes 1000000" $clients
decrypted=$(lab_sum_stat media_decrypted $clients)
no_key=$(lab_sum_stat media_no_key $clients)
lab_check "clients decrypted what they played ($decrypted TS packets), none without a key ($no_key)" \
  test "$decrypted" -gt 100000 -a "$no_key" = 0
lost=$(lab_sum_stat lost $clients)
repaired=$(lab_sum_stat repaired $clients)
lab_check "losses were repaired with ciphertext (lost $lost, repaired $repaired)" test "$lost" -gt 500 -a "$repaired" = "$lost"
# The tap: scrambled packets, none of which is a packet of the sample even with its scrambling
# bits cleared; the program tables, in the clear, are the sample's.
tap=$(python3 - "$LAB_WORK/tap.ts" "$LAB_SAMPLE" <<'PY'
import sys
tap, sample = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
plain = {sample[i:i + 188] for i in range(0, len(sample) - 187, 188)}
scrambled = leaked = clear_known = 0
for i in range(0, len(tap) - 187, 188):
    p = tap[i:i + 188]
    if p[3] & 0x80:
        scrambled += 1
        leaked += (p[:3] + bytes([p[3] & 0x3f]) + p[4:]) in plain
    else:
        clear_known += p in plain
print(scrambled, leaked, clear_known)
PY
)
read -r tap_scrambled tap_leaked tap_clear <<<"$tap"
lab_check "the tap got scrambled media ($tap_scrambled packets), none of it the sample's ($tap_leaked)" \
  test "$tap_scrambled" -gt 10000 -a "$tap_leaked" = 0
lab_check "the tap got the program tables in the clear ($tap_clear packets)" test "$tap_clear" -gt 10
lab_result "sent $sent; scrambled $scrambled TS packets; 10 clients lost $lost, repaired $repaired, decrypted $decrypted; tap: $tap_scrambled scrambled, $tap_leaked of the sample"
lab_finish
