#!/usr/bin/env python3
"""Judges each client's holes against its repair group.

Peer repair can only give back a packet that some member of the group received: when every
member lost the same datagram (the residual floor of a group, p^k, or a loss upstream of every
metro at once) nobody can repair it. A hole that some group member does not share is a repair
failure. Without repair, holes are independent per client, so almost none is shared.

Inputs: the manager's sessions (`groupcast admin --json sessions`) taken while the stream ran,
and HOST=IP=TSCHECK_JSON for each client (tscheck's JSON, with its "holes").
Prints one JSON object: per host its group, its holes (TS packets) and those the whole group
shares; the group-wide holes (first TS packet of each); "ok" is true when every hole of every
host is shared by its whole group. Exits non-zero when not ok.
"""
import argparse, json, sys

ap = argparse.ArgumentParser()
ap.add_argument("sessions", help="JSON from `groupcast admin --json sessions`")
ap.add_argument("hosts", nargs="+", metavar="HOST=IP=TSCHECK_JSON", help="clients judged")
ap.add_argument("--member", action="append", default=[], metavar="HOST=IP=TSCHECK_JSON",
                help="a client counted as a group member but not judged (e.g. --no-repair)")
a = ap.parse_args()

group_of = {}  # ip -> group id
for s in json.load(open(a.sessions)):
    group_of[s["peer_addr"].rsplit(":", 1)[0]] = s["group"]

hosts, judged = {}, set()
for arg in a.hosts + a.member:
    host, ip, path = arg.split("=", 2)
    ts = json.load(open(path))
    missing = set()
    for start, n in ts.get("holes", []):
        missing.update(range(start, start + n))
    hosts[host] = {"ip": ip, "group": group_of.get(ip), "missing": missing}
    if arg in a.hosts:
        judged.add(host)

result, group_wide, ok = {}, set(), True
for host, h in hosts.items():
    if host not in judged:
        continue
    if h["group"] is None:
        ok = False
        result[host] = {"error": "no session in the manager's list"}
        continue
    members = [m for m in hosts.values() if m["group"] == h["group"]]
    shared = set.intersection(*(m["missing"] for m in members))
    own = h["missing"] - shared
    group_wide |= shared
    ok &= not own
    result[host] = {
        "group": h["group"],
        "members": len(members),
        "missing_ts": len(h["missing"]),
        "group_wide_ts": len(shared),
        "not_shared_ts": sorted(own)[:20],
    }
firsts = sorted(t for t in group_wide if t - 1 not in group_wide)
print(json.dumps({"hosts": result, "group_wide_holes": firsts, "ok": ok}))
sys.exit(0 if ok else 1)
