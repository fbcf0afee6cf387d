#!/usr/bin/env python3
"""Outbound benchmark: queued WhatsApp replies against a local fake with a per-number cap of 80 msg/s.

On a fresh database, ``--messages`` text replies (one per conversation turn, ``--conversations`` people with
an open window) are queued, then the sender cron of a real Odoo 18 sends them to a local fake Cloud API
(``fakes.FakeWhatsApp``, real HTTP) that refuses anything over ``--cap`` sends in any one second with error
130429 (HTTP 429). In the middle of the run the fake answers every send with 429 + ``Retry-After: 1`` for
``--storm`` seconds (a throttling storm).

Measured: achieved rate, the highest number of send calls the fake received in any one-second window
(must never exceed the cap), 130429 refusals caused by our own pace, recovery after the storm (from its end
to the first accepted send), every message sent exactly once, peak RSS.

    python3 bench/outbound.py                       # 5,000 replies, cap 80/s, 5 s storm
    python3 bench/outbound.py --messages 500 --storm 2
"""
import argparse
import bisect
import collections
import sys
import time

import _common as c

SETUP = """
import datetime
from odoo import fields
account = env["messenger.account"].browse(%(account)d)
admin = env.ref("base.user_admin")
now = fields.Datetime.now()
conversations = env["messenger.conversation"].with_context(tracking_disable=True).create([{
    "account_id": account.id, "external_user_id": "3248%%07d" %% (2000000 + i), "profile_name": "Reply %%d" %% i,
    "last_inbound_at": now, "window_expires_at": now + datetime.timedelta(hours=23),
} for i in range(%(conversations)d)])
env["messenger.message"].create([{
    "conversation_id": conversations[i %% len(conversations)].id, "direction": "out", "state": "queued",
    "body": "Bench reply %%06d" %% i, "content_type": "text", "author_id": admin.id,
} for i in range(%(messages)d)])
env.cr.commit()
env["messenger.message"]._trigger_sender()
env.cr.commit()
emit({"ok": True})
"""


class StormyWhatsApp(c.fakes.FakeWhatsApp):
    """The fake Cloud API, recording when each send call arrived, able to refuse everything for a while."""

    def _clear(self):
        super()._clear()
        self.calls = []          # monotonic arrival time of every send call
        self.refused = collections.Counter()
        self.storm = None        # (start, end) monotonic

    def start_storm(self, seconds):
        with self._lock:
            now = time.monotonic()
            self.storm = (now, now + seconds)

    def _send(self, request):
        now = time.monotonic()
        with self._lock:
            self.calls.append(now)
            storm = self.storm
        if storm and storm[0] <= now < storm[1]:
            with self._lock:
                self.refused["storm"] += 1
            return c.fakes._reply(429, c.fakes.wa_error_body(130429, "(#130429) Rate limit hit",
                                                             details="Throttling storm (bench)"),
                                  headers={"Retry-After": "1"})
        answer = super()._send(request)
        if answer[0] != 200:
            with self._lock:
                self.refused[answer[0]] += 1
        return answer


def max_in_window(times, width=1.0):
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + width) - i)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--cap", type=int, default=80, help="fake's per-number cap, msg/s (80)")
    parser.add_argument("--storm", type=float, default=5.0, help="seconds of 429 answers mid-run (5)")
    parser.add_argument("--storm-at", type=float, default=0.4, help="storm starts after this share was sent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    c.free_port_check(args.port)

    fake = StormyWhatsApp(phone_number_id=c.WA_PHONE_ID, access_token=c.WA_TOKEN, rate_cap=args.cap,
                          rate_limit_status=429).start()
    db = c.fresh_db("bench_outbound")
    account = c.setup_wa_account(db, base_url=fake.url, retry_delay=1, max_attempts=5)
    server = c.OdooServer(db, args.port, workers=args.workers, name="outbound")
    storm_window = None
    try:
        with server, c.RssSampler(server) as rss:
            c.log(f"queueing {args.messages} replies ...")
            c.shell(db, SETUP % {"account": account["id"], "conversations": args.conversations,
                                 "messages": args.messages})
            started = time.monotonic()
            deadline = started + args.timeout
            storm_done = args.storm <= 0
            while time.monotonic() < deadline:
                accepted = len(fake.sent)
                if not storm_done and accepted >= args.messages * args.storm_at:
                    c.log(f"storm: every send answered 429 for {args.storm}s (after {accepted} accepted)")
                    fake.start_storm(args.storm)
                    storm_window = fake.storm
                    storm_done = True
                (left,), = c.sql(db, "SELECT count(*) FROM messenger_message WHERE state IN ('queued', 'sending')")
                if not left:
                    break
                time.sleep(0.1)
            finished = time.monotonic()
    finally:
        fake.stop()

    sent = fake.sent
    bodies = collections.Counter(item["text"] for item in sent)
    expected = {f"Bench reply {i:06d}" for i in range(args.messages)}
    duplicates = sum(n - 1 for n in bodies.values() if n > 1)
    missing = len(expected - set(bodies))
    states = dict(c.sql(db, "SELECT state, count(*) FROM messenger_message GROUP BY state"))
    calls = fake.calls
    first, last_accept = calls[0], max(calls)
    rate = len(sent) / (last_accept - first)
    recovery = None
    if storm_window:
        after = [t for t in calls if t >= storm_window[1]]
        recovery = (after[0] - storm_window[1]) if after else None
    storm_refusals = fake.refused.get("storm", 0)
    cap_refusals = sum(v for k, v in fake.refused.items() if k != "storm")

    print(f"\nOutbound: {args.messages} queued replies to {args.conversations} people, fake cap {args.cap} msg/s, "
          f"{args.storm}s storm of 429; Odoo prefork --workers={args.workers} --max-cron-threads=1\n"
          f"Machine: {c.machine()}\n")
    print(c.table(
        ["replies", "send calls", "achieved msg/s", "max calls in any 1 s", "cap", "refused over cap",
         "storm 429s", "recovery after storm s", "sent once", "missing", "duplicates", "Odoo states",
         "total s", "peak RSS worker", "peak RSS all"],
        [[args.messages, len(calls), f"{rate:.1f}", max_in_window(calls), args.cap, cap_refusals, storm_refusals,
          "-" if recovery is None else f"{recovery:.2f}", len(bodies), missing, duplicates,
          " ".join(f"{k}={v}" for k, v in sorted(states.items())), f"{finished - started:.1f}",
          c.mib(rss.peak_worker), c.mib(rss.peak_total)]]))
    ok = not missing and not duplicates and max_in_window(calls) <= args.cap and states.get("sent") == args.messages
    print("\nOK" if ok else "\nFAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
