#!/usr/bin/env python3
"""End-to-end latency of the live inbox: from a webhook's 200 to the message reaching an agent's websocket.

    BENCH_DB_PREFIX=mydb_ .venv/bin/python bench/discuss_latency.py [--rate 10] [--seconds 30] [--senders 20]

The agent is the account's team (member of every chat); the senders' chats exist before the run (one message
each, processed). Then one signed webhook every 1/``--rate`` s; a websocket connected as the agent (Odoo's
``/websocket`` of the gevent process, as the web client connects) notes when each message's
``discuss.channel/new_message`` arrives. Latency = that moment - the webhook's 200 (target p95 < 2 s).
A real Odoo 18 on a fresh database (bench/_common.py), in threaded mode: prefork mode serves websockets from
its gevent process, which cannot start where gevent cannot patch (tools/odoo_launcher.py); threaded mode
serves them from its HTTP threads, with the processing cron in a thread of the same process.
"""
import argparse
import json
import re
import threading
import time

import requests
import websocket

import _common as c
from inbound import build_corpus, wait_processed

#: bus/websocket.py WebsocketConnectionHandler._VERSION of Odoo 18.0
WEBSOCKET_VERSION = "18.0-2"

AGENT = """
from odoo.tests import new_test_user
agent = new_test_user(env, login="bench_agent", password="bench_agent_pw", name="Bench Agent",
                      groups="base.group_user,messenger_connector.group_messenger_user")
env["messenger.account"].browse(%(account)d).write({"user_ids": [(6, 0, agent.ids)], "audience_group_id": False})
env.cr.commit()
emit({"agent": agent.id})
"""

TAG = re.compile(r"Bench message (\d+) from")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--port", type=int, default=18430)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    db = c.fresh_db("bench_discuss_e2e")
    account = c.setup_wa_account(db)
    c.shell(db, AGENT % {"account": account["id"]})
    count = int(args.rate * args.seconds)
    corpus = sorted(build_corpus(args.senders + count, args.senders, 0, seed=11, tag="L"), key=lambda m: m[0])
    warm, run = corpus[:args.senders], corpus[args.senders:]
    acked, seen = {}, {}
    # workers=0: threaded mode; its cron thread (the last --max-cron-threads wins) processes the webhooks
    with c.OdooServer(db, args.port, workers=0, cron=0, name="discuss-e2e",
                      extra=["--max-cron-threads=1"]) as server:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        for _wamid, body, headers in warm:  # every sender's chat exists, the agent is in it
            c.http_post(url, body, headers)
        wait_processed(db, account["id"], len(warm), args.timeout)
        session = requests.Session()
        session.post(f"{server.url}/web/session/authenticate", json={"jsonrpc": "2.0", "params": {
            "db": db, "login": "bench_agent", "password": "bench_agent_pw"}}, timeout=60).raise_for_status()
        (last,), = c.sql(db, "SELECT coalesce(max(id), 0) FROM bus_bus")
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{args.port}/websocket?version={WEBSOCKET_VERSION}",
            cookie=f"session_id={session.cookies['session_id']}", origin=server.url, timeout=args.timeout)
        ws.send(json.dumps({"event_name": "subscribe", "data": {"channels": [], "last": last}}))
        stop = threading.Event()

        def listen():
            while not stop.is_set():
                try:
                    frame = ws.recv()
                except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
                    return
                now = time.perf_counter()
                if "discuss.channel/new_message" in frame:
                    for index in TAG.findall(frame):
                        seen.setdefault(int(index), now)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(1)
        c.log(f"end-to-end to the agent's websocket: {count} messages at {args.rate:g}/s ...")
        started = time.perf_counter()
        failures = 0
        for position, (wamid, body, headers) in enumerate(run):
            time.sleep(max(0.0, started + position / args.rate - time.perf_counter()))
            status, _data, _seconds = c.http_post(url, body, headers)
            index = int(wamid.removeprefix("wamid.BENCHL"))
            if status == 200:
                acked[index] = time.perf_counter()
            else:
                failures += 1
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline and any(i not in seen for i in acked):
            time.sleep(0.1)
        stop.set()
        ws.close()
    latencies = [seen[i] - acked[i] for i in acked if i in seen]
    rows = [[f"{count} messages at {args.rate:g}/s", failures, len(acked) - len(latencies),
             f"{c.percentile(latencies, 50):.2f} s", f"{c.percentile(latencies, 95):.2f} s",
             f"{max(latencies, default=float('nan')):.2f} s"]]
    print(c.table(["run", "non-200", "not seen", "p50", "p95", "max"], rows))


if __name__ == "__main__":
    main()
