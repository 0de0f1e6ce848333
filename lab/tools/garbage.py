#!/usr/bin/env python3
"""Sends hostile datagrams for the lab's robustness scenario, bounded in count and time.

At the multicast group: random bytes, truncated RTP headers, RTP with a CSRC count or
extension running past the end, RTP of another payload type, RTP whose payload is not TS.
At each peer socket: random bytes, truncated envelopes, and well-formed protocol envelopes
(REQUEST, PING, REPAIR) naming the real channel, epoch and a real member's session but with a
forged tag. Prints the counts as JSON.
"""
import argparse, json, os, random, socket, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("--group", required=True)
ap.add_argument("--iface", required=True)
ap.add_argument("--peer", action="append", default=[], help="IP:PORT,SESSION,EPOCH")
ap.add_argument("--rounds", type=int, default=200)
ap.add_argument("--mc-kinds", default="0,1,2,3,4,5,6,7",
                help="which multicast junk kinds (indexes into mcast_kinds; 4 = TS in PT 96, "
                     "7 = well-formed RTP/TS under a foreign SSRC: a source restart by design)")
ap.add_argument("--seconds", type=float, default=5)
a = ap.parse_args()
rng = random.Random(7)
mc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
mc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
mc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.iface))
uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
uc.bind((a.iface, 0))
g, gp = a.group.rsplit(":", 1)
group = (g, int(gp))
counts = {"multicast": 0, "peer": 0}


def rtp(pt=33, cc=0, x=0, payload=b"", seq=None):
    b0 = 0x80 | (x << 4) | cc
    return struct.pack("!BBHII", b0, pt, rng.randrange(65536) if seq is None else seq,
                       rng.randrange(2**32), rng.randrange(2**32)) + payload


def envelope(typ, session, epoch, body, channel=1):
    hdr = b"GC" + bytes([1, typ]) + struct.pack("!IIQQQ", channel, epoch, session,
                                                 rng.randrange(2**63), int(time.time() * 1e6))
    return hdr + body + os.urandom(16)  # forged tag


mcast_kinds = [
    lambda: os.urandom(rng.randrange(1, 1500)),
    lambda: rtp()[: rng.randrange(1, 12)],
    lambda: rtp(cc=15, payload=b"\x00" * 8),
    lambda: rtp(x=1, payload=b"\xbe\xde\xff\xff"),
    lambda: rtp(pt=96, payload=b"\x47" + os.urandom(187)),
    lambda: rtp(payload=os.urandom(1316)),
    lambda: rtp(payload=b"\x47" + os.urandom(100)),
    lambda: rtp(payload=(b"\x47\x1f\xff\x10" + bytes(184)) * 7),
]
mc_kinds = [int(k) for k in a.mc_kinds.split(",")]
peers = []
for p in a.peer:
    addr, session, epoch = p.split(",")
    ip, port = addr.rsplit(":", 1)
    peers.append(((ip, int(port)), int(session), int(epoch)))


def peer_kinds(session, epoch):
    return [
        lambda: os.urandom(rng.randrange(1, 1400)),
        lambda: envelope(1, session, epoch, b"")[: rng.randrange(1, 52)],
        lambda: envelope(1, session, epoch, struct.pack("!IHHH", rng.randrange(2**32), 1, rng.randrange(65536), 64)),
        lambda: envelope(3, session, epoch, b""),
        lambda: envelope(2, session, epoch, struct.pack("!IHBB", 1, 2, 4, 0) + os.urandom(8 + 8 + 1328)),
        lambda: envelope(1, 424242, epoch, struct.pack("!IHHH", 1, 1, 0, 1000)),  # not a member
        lambda: envelope(1, session, epoch + 100, b"\x00" * 10),  # unknown epoch
        lambda: b"GC\x09\x01" + os.urandom(60),  # unknown version
    ]


end = time.monotonic() + a.seconds
for r in range(a.rounds):
    if time.monotonic() > end:
        break
    mc.sendto(mcast_kinds[rng.choice(mc_kinds)](), group)
    counts["multicast"] += 1
    for addr, session, epoch in peers:
        uc.sendto(rng.choice(peer_kinds(session, epoch))(), addr)
        counts["peer"] += 1
    time.sleep(a.seconds / a.rounds / 2)
print(json.dumps(counts))
