#!/usr/bin/env python3
"""The floor of the ack path on this machine: the least any webhook receiver can do that stores before answering.

Not Odoo: ``--workers`` forked processes (like Odoo's prefork workers) share one listening socket; each request
is read, its signature checked (HMAC-SHA256 over the raw bytes), its body stored with one
``INSERT ... ON CONFLICT DO NOTHING`` on a kept PostgreSQL connection and committed, then answered 200, on a new
connection per request as Odoo's HTTP/1.0 answers require. The client is the same as bench/inbound.py's (the
same signed corpus, the same threads). What this cannot reach, no Odoo route can: it tells whether a latency
target is a matter of the addon or of the machine.

    python3 bench/ack_floor.py                    # 10,000 messages + 10% redeliveries, 1/8/32 senders
"""
import argparse
import hashlib
import hmac
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg2

import _common as c
from inbound import build_corpus, post_all


class _Server(HTTPServer):
    def server_bind(self):  # the socket is bound (and listening) before the fork
        pass

    def server_activate(self):
        pass


def serve(sock, db):
    """One worker: store and answer each request, one at a time."""
    conn = psycopg2.connect(dbname=db)
    secret = c.APP_SECRET.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256") or ""):
                self.send_error(403)
                return
            with conn.cursor() as cr:
                cr.execute("INSERT INTO floor_event (key, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           ["sha256:" + hashlib.sha256(body).hexdigest(), body.decode()])
            conn.commit()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = _Server(sock.getsockname(), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.serve_forever()


def run_level(args, concurrency):
    db = c.db_name("bench_ack_floor")
    c.drop_db(db)
    c.sql("postgres", f"CREATE DATABASE {db}")
    c.sql(db, "CREATE TABLE floor_event (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, body text, "
              "create_date timestamp DEFAULT (now() at time zone 'UTC'))")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    pids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            try:
                serve(sock, db)
            finally:
                os._exit(0)
        pids.append(pid)
    try:
        corpus = build_corpus(args.messages, args.senders, args.redeliveries, seed=concurrency, tag=f"F{concurrency}")
        url = f"http://127.0.0.1:{args.port}/messenger/webhook/floor"
        c.log(f"{concurrency} senders: posting {len(corpus)} webhooks ...")
        seconds, latencies, statuses, errors = post_all(url, corpus, concurrency)
        (stored,), = c.sql(db, "SELECT count(*) FROM floor_event")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.waitpid(pid, 0)
        sock.close()
    return {"concurrency": concurrency, "requests": len(corpus), "acks_per_s": len(latencies) / seconds,
            "p50": c.percentile(latencies, 50), "p95": c.percentile(latencies, 95),
            "p99": c.percentile(latencies, 99), "non_200": sum(v for k, v in statuses.items() if k != 200),
            "stored": stored, "unacked": len(errors)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument("--redeliveries", type=float, default=0.10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=4, help="server processes (4, like bench/inbound.py)")
    parser.add_argument("--port", type=int, default=8096)
    args = parser.parse_args()
    c.free_port_check(args.port)
    results = [run_level(args, level) for level in args.concurrency]
    c.drop_db("bench_ack_floor")
    print(f"\nAck floor (no Odoo: {args.workers} processes, HMAC check, one INSERT + commit per request)\n"
          f"Machine: {c.machine()}\n")
    print(c.table(["senders", "webhooks", "acks/s", "p50 ms", "p95 ms", "p99 ms", "non-200", "stored"],
                  [[r["concurrency"], r["requests"], f"{r['acks_per_s']:.0f}", f"{r['p50'] * 1000:.1f}",
                    f"{r['p95'] * 1000:.1f}", f"{r['p99'] * 1000:.1f}", r["non_200"], r["stored"]]
                   for r in results]))
    sys.exit(1 if any(r["unacked"] for r in results) else 0)


if __name__ == "__main__":
    main()
