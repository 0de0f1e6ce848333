#!/usr/bin/env python3
"""A tiny bounded RTP multicast receiver for the lab's self-test and controls.

Joins GROUP on the interface with address IFACE, receives for at most DURATION seconds, and
writes JSON: packets, unique sequence numbers, first/last extended sequence number, expected,
missing, duplicates. With --out, appends each new datagram's payload (the TS) in arrival order.
"""
import argparse, json, socket, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("--group", required=True)
ap.add_argument("--iface", required=True)
ap.add_argument("--duration", type=float, required=True)
ap.add_argument("--json", required=True)
ap.add_argument("--out")
ap.add_argument("--idle-exit", type=float, default=0, help="stop after this long without data")
ap.add_argument("--raw", action="store_true", help="payload is raw TS, not RTP")
a = ap.parse_args()
gip, gport = a.group.rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((gip, int(gport)))
if ipaddr_is_mc := (224 <= int(gip.split(".")[0]) <= 239):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(gip) + socket.inet_aton(a.iface))
out = open(a.out, "wb") if a.out else None
end = time.monotonic() + a.duration
seen, packets, dups, bytes_ = set(), 0, 0, 0
first = last = None
last_rx = time.monotonic()
ext_hi = None
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    s.settimeout(min(left, 0.5))
    try:
        d = s.recv(65536)
    except socket.timeout:
        if a.idle_exit and packets and time.monotonic() - last_rx > a.idle_exit:
            break
        continue
    last_rx = time.monotonic()
    packets += 1
    bytes_ += len(d)
    if a.raw:
        if out:
            out.write(d)
        continue
    if len(d) < 12 or d[0] >> 6 != 2:
        continue
    seq = struct.unpack("!H", d[2:4])[0]
    # extend to 64 bits around the highest seen
    if ext_hi is None:
        ext = seq
    else:
        base = ext_hi & ~0xFFFF
        cands = [base - 0x10000 + seq, base + seq, base + 0x10000 + seq]
        ext = min(cands, key=lambda c: abs(c - ext_hi))
    if ext in seen:
        dups += 1
        continue
    seen.add(ext)
    ext_hi = ext if ext_hi is None else max(ext_hi, ext)
    first = ext if first is None else min(first, ext)
    if out:
        cc = d[0] & 0x0F
        off = 12 + 4 * cc
        if d[0] & 0x10 and len(d) >= off + 4:
            off += 4 + 4 * struct.unpack("!H", d[off + 2:off + 4])[0]
        out.write(d[off:])
r = {"packets": packets, "bytes": bytes_, "unique": len(seen), "duplicates": dups}
if seen:
    r.update(first=first, last=ext_hi, expected=ext_hi - first + 1,
             missing=ext_hi - first + 1 - len(seen))
json.dump(r, open(a.json, "w"))
