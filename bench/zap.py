#!/usr/bin/env python3
"""Zaps through a groupcast gateway as a viewer would, and times each one (TR-126 channel
change time): from the HTTP request for the new channel to (1) the first byte of its stream,
which the gateway starts at a random access point, and (2) the first picture ffmpeg decodes
from it. Prints one JSON line per zap, then p50/p95 on stderr.

    zap.py GATEWAY_ADDR ZAPS CHANNEL [CHANNEL ...]

Channels are visited in turn (one player at a time, so the gateway leaves each channel before
it comes round again); each is watched until its first picture and then 0.5 to 2.5 s more
(uniform, seed 1), so that zaps land at every point of the GOP rather than at the same phase of
it each time. Every wait is bounded (LIMIT).
"""

import json
import random
import socket
import subprocess
import sys
import threading
import time

# Longest a zap waits for its first picture, s.
LIMIT = 8.0


def zap(addr, channel, extra):
    """One zap, watched until the first picture and `extra` s more: returns (first byte s,
    first picture s), None for a part that did not come."""
    host, port = addr.rsplit(":", 1)
    # The decoder is started before the request, so its start-up is not counted.
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", "1",
         "-probesize", "32768", "-analyzeduration", "0", "-f", "mpegts", "-i", "pipe:0",
         "-frames:v", "1", "-f", "null", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    picture = {}

    def wait_picture():
        ffmpeg.wait()
        picture["at"] = time.monotonic()

    waiter = threading.Thread(target=wait_picture, daemon=True)
    waiter.start()
    asked = time.monotonic()
    conn = socket.create_connection((host, int(port)), timeout=5)
    conn.sendall(f"GET /channel/{channel} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())
    conn.settimeout(0.2)
    # Watched until the first picture (at most LIMIT), then `extra` more.
    head, first = b"", None
    while time.monotonic() < min(picture.get("at", asked + LIMIT) + extra, asked + LIMIT + extra):
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        if first is None:
            head += data
            if b"\r\n\r\n" not in head:
                continue
            data = head.split(b"\r\n\r\n", 1)[1]
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"zap to {channel}: {head.splitlines()[0]!r}")
            if not data:
                continue
            first = time.monotonic()
        if ffmpeg.poll() is None:
            try:
                ffmpeg.stdin.write(data)
                ffmpeg.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
    conn.close()
    try:
        ffmpeg.stdin.close()
    except OSError:
        pass
    ffmpeg.kill()
    waiter.join(2)
    seen = picture.get("at")
    decoded = ffmpeg.returncode == 0 and seen is not None
    return (
        None if first is None else first - asked,
        seconds(seen - asked) if decoded else None,
    )


def seconds(x):
    return round(x, 4)


def pct(values, p):
    values = sorted(v for v in values if v is not None)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    addr, zaps, channels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(1)
    results = []
    for i in range(zaps):
        channel = channels[i % len(channels)]
        first, picture = zap(addr, channel, rng.uniform(0.5, 2.5))
        results.append((first, picture))
        print(json.dumps({"zap": i, "channel": channel, "first_byte_s": first,
                          "first_picture_s": picture}), flush=True)
    firsts = [r[0] for r in results]
    pictures = [r[1] for r in results]
    summary = {
        "zaps": zaps,
        "first_byte_p50_ms": round(pct(firsts, 50) * 1000),
        "first_byte_p95_ms": round(pct(firsts, 95) * 1000),
        "first_picture_p50_ms": round(pct(pictures, 50) * 1000),
        "first_picture_p95_ms": round(pct(pictures, 95) * 1000),
        "no_byte": sum(f is None for f in firsts),
        "no_picture": sum(p is None for p in pictures),
    }
    print(json.dumps(summary), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
