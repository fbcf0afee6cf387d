#!/usr/bin/env python3
"""Inbound benchmark: signed WhatsApp webhooks from 1, 8 and 32 concurrent senders against a real Odoo 18.

For each concurrency level, on a fresh database: ``--messages`` distinct text messages from ``--senders``
people, plus ``--redeliveries`` (a fraction) of them posted a second time, byte for byte (Meta redelivers),
shuffled. Measured: acknowledged requests per second, ack latency p50/p95/p99 (client side, connect to
last byte), time until every message is processed and visible in the Discuss chat of its conversation (never
copied into its contact's chatter, which every employee may read), peak RSS of the Odoo processes; then checked: nothing lost, nothing doubled.

Then the processing capacity: on a fresh database the same kind of corpus is stored with the processing cron
held, then processed with nothing else running (the end-to-end rate of a level is bounded by its senders: one
sender delivers about 50 per second, however fast the processing).

With ``--known-drain``, a second backlog from the same senders follows on that database: the processing of
messages from people whose conversations exist, without the first contacts.

Then the end-to-end latency: on a fresh database, one message every 1/``--e2e-rate`` seconds (10 per second)
for ``--e2e-seconds``; for each, the time from the webhook's 200 to the message being readable by the agent
(stored and posted in the conversation's chat, committed: seen by another connection polling every 20 ms);
p50 and p95.

Then the ceiling of the platform itself: the same number of ``message_post`` calls on the same contacts
through the same Odoo (``odoo-bin shell`` on the same database, one commit per post like the processing
cron's commit per group of events), and the ratios processed rate / ceiling rate.

    python3 bench/inbound.py                      # 10,000 messages, 500 senders, 10% redeliveries, 1/8/32
    python3 bench/inbound.py --messages 500 --concurrency 8
    python3 bench/inbound.py --messages 200 --senders 20 --concurrency 4 --workers 2 --e2e-seconds 10 \
        --no-drain --no-ceiling                  # a quick check that everything runs
"""
import argparse
import contextlib
import random
import sys
import threading
import time

import _common as c


def build_corpus(n_messages, n_senders, redeliver, seed, tag):
    """[(wamid, body bytes, headers)] in posting order: each message once, ``redeliver`` of them twice."""
    rng = random.Random(seed)
    senders = [f"3247{1000000 + i:07d}" for i in range(n_senders)]
    originals = []
    for i in range(n_messages):
        wa_id = senders[i % n_senders]
        wamid = f"wamid.BENCH{tag}{i:07d}"
        payload = c.fakes.wa_text_payload(wa_id, f"Bench message {i} from {wa_id}: is item {i % 97} in stock?",
                                          wamid=wamid, name=f"Sender {i % n_senders}",
                                          phone_number_id=c.WA_PHONE_ID, timestamp=1732000000 + i)
        body = c.fakes.body_bytes(payload)
        originals.append((wamid, body, c.wa_headers(body)))
    order = list(originals)
    rng.shuffle(order)
    # Redeliveries: some right after the original (concurrent duplicates), the others later on.
    for index in rng.sample(range(n_messages), int(n_messages * redeliver)):
        original = order[index]
        position = index + 1 + (rng.randrange(3) if rng.random() < 0.3 else rng.randrange(n_messages - index))
        order.insert(min(position, len(order)), original)
    return order


def post_all(url, corpus, concurrency):
    """Post the corpus from ``concurrency`` threads; a non-200 answer is retried like Meta does."""
    latencies, statuses, errors = [], {}, []
    lock = threading.Lock()
    cursor = iter(range(len(corpus)))

    def sender():
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            _wamid, body, headers = corpus[index]
            for attempt in range(5):
                try:
                    status, _data, seconds = c.http_post(url, body, headers)
                except OSError as exc:
                    status, seconds = f"{type(exc).__name__}", None
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if seconds is not None:
                        latencies.append(seconds)
                if status == 200:
                    break
                time.sleep(0.2 * (attempt + 1))
            else:
                with lock:
                    errors.append(index)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses, errors


def processed_count(db, account_id):
    """(messages stored and posted in their chat, events not yet done)."""
    (posted,), = c.sql(db, """SELECT count(*) FROM messenger_message
                               WHERE account_id = %s AND direction = 'in' AND mail_message_id IS NOT NULL""",
                       [account_id])
    (pending,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE account_id = %s AND state != 'done'",
                        [account_id])
    return posted, pending


def verify(db, account_id, expected_wamids):
    """Lost / duplicated counts, checked on the messages, the events and the posts (one in the conversation's
    Discuss chat, none in the contact's chatter)."""
    rows = c.sql(db, """SELECT external_id, count(*) FROM messenger_message
                         WHERE account_id = %s AND direction = 'in' GROUP BY external_id""", [account_id])
    stored = {wamid: count for wamid, count in rows}
    lost = len(expected_wamids - set(stored))
    doubled = sum(count - 1 for count in stored.values() if count > 1) + len(set(stored) - expected_wamids)
    (conv_posts,), = c.sql(db, """SELECT count(*) FROM mail_message m
                                    JOIN messenger_conversation conv ON conv.channel_id = m.res_id
                                  WHERE m.model = 'discuss.channel' AND m.message_type = 'comment'
                                    AND m.body LIKE '%%Bench message %%'""")
    (partner_posts,), = c.sql(db, """SELECT count(*) FROM mail_message m
                                     WHERE m.model = 'res.partner' AND m.message_type = 'comment'
                                       AND m.body LIKE '%%Bench message %%'""")
    (not_done,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE state != 'done'")
    (partners,), = c.sql(db, "SELECT count(DISTINCT partner_id) FROM messenger_conversation WHERE account_id = %s",
                         [account_id])
    (conversations,), = c.sql(db, "SELECT count(*) FROM messenger_conversation WHERE account_id = %s", [account_id])
    n = len(expected_wamids)
    return {"lost": lost, "doubled": doubled, "conv_chatter": conv_posts, "partner_chatter": partner_posts,
            "chatter_ok": conv_posts == n and partner_posts == 0, "events_not_done": not_done,
            "conversations": conversations, "partners": partners}


CEILING = """
import time
from odoo.tools import plaintext2html
partners = env["res.partner"].search([("id", "in", %(partner_ids)r)], order="id")
n = %(n)d
started = time.perf_counter()
for i in range(n):
    partner = partners[i %% len(partners)]
    partner.with_context(mail_create_nosubscribe=True).message_post(
        body=plaintext2html("Ceiling message %%d: is item %%d in stock?" %% (i, i %% 97)), author_id=partner.id,
        message_type="comment", subtype_xmlid="mail.mt_note")
    env.cr.commit()
emit({"seconds": time.perf_counter() - started, "n": n})
"""


def ceiling(db, account_id, n):
    partner_ids = [row[0] for row in c.sql(db, "SELECT DISTINCT partner_id FROM messenger_conversation "
                                               "WHERE account_id = %s AND partner_id IS NOT NULL", [account_id])]
    result = c.shell(db, CEILING % {"partner_ids": partner_ids, "n": n})
    return result["n"] / result["seconds"], result["seconds"]


def wait_processed(db, account_id, expected, timeout):
    """Wait until every expected message is processed and in the chatter; return the time it took."""
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        posted, pending = processed_count(db, account_id)
        if posted >= expected and not pending:
            break
        if time.perf_counter() > deadline:
            c.log(f"  timeout: {posted} processed, {pending} events pending")
            break
        time.sleep(0.1)
    return time.perf_counter() - started


RELEASE_CRON = """
cron = env.ref(%(cron)r)
cron.active = True
cron._trigger()
env.cr.commit()
emit({"ok": True})
"""


def run_e2e(args):
    """End-to-end latency at a steady rate: from each webhook's 200 to its message being readable by the agent."""
    db = c.fresh_db("bench_inbound_e2e")
    account = c.setup_wa_account(db)
    count = int(args.e2e_rate * args.e2e_seconds)
    warm_up, *corpus = build_corpus(count + 1, min(args.senders, count), 0, seed=7, tag="E")
    acked, seen = {}, {}
    done = threading.Event()

    def watch():
        """Poll on its own connection: a message is readable once its processing committed."""
        with contextlib.closing(c.pg(db)) as conn, conn.cursor() as cr:
            last = 0
            while not done.is_set() or any(wamid not in seen for wamid in list(acked)):
                cr.execute("""SELECT id, external_id FROM messenger_message WHERE account_id = %s AND id > %s
                                 AND direction = 'in' AND mail_message_id IS NOT NULL ORDER BY id""",
                           [account["id"], last])
                now = time.perf_counter()
                for message_id, wamid in cr.fetchall():
                    seen.setdefault(wamid, now)
                    last = max(last, message_id)
                if done.is_set() and time.perf_counter() - finished[0] > args.timeout:
                    return
                time.sleep(0.02)

    finished = [None]
    server = c.OdooServer(db, args.port, workers=args.workers, name="inbound-e2e")
    with server:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        # one message first, until it is readable: the cron worker has run the jobs that were due at start
        c.http_post(url, warm_up[1], warm_up[2])
        wait_processed(db, account["id"], 1, args.timeout)
        watcher = threading.Thread(target=watch)
        watcher.start()
        c.log(f"end-to-end: {count} messages at {args.e2e_rate:g}/s ...")
        started = time.perf_counter()
        failures = 0
        for index, (wamid, body, headers) in enumerate(corpus):
            time.sleep(max(0.0, started + index / args.e2e_rate - time.perf_counter()))
            status, _data, _seconds = c.http_post(url, body, headers)
            if status == 200:
                acked[wamid] = time.perf_counter()
            else:
                failures += 1
        finished[0] = time.perf_counter()
        done.set()
        watcher.join()
    latencies = [seen[w] - acked[w] for w in acked if w in seen]
    result = {"messages": count, "rate": args.e2e_rate, "non_200": failures, "unseen": len(acked) - len(latencies),
              "p50": c.percentile(latencies, 50), "p95": c.percentile(latencies, 95),
              "max": max(latencies, default=float("nan"))}
    c.log(f"  {result}")
    return result


def run_drain(args):
    """Processing capacity: the same deliveries stored while the processing cron is held, then processed.

    The end-to-end rate of a level cannot exceed the rate at which its senders deliver (50/s for one sender):
    what the processing can do is measured on a backlog, with nothing else running, like the ceiling.
    """
    db = c.fresh_db("bench_inbound_drain")
    account = c.setup_wa_account(db)
    corpus = build_corpus(args.messages, args.senders, args.redeliveries, seed=99, tag="D")
    expected = {wamid for wamid, _b, _h in corpus}
    cron = "messenger_connector.ir_cron_process_events"
    (cron_id,), = c.sql(db, "SELECT res_id FROM ir_model_data WHERE module || '.' || name = %s", [cron])
    c.sql(db, "UPDATE ir_cron SET active = false WHERE id = %s", [cron_id])
    server = c.OdooServer(db, args.port, workers=args.workers, name="inbound-drain")
    with server, c.RssSampler(server) as rss:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        c.log(f"drain: storing {len(corpus)} webhooks ({len(expected)} distinct) with the processing cron held ...")
        post_seconds, latencies, statuses, errors = post_all(url, corpus, max(args.concurrency))
        (pending,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE account_id = %s AND state = 'pending'",
                            [account["id"]])
        c.log(f"  stored {pending} events {statuses}; releasing the cron ...")
        # released like the addon wakes it: ir.cron._trigger(), whose notification is sent after the commit
        c.shell(db, RELEASE_CRON % {"cron": cron})
        seconds = wait_processed(db, account["id"], len(expected), args.timeout)
        check = verify(db, account["id"], expected)
        c.log(f"  processed in {seconds:.1f}s; {check}")
        known = run_known_drain(args, db, server, account, cron_id, cron, len(expected)) if args.known_drain else None
    if known:
        check = verify(db, account["id"], expected | known.pop("expected"))
    return {"db": db, "account": account["id"], "events": pending, "distinct": len(expected), "seconds": seconds,
            "concurrency": max(args.concurrency), "acks_per_s": len(latencies) / post_seconds,
            "p50": c.percentile(latencies, 50), "p99": c.percentile(latencies, 99),
            "rate": len(expected) / seconds, "unacked": len(errors), "peak_worker": rss.peak_worker,
            "peak_total": rss.peak_total, "known": known, **check}


def run_known_drain(args, db, server, account, cron_id, cron, processed_before):
    """A second backlog of the same size from the same senders, whose conversations now exist (the usual case
    once a company has been answering for a while): what the processing does per message without first
    contacts (contact, conversation, chat and its members, consent record made for each new person)."""
    c.sql(db, "UPDATE ir_cron SET active = false WHERE id = %s", [cron_id])
    time.sleep(3)  # a run that started before keeps looking for new events for a second
    corpus = build_corpus(args.messages, args.senders, args.redeliveries, seed=98, tag="K")
    expected = {wamid for wamid, _b, _h in corpus}
    c.log(f"known senders: storing {len(corpus)} webhooks ({len(expected)} distinct) with the processing cron held ...")
    post_all(f"{server.url}/messenger/webhook/{account['key']}", corpus, max(args.concurrency))
    (pending,), = c.sql(db, "SELECT count(*) FROM messenger_event WHERE account_id = %s AND state = 'pending'",
                        [account["id"]])
    held = pending == len(expected)
    c.log(f"  stored {pending} events (cron {'held' if held else 'NOT held: the figure is not valid'}); releasing ...")
    c.shell(db, RELEASE_CRON % {"cron": cron})
    seconds = wait_processed(db, account["id"], processed_before + len(expected), args.timeout)
    c.log(f"  processed in {seconds:.1f}s")
    return {"expected": expected, "distinct": len(expected), "seconds": seconds, "rate": len(expected) / seconds,
            "held": held}


def run_level(args, concurrency, corpus_tag):
    db = c.fresh_db(f"bench_inbound_{concurrency}")
    account = c.setup_wa_account(db)
    corpus = build_corpus(args.messages, args.senders, args.redeliveries, seed=concurrency, tag=corpus_tag)
    expected = {wamid for wamid, _b, _h in corpus}
    server = c.OdooServer(db, args.port, workers=args.workers, name="inbound")
    with server, c.RssSampler(server) as rss:
        url = f"{server.url}/messenger/webhook/{account['key']}"
        c.log(f"{concurrency} senders: posting {len(corpus)} webhooks ({len(expected)} distinct) ...")
        started = time.perf_counter()
        post_seconds, latencies, statuses, errors = post_all(url, corpus, concurrency)
        c.log(f"  posted in {post_seconds:.1f}s {statuses}; waiting for processing ...")
        lag = wait_processed(db, account["id"], len(expected), args.timeout)
        processed_seconds = time.perf_counter() - started
    check = verify(db, account["id"], expected)
    c.log(f"  processed in {processed_seconds:.1f}s; {check}")
    return {
        "db": db, "account": account["id"], "concurrency": concurrency, "requests": len(corpus),
        "distinct": len(expected), "post_seconds": post_seconds, "acks_per_s": len(latencies) / post_seconds,
        "p50": c.percentile(latencies, 50), "p95": c.percentile(latencies, 95), "p99": c.percentile(latencies, 99),
        "non_200": sum(v for k, v in statuses.items() if k != 200), "unacked": len(errors),
        "processed_seconds": processed_seconds, "processed_rate": len(expected) / processed_seconds, "lag": lag,
        "peak_worker": rss.peak_worker, "peak_total": rss.peak_total, **check,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000, help="distinct messages per level (10000)")
    parser.add_argument("--senders", type=int, default=500, help="distinct WhatsApp users (500)")
    parser.add_argument("--redeliveries", type=float, default=0.10, help="fraction posted twice (0.10)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="levels (1 8 32)")
    parser.add_argument("--workers", type=int, default=4, help="Odoo HTTP workers (4)")
    parser.add_argument("--port", type=int, default=8090, help="HTTP port (8090; the gevent port is the next)")
    parser.add_argument("--timeout", type=int, default=1800, help="max seconds to wait for processing")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the message_post ceiling")
    parser.add_argument("--no-drain", action="store_true", help="skip the processing capacity run")
    parser.add_argument("--known-drain", action="store_true",
                        help="after the processing capacity run, a second backlog from the same (now known) senders")
    parser.add_argument("--e2e-rate", type=float, default=10.0, help="end-to-end run: messages per second (10)")
    parser.add_argument("--e2e-seconds", type=float, default=60.0, help="end-to-end run: seconds (60)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end latency run")
    args = parser.parse_args()
    c.free_port_check(args.port)

    results = [run_level(args, level, corpus_tag=f"L{level}") for level in args.concurrency]
    drain = None if args.no_drain else run_drain(args)
    e2e = None if args.no_e2e else run_e2e(args)
    ceiling_rate = ceiling_seconds = None
    if not args.no_ceiling:
        last = drain or results[-1]
        c.log(f"ceiling: {last['distinct']} message_post calls on contacts in {last['db']} ...")
        ceiling_rate, ceiling_seconds = ceiling(last["db"], last["account"], last["distinct"])

    print(f"\nInbound: {args.messages} messages from {args.senders} senders + {args.redeliveries:.0%} redeliveries, "
          f"Odoo prefork --workers={args.workers} --max-cron-threads=1\nMachine: {c.machine()}\n")
    rows = []
    for r in results:
        ratio = f"{r['processed_rate'] / ceiling_rate:.2f}x" if ceiling_rate else "-"
        rows.append([r["concurrency"], r["requests"], f"{r['acks_per_s']:.0f}",
                     f"{r['p50'] * 1000:.1f}", f"{r['p95'] * 1000:.1f}", f"{r['p99'] * 1000:.1f}",
                     r["non_200"], f"{r['processed_seconds']:.1f}", f"{r['lag']:.1f}", f"{r['processed_rate']:.0f}",
                     ratio, r["lost"], r["doubled"], "yes" if r["chatter_ok"] else "NO",
                     c.mib(r["peak_worker"]), c.mib(r["peak_total"])])
    print(c.table(["senders", "webhooks", "acks/s", "p50 ms", "p95 ms", "p99 ms", "non-200", "all processed s",
                   "after last ack s", "processed/s", "vs ceiling", "lost", "doubled", "in chatters",
                   "peak RSS worker", "peak RSS all"], rows))
    if drain:
        ratio = f"{drain['rate'] / ceiling_rate:.2f}x" if ceiling_rate else "-"
        print("\nProcessing capacity (the same deliveries stored first, with the processing cron held, then processed "
              "with nothing else running):\n")
        print(c.table(["senders", "acks/s", "p50 ms", "p99 ms", "events", "messages", "processed in s", "processed/s",
                       "vs ceiling", "lost", "doubled", "in chatters", "peak RSS worker", "peak RSS all"],
                      [[drain["concurrency"], f"{drain['acks_per_s']:.0f}", f"{drain['p50'] * 1000:.1f}",
                        f"{drain['p99'] * 1000:.1f}", drain["events"], drain["distinct"], f"{drain['seconds']:.1f}",
                        f"{drain['rate']:.0f}", ratio,
                        drain["lost"], drain["doubled"], "yes" if drain["chatter_ok"] else "NO",
                        c.mib(drain["peak_worker"]), c.mib(drain["peak_total"])]]))
    if drain and drain["known"]:
        known = drain["known"]
        ratio = f"{known['rate'] / ceiling_rate:.2f}x" if ceiling_rate else "-"
        print("\nProcessing capacity, known senders (a second backlog from the same senders, processed the same way):\n")
        print(c.table(["messages", "processed in s", "processed/s", "vs ceiling", "cron held while storing"],
                      [[known["distinct"], f"{known['seconds']:.1f}", f"{known['rate']:.0f}", ratio,
                        "yes" if known["held"] else "NO"]]))
    if e2e:
        print(f"\nEnd-to-end latency (the webhook's 200 to the message readable by the agent) at a steady "
              f"{e2e['rate']:g} messages/s:\n")
        print(c.table(["messages", "non-200", "not readable", "p50 ms", "p95 ms", "max ms"],
                      [[e2e["messages"], e2e["non_200"], e2e["unseen"], f"{e2e['p50'] * 1000:.0f}",
                        f"{e2e['p95'] * 1000:.0f}", f"{e2e['max'] * 1000:.0f}"]]))
    if ceiling_rate:
        print(f"\nCeiling: {(drain or results[-1])['distinct']} message_post on contacts (one commit each) in "
              f"{ceiling_seconds:.1f}s = {ceiling_rate:.0f}/s")
    results += [drain] if drain else []
    failed = any(r["lost"] or r["doubled"] or not r["chatter_ok"] or r["unacked"] for r in results)
    failed = failed or bool(drain and drain["known"] and not drain["known"]["held"])
    failed = failed or bool(e2e and (e2e["non_200"] or e2e["unseen"]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
