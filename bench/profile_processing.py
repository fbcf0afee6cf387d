#!/usr/bin/env python3
"""Profile the processing of stored webhook events (cProfile + SQL count) in ``odoo-bin shell``.

Stores ``--messages`` WhatsApp text deliveries from ``--senders`` people (as the webhook does), then runs the
processing cron's method under cProfile, one commit per event as in production, and prints the time per
event, the queries per event and the functions that cost most. Also profiles the ceiling loop
(``message_post`` on contacts) for comparison.

    python3 bench/profile_processing.py --messages 300 --senders 30
"""
import argparse

import _common as c

PROFILE = r"""
import cProfile, io, pstats, time
import sys
sys.path.insert(0, %(tools)r)
import messenger_fakes as fakes
from odoo.tools import plaintext2html
from odoo.sql_db import Cursor

account = env["messenger.account"].browse(%(account)d)
Event = env["messenger.event"]
provider = account._get_provider()
for i in range(%(n)d):
    wa_id = "3247%%07d" %% (1000000 + i %% %(senders)d)
    payload = fakes.wa_text_payload(wa_id, "Bench message %%d from %%s" %% (i, wa_id), wamid="wamid.PROF%%07d" %% i,
                                    name="Sender %%d" %% (i %% %(senders)d), phone_number_id=provider.phone_number_id)
    body = fakes.body_bytes(payload)
    Event._store(account, provider.delivery_key(body), body.decode())
env.cr.commit()

queries = [0]
_execute = Cursor.execute
def counting(self, *a, **kw):
    queries[0] += 1
    return _execute(self, *a, **kw)
Cursor.execute = counting

def profiled(label, func, n):
    queries[0] = 0
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    func()
    prof.disable()
    seconds = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(%(top)d)
    tottime = io.StringIO()
    pstats.Stats(prof, stream=tottime).sort_stats("tottime").print_stats(15)
    return {"label": label, "ms_per_item": 1000 * seconds / n, "queries_per_item": queries[0] / n,
            "cumulative": out.getvalue()[-12000:], "tottime": tottime.getvalue()[-5000:]}

def process_all():
    while Event.search_count([("state", "=", "pending")]):
        Event._cron_process()

first = profiled("processing (first message of each sender included)", process_all, %(n)d)
partners = env["res.partner"].search([("id", "in", env["messenger.conversation"].search([]).partner_id.ids)])
def ceiling():
    for i in range(%(n)d):
        partners[i %% len(partners)].with_context(mail_create_nosubscribe=True).message_post(
            body=plaintext2html("Ceiling %%d" %% i), author_id=partners[i %% len(partners)].id,
            message_type="comment", subtype_xmlid="mail.mt_note")
        env.cr.commit()
second = profiled("ceiling: message_post on a contact + commit", ceiling, %(n)d)
emit([first, second])
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--senders", type=int, default=30)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    db = c.fresh_db("bench_profile")
    account = c.setup_wa_account(db)
    results = c.shell(db, PROFILE % {"tools": str(c.ROOT / "tools"), "account": account["id"], "n": args.messages, "senders": args.senders,
                                     "top": args.top})
    for result in results:
        print(f"\n=== {result['label']}: {result['ms_per_item']:.1f} ms and {result['queries_per_item']:.1f} "
              f"queries per item")
        print(result["tottime"])
        print(result["cumulative"])


if __name__ == "__main__":
    main()
