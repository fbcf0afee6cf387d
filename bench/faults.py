#!/usr/bin/env python3
"""Fault runs against a real Odoo 18 (prefork subprocess), each on a fresh database:

1. ``kill``: 1,000 signed WhatsApp webhooks are stored, then the processing cron starts and the whole
   Odoo process group is killed with SIGKILL in the middle of the batch; Odoo is restarted. Every event must
   end processed exactly once: one message per wamid, one post in the conversation's chatter and none in the
   contact's, no event left behind.
2. ``dblost``: webhooks are posted by 8 senders while every database connection of Odoo is terminated
   (``pg_terminate_backend``) several times a second. A webhook answered with a non-2xx must have stored
   nothing or be recognised as a duplicate when the platform retries; the provider must get a 5xx (so it
   retries), never a 200 for something not stored. Non-200 deliveries are then retried like Meta does and
   everything must be stored and processed exactly once.
3. ``sendkill``: replies are queued; the fake platform accepts one send, then hangs before answering; Odoo
   is killed (SIGKILL) right then, so the platform has the message but Odoo never saved the outcome.
   After the restart the message must not be sent again (it is reconciled as "interrupted") and all the
   others are sent exactly once.

    python3 bench/faults.py                  # all three, 1,000 events
    python3 bench/faults.py kill --events 300
"""
import argparse
import collections
import random
import sys
import threading
import time

import _common as c
import inbound


def notify_cron(db):
    """Wake the cron workers like Odoo's own _notifydb does (NOTIFY cron_trigger on the postgres database)."""
    c.sql("postgres", "SELECT pg_notify('cron_trigger', %s)", [db])


def wait_for(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def event_states(db):
    return dict(c.sql(db, "SELECT state, count(*) FROM messenger_event GROUP BY state"))


# --- 1. SIGKILL in the middle of a batch ------------------------------------------------------------


def fault_kill(args):
    db = c.fresh_db("bench_fault_kill")
    account = c.setup_wa_account(db)
    corpus = inbound.build_corpus(args.events, max(10, args.events // 20), 0.0, seed=1, tag="K")
    expected = {wamid for wamid, _b, _h in corpus}
    # Store the deliveries with no cron worker: the batch is complete before processing starts.
    with c.OdooServer(db, args.port, workers=2, cron=0, name="fault-kill-store") as server:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        _seconds, _lat, statuses, errors = inbound.post_all(url, corpus, 8)
    assert statuses == {200: len(corpus)} and not errors, statuses
    kill_at = random.Random(7).randint(args.events // 4, args.events // 2)
    server = c.OdooServer(db, args.port, workers=2, cron=1, name="fault-kill")
    server.start()
    notify_cron(db)
    done_before = wait_for(lambda: (event_states(db).get("done", 0) >= kill_at) and event_states(db).get("done"), 300,
                           interval=0.02)
    server.kill()
    states_at_kill = event_states(db)
    c.log(f"SIGKILL after {done_before} processed events: {states_at_kill}")
    (in_flight,), = c.sql(db, "SELECT count(*) FROM messenger_message WHERE direction = 'in'")
    server = c.OdooServer(db, args.port, workers=2, cron=1, name="fault-kill-restart")
    with server:
        notify_cron(db)
        wait_for(lambda: event_states(db) == {"done": len(expected)}, 600)
    check = inbound.verify(db, account["id"], expected)
    ok = (check["lost"] == 0 and check["doubled"] == 0 and check["chatter_ok"] and check["events_not_done"] == 0)
    return {"fault": "SIGKILL mid-batch, restart", "events": len(expected),
            "detail": f"killed with {states_at_kill.get('done', 0)} done / {states_at_kill.get('pending', 0)} "
                      f"pending ({in_flight} messages committed); after restart: lost {check['lost']}, "
                      f"doubled {check['doubled']}, conversation posts {check['conv_chatter']}, contact posts "
                      f"{check['partner_chatter']}, events not done {check['events_not_done']}",
            "ok": ok}


# --- 2. database connection lost during webhooks ------------------------------------------------------


def fault_dblost(args):
    db = c.fresh_db("bench_fault_db")
    account = c.setup_wa_account(db)
    corpus = inbound.build_corpus(args.events, max(10, args.events // 20), 0.0, seed=2, tag="D")
    expected = {wamid for wamid, _b, _h in corpus}
    first_answers = {}
    lock = threading.Lock()
    stop = threading.Event()
    terminated = [0]

    def terminator():
        while not stop.is_set():
            rows = c.sql("postgres", """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                         WHERE datname = %s AND pid <> pg_backend_pid()""", [db])
            terminated[0] += len(rows)
            stop.wait(0.25)

    # --load: the addon is also a server-wide module, so that its webhook route exists when Odoo falls back to
    # serving without a database (see the README, Reliability): the platform then gets a 503, not a 404.
    with c.OdooServer(db, args.port, workers=2, cron=1, name="fault-db",
                      extra=["--load=base,web,messenger_connector"] if not args.no_server_wide else []) as server:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        queue = iter(range(len(corpus)))

        def sender():
            while True:
                with lock:
                    index = next(queue, None)
                if index is None:
                    return
                wamid, body, headers = corpus[index]
                try:
                    status, _data, _s = c.http_post(url, body, headers)
                except OSError as exc:
                    status = type(exc).__name__
                with lock:
                    first_answers[wamid] = status

        killer = threading.Thread(target=terminator)
        killer.start()
        threads = [threading.Thread(target=sender) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        killer.join()
        answers = collections.Counter(first_answers.values())
        c.log(f"first answers under connection loss: {dict(answers)}; {terminated[0]} backends terminated")
        # What was stored for the refused ones, before any retry: nothing, or the whole event.
        refused = [w for w, status in first_answers.items() if status != 200]
        stored_refused = 0
        for wamid in refused:
            (count,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE body LIKE %s", [f"%{wamid}%"])
            stored_refused += count
        (stored_total,), = c.sql(db, "SELECT count(*) FROM messenger_event")
        accepted_not_stored = len([w for w, s in first_answers.items() if s == 200]) - (stored_total - stored_refused)
        # The platform retries what was not acknowledged.
        retry = [item for item in corpus if first_answers[item[0]] != 200]
        _seconds, _lat, retry_statuses, errors = inbound.post_all(url, retry, 4)
        notify_cron(db)
        wait_for(lambda: event_states(db) == {"done": len(expected)}, 600)
    check = inbound.verify(db, account["id"], expected)
    five_xx = sum(n for status, n in answers.items() if isinstance(status, int) and status >= 500)
    other = {s: n for s, n in answers.items() if s != 200 and not (isinstance(s, int) and s >= 500)}
    ok = (check["lost"] == 0 and check["doubled"] == 0 and check["chatter_ok"] and accepted_not_stored == 0
          and not errors and not other)
    return {"fault": "DB connections terminated during webhooks", "events": len(expected),
            "detail": f"{terminated[0]} backends terminated; first answers {dict(answers)} ({five_xx} 5xx, other "
                      f"non-200 {other or 0}); 200 without a stored event: {accepted_not_stored}; refused but "
                      f"stored whole: {stored_refused} (a retry answers 200 duplicate); after retries {dict(retry_statuses)}: "
                      f"lost {check['lost']}, doubled {check['doubled']}, chatters ok {check['chatter_ok']}",
            "ok": ok}


# --- 3. send interrupted after the platform accepted it -----------------------------------------------


class HangingWhatsApp(c.fakes.FakeWhatsApp):
    """Accepts the send number ``hang_at`` then does not answer it (until released)."""

    hang_at = None

    def _clear(self):
        super()._clear()
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.send_calls = 0

    def _send(self, request):
        with self._lock:
            self.send_calls += 1
            number = self.send_calls
        answer = super()._send(request)
        if number == self.hang_at:
            self.hanging.set()
            self.release.wait(60)
        return answer


SETUP_REPLIES = """
import datetime
from odoo import fields
account = env["messenger.account"].browse(%(account)d)
now = fields.Datetime.now()
conversations = env["messenger.conversation"].with_context(tracking_disable=True).create([{
    "account_id": account.id, "external_user_id": "3249%%07d" %% (3000000 + i), "profile_name": "Crash %%d" %% i,
    "last_inbound_at": now, "window_expires_at": now + datetime.timedelta(hours=23)} for i in range(%(n)d)])
env["messenger.message"].create([{
    "conversation_id": conv.id, "direction": "out", "state": "queued", "body": "Crash reply %%03d" %% i,
    "content_type": "text", "author_id": env.ref("base.user_admin").id} for i, conv in enumerate(conversations)])
env.cr.commit()
env["messenger.message"]._trigger_sender()
env.cr.commit()
emit(True)
"""


def fault_sendkill(args):
    n = args.replies
    fake = HangingWhatsApp(phone_number_id=c.WA_PHONE_ID, access_token=c.WA_TOKEN)
    fake.hang_at = n // 2
    fake.start()
    db = c.fresh_db("bench_fault_send")
    account = c.setup_wa_account(db, base_url=fake.url)
    try:
        server = c.OdooServer(db, args.port, workers=1, cron=1, name="fault-send")
        server.start()
        c.shell(db, SETUP_REPLIES % {"account": account["id"], "n": n})
        notify_cron(db)
        if not fake.hanging.wait(120):
            server.stop()
            return {"fault": "send interrupted after acceptance", "events": n, "detail": "never reached", "ok": False}
        hung = fake.sent[-1]["text"]
        server.kill()
        states_at_kill = dict(c.sql(db, "SELECT state, count(*) FROM messenger_message GROUP BY state"))
        fake.release.set()
        c.log(f"SIGKILL while the platform held accepted send '{hung}': {states_at_kill}")
        with c.OdooServer(db, args.port, workers=1, cron=1, name="fault-send-restart"):
            notify_cron(db)
            wait_for(lambda: not c.sql(db, "SELECT 1 FROM messenger_message WHERE state IN ('queued', 'sending')"),
                     300)
        final = dict(c.sql(db, "SELECT state, count(*) FROM messenger_message GROUP BY state"))
        interrupted = c.sql(db, "SELECT body, error_code FROM messenger_message WHERE state = 'failed'")
    finally:
        fake.release.set()
        fake.stop()
    counts = collections.Counter(item["text"] for item in fake.sent)
    duplicates = sum(v - 1 for v in counts.values() if v > 1)
    missing = n - len(counts)
    ok = (duplicates == 0 and missing == 0 and interrupted == [(hung, "interrupted")] and final.get("sent") == n - 1)
    return {"fault": "SIGKILL after the platform accepted a send, before Odoo saved it", "events": n,
            "detail": f"at the kill {states_at_kill}; after restart {final}; platform received each reply "
                      f"{'once' if not duplicates else 'MORE THAN ONCE'} ({duplicates} duplicates, {missing} "
                      f"missing); the interrupted one: {interrupted}",
            "ok": ok}


FAULTS = {"kill": fault_kill, "dblost": fault_dblost, "sendkill": fault_sendkill}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faults", nargs="*", help="kill, dblost, sendkill (default: all three)")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--replies", type=int, default=40)
    parser.add_argument("--port", type=int, default=8094)
    parser.add_argument("--no-server-wide", action="store_true",
                        help="dblost: without --load=base,web,messenger_connector (Odoo answers 404 then)")
    args = parser.parse_args()
    c.free_port_check(args.port)
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s) {sorted(unknown)}: choose among {list(FAULTS)}")
    results = [FAULTS[name](args) for name in (args.faults or list(FAULTS))]
    print(f"\nFault runs. Machine: {c.machine()}\n")
    print(c.table(["fault", "events", "result", "what happened"],
                  [[r["fault"], r["events"], "OK" if r["ok"] else "FAILED", r["detail"]] for r in results]))
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
