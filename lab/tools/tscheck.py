#!/usr/bin/env python3
"""Checks that a player's output is a byte-exact contiguous slice of the source file.

The output may start mid-stream and stop early; it starts on a TS packet boundary. A client
starts its output clean: a copy of the PAT and PMT the sample carries last before a keyframe,
then the sample from that keyframe's PES on; that head is checked against the sample in place
and is not counted as a segment. With
--loop the source was looped, so the slice may wrap around the file's end (and the
discontinuity flag the source sets after each seam is ignored). The output is cut
into the longest runs that match the sample; null packets where the sample has something else are holes played as filler; every run after the first is a hole (a forward
jump: TS packets that never came out) or a resync (a jump elsewhere, e.g. a source restart).
Prints one JSON object (with "holes": where in the sample, in TS packets, each forward jump
starts and how long it is); exits non-zero when --max-segments or --max-missing is exceeded.
"""
import argparse, json, sys

TS = 188
ap = argparse.ArgumentParser()
ap.add_argument("output")
ap.add_argument("sample")
ap.add_argument("--loop", action="store_true")
ap.add_argument("--max-segments", type=int)
ap.add_argument("--max-missing", type=int, help="TS packets missing inside the slice")
ap.add_argument("--min-bytes", type=int, default=0)
a = ap.parse_args()
out = open(a.output, "rb").read()
smp = open(a.sample, "rb").read()


def clear_discontinuity(buf):
    """A looped source flags the PCR packet after each seam as a discontinuity (adaptation
    field flag 0x80); that bit is the only change it makes, so compare without it."""
    b = bytearray(buf)
    for i in range(0, len(b) - TS + 1, TS):
        if b[i] == 0x47 and b[i + 3] & 0x20 and b[i + 4] > 0:
            b[i + 5] &= 0x7F
    return bytes(b)


if a.loop:
    out, smp = clear_discontinuity(out), clear_discontinuity(smp)
L = len(smp)
NEAR = 64 * 7 * TS  # 64 datagrams of 7 TS packets
hay = smp + smp[:65536] if a.loop else smp


def occurrences(block, start, end):
    res, i = [], hay.find(block, start, end)
    while i != -1 and i < L:
        res.append(i)
        i = hay.find(block, i + 1, end)
    return res


def find_all(block, near=None):
    """Offsets of `block` in the sample. With `near` (the expected offset), those within
    NEAR bytes ahead of it if any: after a hole of a few datagrams the output goes on there,
    and a padded (HD) sample repeats blocks of null packets thousands of times."""
    return (near is not None and occurrences(block, near, near + NEAR)) or occurrences(block, 0, len(hay))


def at(off, n):  # n bytes of the (cyclic) sample from off
    if not a.loop:
        return smp[off:off + n]
    off %= L
    if off + n <= L:
        return smp[off:off + n]
    return smp[off:] + smp[:off + n - L]


def ahead(off):  # how far `off` lies after the expected offset (cyclic with --loop)
    return (off - expect) % L if a.loop else (off - expect if off >= expect else L + expect - off)


def match_len(pos, off, cap=256):  # TS packets of the output at pos matching the sample at off
    n = 0
    while n < cap and pos + (n + 1) * TS <= len(out) and out[pos + n * TS:pos + (n + 1) * TS] == at(off + n * TS, TS):
        n += 1
    return n


def is_null(p):
    return len(p) == TS and p[0] == 0x47 and ((p[1] & 0x1F) << 8 | p[2]) == 0x1FFF


segments, bad_packets, pos, expect, filler = [], 0, 0, None, 0
while pos < len(out):
    blk = out[pos:pos + 7 * TS]
    if len(blk) < TS:
        bad_packets += 1  # a trailing partial packet
        break
    offs = find_all(blk, expect)
    if is_null(blk[:TS]) and expect is not None and blk[:TS] != at(expect, TS):
        # The sample's own null packets also follow holes: a null packet that starts a
        # datagram found a little ahead is a forward jump, any other is filler.
        if len(blk) < 7 * TS or not any(0 < ahead(o) < L // 4 for o in offs):
            filler += 1  # a hole played as a null packet
            pos += TS
            continue
    if not offs:
        offs = find_all(blk[:TS], expect)
    if not offs:
        bad_packets += 1
        pos += TS
        continue
    if expect in offs:
        off = expect
    else:  # blocks of null packets recur: take the place the output goes on matching longest
        off = max(offs, key=lambda o: (match_len(pos, o), -ahead(o) if expect is not None else -o))
    n = 0
    step = 64 * TS
    while pos + n < len(out):  # extend the run: big steps, then packet by packet
        k = min(step, len(out) - (pos + n))
        if not a.loop and off + n + k > L:
            k = max(0, L - off - n)
            if k == 0:
                break
        if out[pos + n:pos + n + k] == at(off + n, k):
            n += k
        elif step > TS:
            step = TS
        else:
            break
    n -= n % TS
    # A null packet after a hole can equal the sample's null packet where the run would have
    # gone on: trailing null packets are given back when the datagram they start is found
    # elsewhere in the sample and not where the run goes on (the next block places them).
    t = n
    while t > TS and is_null(out[pos + t - TS:pos + t]):
        t -= TS
    if t < n and pos + t + 7 * TS <= len(out):
        goes_on = (off + t) % L if a.loop else off + t
        cand = find_all(out[pos + t:pos + t + 7 * TS], goes_on)
        if cand and goes_on not in cand:
            n = t
    if n == 0:
        bad_packets += 1
        pos += TS
        continue
    segments.append((pos, off, n))
    pos += n
    expect = (off + n) % L if a.loop else off + n



def pid(p):
    return (p[1] & 0x1F) << 8 | p[2]


def clean_start_head(segments):
    """A client's output starts clean (at a random access point): the PAT and PMT packets the
    sample carries last before the keyframe, then the sample from that keyframe's PES on. That
    head is at most 3 packets (PAT, PMT, maybe SDT) placed before the first long run; each of
    its packets must equal the sample's last packet of the same PID before that run. Returns
    how many packets form such a head (0: none)."""
    if len(segments) < 2 or segments[0][0] != 0 or segments[0][2] > 3 * TS:
        return 0
    head, o1 = out[:segments[0][2]], segments[1][1]
    if pid(head) != 0:
        return 0
    for i in range(0, len(head), TS):
        p, back = head[i:i + TS], TS
        while back <= 1000 * TS and (a.loop or o1 - back >= 0):
            q = at((o1 - back) % L if a.loop else o1 - back, TS)
            if pid(q) == pid(p):
                break
            back += TS
        else:
            return 0
        if q != p:
            return 0
    return len(head) // TS


head_packets = clean_start_head(segments)
if head_packets:
    segments = segments[1:]
missing = 0
resyncs = 0
holes = []  # [first missing TS packet of the sample, how many]
for (p0, o0, n0), (p1, o1, n1) in zip(segments, segments[1:]):
    nxt = (o0 + n0) % L if a.loop else o0 + n0
    gap = (o1 - nxt) % L if a.loop else o1 - nxt
    if 0 < gap < L // 4 and gap % TS == 0:
        missing += gap // TS
        holes.append([nxt // TS, gap // TS])
    elif gap != 0:
        resyncs += 1
r = {
    "output_bytes": len(out),
    "output_ts_packets": len(out) // TS,
    "segments": len(segments),
    "missing_ts_packets": missing,
    "resyncs": resyncs,
    "unmatched_ts_packets": bad_packets,
    "null_filler_ts_packets": filler,
    "first_offset": segments[0][1] if segments else None,
    "clean_start_head_ts_packets": head_packets,
    "holes": holes,
}
ok = bool(segments) and bad_packets == 0 and filler == 0 and len(out) >= a.min_bytes
if a.max_segments is not None and len(segments) > a.max_segments:
    ok = False
if a.max_missing is not None and missing > a.max_missing:
    ok = False
r["ok"] = ok
print(json.dumps(r))
sys.exit(0 if ok else 1)
