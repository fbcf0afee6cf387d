#!/usr/bin/env python3
"""The floor of the ack path on this machine: the least any webhook receiver can do that stores before answering.

Not Odoo: ``--workers`` forked processes (like Odoo's prefork workers) share one listening socket; each request
is read, its signature checked (HMAC-SHA256 over the raw bytes), its body stored with one
``INSERT ... ON CONFLICT DO NOTHING`` on a kept PostgreSQL connection and committed, then answered 200, on a new
connection per request as Odoo's HTTP/1.0 answers require. The client is the same as bench/inbound.py's (the
same signed corpus, the same threads). What this cannot reach, no Odoo route can: it tells whether a latency
target is a matter of the addon or of the machine.

With ``--odoo``, the floor of an Odoo route instead: the same work (HMAC check, one INSERT, a commit) in a route
of a benchmark-only module (bench/odoo_addons/messenger_bench_floor, loaded server-wide, never installed)
served by Odoo in prefork mode like bench/inbound.py's: what Odoo's own dispatch costs, which no addon route
can go below.

    python3 bench/ack_floor.py                    # 10,000 messages + 10% redeliveries, 1/8/32 senders
    python3 bench/ack_floor.py --odoo --concurrency 32
    python3 bench/ack_floor.py --odoo --beside-processing --concurrency 32
"""
import argparse
import hashlib
import hmac
import os
import pathlib
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg2

import _common as c
from inbound import RELEASE_CRON, build_corpus, post_all


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


FLOOR_TABLE = ("CREATE TABLE floor_event (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, body text, "
               "create_date timestamp DEFAULT (now() at time zone 'UTC'))")


def run_level(args, concurrency):
    corpus = build_corpus(args.messages, args.senders, args.redeliveries, seed=concurrency, tag=f"F{concurrency}")
    if args.odoo:
        return run_odoo_level(args, concurrency, corpus)
    db = c.db_name("bench_ack_floor")
    c.drop_db(db)
    c.sql("postgres", f"CREATE DATABASE {db}")
    c.sql(db, FLOOR_TABLE)
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
    return result(concurrency, corpus, seconds, latencies, statuses, errors, stored)


def run_odoo_level(args, concurrency, corpus):
    db = c.fresh_db("bench_ack_floor_odoo")
    c.sql(db, FLOOR_TABLE)
    addons = pathlib.Path(__file__).resolve().parent / "odoo_addons"
    server = c.OdooServer(db, args.port, workers=args.workers, name="ack_floor", extra=[
        f"--addons-path={c.ADDONS_PATH},{addons}", "--load=base,web,messenger_bench_floor"])
    beside = None
    if args.beside_processing:
        account = c.setup_wa_account(db)
        cron = "messenger_connector.ir_cron_process_events"
        (cron_id,), = c.sql(db, "SELECT res_id FROM ir_model_data WHERE module || '.' || name = %s", [cron])
        c.sql(db, "UPDATE ir_cron SET active = false WHERE id = %s", [cron_id])
    with server:
        if args.beside_processing:
            backlog = build_corpus(args.messages, args.senders, args.redeliveries, seed=7, tag="B")
            c.log(f"storing a backlog of {len(backlog)} webhooks with the processing cron held ...")
            post_all(f"{server.url}/messenger/webhook/{account['key']}", backlog, concurrency)
            c.shell(db, RELEASE_CRON % {"cron": cron})
        c.log(f"{concurrency} senders: posting {len(corpus)} webhooks to an Odoo route ...")
        seconds, latencies, statuses, errors = post_all(f"{server.url}/messenger_bench/floor", corpus, concurrency)
        if args.beside_processing:
            (beside,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE state = 'pending'")
    (stored,), = c.sql(db, "SELECT count(*) FROM floor_event")
    if beside is not None:
        c.log(f"  events still waiting for the processing when the last floor request was answered: {beside}")
    return result(concurrency, corpus, seconds, latencies, statuses, errors, stored)


def result(concurrency, corpus, seconds, latencies, statuses, errors, stored):
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
    parser.add_argument("--odoo", action="store_true", help="the floor of an Odoo route (prefork, --workers)")
    parser.add_argument("--beside-processing", action="store_true",
                        help="with --odoo: while the addon's processing cron works through a backlog of "
                             "--messages deliveries on the same server (as during bench/inbound.py's levels)")
    args = parser.parse_args()
    c.free_port_check(args.port)
    results = [run_level(args, level) for level in args.concurrency]
    c.drop_db("bench_ack_floor_odoo" if args.odoo else "bench_ack_floor")
    what = (f"an Odoo route: prefork --workers={args.workers}" if args.odoo else f"no Odoo: {args.workers} processes")
    if args.beside_processing:
        what += ", while the processing cron works through a backlog"
    print(f"\nAck floor ({what}, HMAC check, one INSERT + commit per request)\n"
          f"Machine: {c.machine()}\n")
    print(c.table(["senders", "webhooks", "acks/s", "p50 ms", "p95 ms", "p99 ms", "non-200", "stored"],
                  [[r["concurrency"], r["requests"], f"{r['acks_per_s']:.0f}", f"{r['p50'] * 1000:.1f}",
                    f"{r['p95'] * 1000:.1f}", f"{r['p99'] * 1000:.1f}", r["non_200"], r["stored"]]
                   for r in results]))
    sys.exit(1 if any(r["unacked"] for r in results) else 0)


if __name__ == "__main__":
    main()
