#!/usr/bin/env python3
"""A minimal stand-in for `groupcast manager`, for developing the lab only (LAB_STUB_MANAGER=1).

Implements just what `groupcast client` calls: POST /api/v1/sessions, POST .../heartbeat,
GET .../events (SSE), DELETE .../{id}, and GET /api/v1/health. One channel from the command
line; any bearer token is accepted; groups are consecutive sessions in join order, k per group
(clients join round-robin over metros, so groups span metros); a session without heartbeat for
--timeout-ms is dropped and its group re-formed with a new epoch and key. Bounded by --duration.
"""
import argparse, hashlib, hmac, json, os, re, struct, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--listen", required=True)
ap.add_argument("--channel", required=True)
ap.add_argument("--group", required=True)
ap.add_argument("--metro-group", action="append", default=[])
ap.add_argument("--buffer-ms", type=int, default=300)
ap.add_argument("--k", type=int, default=5)
ap.add_argument("--timeout-ms", type=int, default=3000)
ap.add_argument("--duration", type=float, default=120)
a = ap.parse_args()
lock = threading.Condition()
sessions = {}  # id -> dict(metro, peer_addr, last)
order = []
groups = {}  # gid -> (epoch, key, members tuple)
next_id = [1]
version = [0]
channel = dict(id=1, name=a.channel, group=a.group, source=None,
               metro_groups=dict(m.split("=", 1) for m in a.metro_group),
               chunk_packets=32, buffer_ms=a.buffer_ms, group_size=a.k)


def regroup():
    """Keeps groups stable: leavers are removed, newcomers fill the first group with room."""
    for gid in list(groups):
        ep, key, mem = groups[gid]
        kept = tuple(m for m in mem if m in sessions)
        if kept != mem:
            groups[gid] = (ep + 1, os.urandom(32).hex(), kept) if kept else None
            if not kept:
                del groups[gid]
    placed = {m for _, _, mem in groups.values() for m in mem}
    for s in order:
        if s in sessions and s not in placed:
            gid = next((g for g in sorted(groups) if len(groups[g][2]) < a.k), None)
            if gid is None:
                gid = max(groups, default=0) + 1
                groups[gid] = (0, "", ())
            ep, key, mem = groups[gid]
            groups[gid] = (ep + 1, os.urandom(32).hex(), mem + (s,))
            placed.add(s)
    version[0] += 1
    lock.notify_all()


def pair_key(secret_hex, epoch, a, b):
    """The key members a and b share (docs/protocol.md, "Keys and epochs")."""
    lo, hi = sorted((a, b))
    msg = b"groupcast pair key v1" + struct.pack("!IQQ", epoch, lo, hi)
    return hmac.new(bytes.fromhex(secret_hex), msg, hashlib.sha256).hexdigest()


def assignment(sid):
    for gid, (ep, key, mem) in groups.items():
        if sid in mem:
            return dict(group=str(gid), epoch=ep, members=[
                dict(session=str(m), metro=sessions[m]["metro"], peer_addr=sessions[m]["peer_addr"],
                     **({} if m == sid else {"key": pair_key(key, ep, sid, m)})) for m in mem])
    return dict(group="0", epoch=0, members=[])


def reaper():
    while True:
        time.sleep(0.5)
        with lock:
            now = time.monotonic()
            dead = [s for s, v in sessions.items() if now - v["last"] > a.timeout_ms / 1000]
            for s in dead:
                del sessions[s]
            if dead:
                regroup()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        if self.path == "/api/v1/health":
            return self.reply(200, "ok")
        m = re.fullmatch(r"/api/v1/sessions/(\d+)/events", self.path)
        if not m:
            return self.reply(404, {"error": "not found"})
        sid = int(m.group(1))
        with lock:
            if sid not in sessions:
                return self.reply(404, {"error": "no session"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        seen = -1
        try:
            while True:
                with lock:
                    if sid not in sessions:
                        return
                    if version[0] == seen:
                        lock.wait(5)
                    if version[0] != seen:
                        seen = version[0]
                        msg = f"event: group\ndata: {json.dumps(assignment(sid))}\n\n"
                    else:
                        msg = ": keep-alive\n\n"
                self.wfile.write(msg.encode())
                self.wfile.flush()
        except OSError:
            return

    def do_POST(self):
        if self.path == "/api/v1/sessions":
            b = self.body()
            peer = b["peer_addr"]
            if peer.startswith("0.0.0.0:"):
                peer = self.client_address[0] + peer[7:]
            with lock:
                sid = next_id[0]
                next_id[0] += 1
                sessions[sid] = dict(metro=b["metro"], peer_addr=peer, last=time.monotonic())
                order.append(sid)
                regroup()
                ch = dict(channel)
                ch["group"] = channel["metro_groups"].get(b["metro"], channel["group"])
                return self.reply(200, dict(session=str(sid), channel=ch, heartbeat_ms=500,
                                            timeout_ms=a.timeout_ms, assignment=assignment(sid)))
        m = re.fullmatch(r"/api/v1/sessions/(\d+)/heartbeat", self.path)
        if m:
            self.body()
            sid = int(m.group(1))
            with lock:
                if sid not in sessions:
                    return self.reply(404, {"error": "no session"})
                sessions[sid]["last"] = time.monotonic()
                return self.reply(200, assignment(sid))
        self.reply(404, {"error": "not found"})

    def do_DELETE(self):
        m = re.fullmatch(r"/api/v1/sessions/(\d+)", self.path)
        if m:
            with lock:
                if sessions.pop(int(m.group(1)), None):
                    regroup()
            return self.reply(204)
        self.reply(404, {"error": "not found"})


host, port = a.listen.rsplit(":", 1)
srv = ThreadingHTTPServer((host, int(port)), H)
srv.daemon_threads = True
threading.Thread(target=reaper, daemon=True).start()
threading.Timer(a.duration, srv.shutdown).start()
srv.serve_forever()
