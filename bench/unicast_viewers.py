#!/usr/bin/env python3
"""N unicast fallback viewers for bench/unicast.sh: each session gets a ticket derived from
the relay's secret (as the manager would), JOINs, echoes the relay's CHALLENGE, then refreshes
every second; the media is not read. Loopback only; stops by itself after --secs."""
import argparse, hashlib, hmac, socket, struct, time

p = argparse.ArgumentParser()
p.add_argument("--relay", required=True)
p.add_argument("--secret", required=True)
p.add_argument("--channel", required=True)
p.add_argument("--viewers", type=int, required=True)
p.add_argument("--secs", type=float, required=True)
a = p.parse_args()
host, port = a.relay.rsplit(":", 1)
relay = (host, int(port))
assert host.startswith("127."), "loopback only"
expires = int(time.time() * 1000) + 600_000

def key(session):
    c = a.channel.encode()
    msg = b"groupcast unicast ticket v1" + struct.pack(">H", len(c)) + c + struct.pack(">QQ", session, expires)
    return hmac.new(a.secret.encode(), msg, hashlib.sha256).digest()

def join(v, nonce):
    v["counter"] += 1
    head = b"GU\x01\x01" + struct.pack(">QQQ", v["counter"], v["session"], expires) + nonce
    return head + hmac.new(v["key"], head, hashlib.sha256).digest()[:16]

viewers = []
for i in range(a.viewers):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(relay)
    s.setblocking(False)
    # Fresh sessions and counters per run (a relay still holds the last run's for 5 s).
    v = {"sock": s, "session": int(time.time() * 1000) * 1000 + i, "counter": int(time.time() * 1e6),
         "nonce": b"\0" * 16}
    v["key"] = key(v["session"])
    viewers.append(v)
# Admission: JOIN (again every 100 ms, as a client does: the relay rate-limits its
# challenges), read the CHALLENGE, echo it (no media flows before the echo).
for v in viewers:
    v["sock"].settimeout(0.1)
    for _ in range(50):
        v["sock"].send(join(v, v["nonce"]))
        try:
            d = v["sock"].recv(2048)
        except TimeoutError:
            continue
        if d[:2] == b"GU" and d[3] == 4:
            break
    else:
        raise SystemExit("no challenge in 5 s")
    v["nonce"] = d[28:44]
    v["sock"].send(join(v, v["nonce"]))
# Fed: refresh every second; the media is left to the kernel (a full receive buffer drops it,
# after the relay has paid for sending it).
end = time.time() + a.secs
while time.time() < end:
    time.sleep(1)
    for v in viewers:
        v["sock"].send(join(v, v["nonce"]))
print(len(viewers))
