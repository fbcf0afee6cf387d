#!/usr/bin/env python3
"""Discuss inbox: what an agent's Discuss start and a supervisor's search cost with many chats.

    BENCH_DB_PREFIX=mydb_ .venv/bin/python bench/discuss.py [--chats 2000] [--conversations 100000]

1. Discuss start: an agent who is a member of ``--chats`` messenger chats (one message each) opens Discuss; the
   requests the web client makes at start (``/mail/data`` with ``init_messaging``, then the channels) are timed
   on loopback, their median over 5 rounds (target: < 1 s of server time).
2. ``--conversations`` conversations in the database (rows inserted by SQL, without chats): the conversation
   list (first page, by last message) and a search by number written another way (``0170 …`` for
   ``+49170…``), as a Messenger manager, median over 5 rounds (target: < 200 ms).

A real Odoo 18 in prefork mode (bench/_common.py) on a fresh database without demo data.
"""
import argparse
import json
import statistics
import time

import requests

from _common import OdooServer, db_name, fresh_db, log, shell, table

SETUP = """
import time
from odoo.tests import new_test_user
from odoo.addons.messenger_connector.models.discuss_channel import BY_ADDON
started = time.time()
account = env["messenger.account"].create({"name": "Bench WhatsApp", "provider": "whatsapp",
                                           "wa_app_secret": "x", "audience_group_id": False})
agent = new_test_user(env, login="bench_agent", password="bench_agent_pw", name="Bench Agent",
                      groups="base.group_user,messenger_connector.group_messenger_user")
account.user_ids = agent
env.cr.commit()
Conversation = env["messenger.conversation"]
for start in range(0, %(chats)d, 250):
    partners = env["res.partner"].create([{"name": "Chat person %%05d" %% n} for n in range(start, min(start + 250, %(chats)d))])
    chats = Conversation.create([{"account_id": account.id, "external_user_id": "4917%%07d" %% (start + i),
                                  "phone": "+4917%%07d" %% (start + i), "partner_id": partner.id}
                                 for i, partner in enumerate(partners)])
    for chat in chats:
        chat.channel_id.with_context(messenger_channel_copy=BY_ADDON).message_post(
            body="Hello, is my order on its way?", author_id=chat.partner_id.id, message_type="comment",
            subtype_xmlid="mail.mt_comment")
    env.cr.commit()
members = env["discuss.channel.member"].search_count([("partner_id", "=", agent.partner_id.id),
                                                      ("channel_id.channel_type", "=", "messenger")])
# the rest of the conversations: rows only (the search does not look at chats)
env.cr.execute('''
    INSERT INTO messenger_conversation (account_id, provider, company_id, external_user_id, phone, name, state,
                                        last_message_at, create_date, write_date, create_uid, write_uid)
    SELECT %%s, 'whatsapp', %%s, '4930' || lpad(n::text, 8, '0'), '+4930' || lpad(n::text, 8, '0'),
           'Person ' || n, (ARRAY['waiting', 'answered', 'closed'])[1 + n %%%% 3],
           now() - (n || ' seconds')::interval, now(), now(), 1, 1
    FROM generate_series(1, %%s) AS n''', [account.id, account.company_id.id, max(0, %(conversations)d - %(chats)d)])
env.cr.execute("ANALYZE messenger_conversation")
env.cr.commit()
emit({"members": members, "conversations": Conversation.search_count([]), "seconds": time.time() - started})
"""


def timed(session, url, payload, rounds=5):
    times = []
    for _round in range(rounds + 1):  # the first round warms the worker's caches up
        started = time.perf_counter()
        response = session.post(url, json={"jsonrpc": "2.0", "method": "call", "params": payload}, timeout=120)
        elapsed = time.perf_counter() - started
        body = response.json()
        if "error" in body:
            raise SystemExit(json.dumps(body["error"])[:2000])
        times.append(elapsed)
    return statistics.median(times[1:]) * 1000, body["result"]


def login(url, db, user, password):
    session = requests.Session()
    answer = session.post(f"{url}/web/session/authenticate", json={
        "jsonrpc": "2.0", "params": {"db": db, "login": user, "password": password}}, timeout=60).json()
    if answer.get("error"):
        raise SystemExit(f"login {user}: {answer['error']}")
    return session


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=100000)
    parser.add_argument("--port", type=int, default=18420)
    parser.add_argument("--reuse", action="store_true", help="measure again on the database of the last run")
    args = parser.parse_args()
    if args.reuse:
        db = db_name("bench_discuss")
    else:
        db = fresh_db("bench_discuss")
        log(f"creating {args.chats} chats and {args.conversations} conversations ...")
        made = shell(db, SETUP % {"chats": args.chats, "conversations": args.conversations})
        log(f"data ready in {made['seconds']:.0f}s: the agent is in {made['members']} chats, "
            f"{made['conversations']} conversations")
    rows = []
    with OdooServer(db, args.port, workers=2, cron=0, name="discuss") as server:
        agent = login(server.url, db, "bench_agent", "bench_agent_pw")
        ms, result = timed(agent, f"{server.url}/mail/data", {"init_messaging": {}, "context": {}})
        rows.append(["Discuss start: /mail/data init_messaging (agent)", f"{ms:.0f} ms"])
        ms, result = timed(agent, f"{server.url}/mail/data", {"channels_as_member": True, "context": {}})
        loaded = len([c for c in result.get("discuss.channel", []) if c.get("channel_type") == "messenger"])
        rows.append([f"Discuss start: the agent's channels ({loaded} messenger chats)", f"{ms:.0f} ms"])
        admin = login(server.url, db, "admin", "admin")
        kwargs = {"specification": {"name": {}, "state": {}, "last_message_at": {}, "user_id": {"fields": {}}},
                  "limit": 80, "order": "last_message_at desc, id desc"}
        call = f"{server.url}/web/dataset/call_kw/messenger.conversation/web_search_read"
        ms, result = timed(admin, call, {"model": "messenger.conversation", "method": "web_search_read",
                                         "args": [], "kwargs": dict(kwargs, domain=[])})
        rows.append([f"Conversation list, first page of {result['length']}", f"{ms:.0f} ms"])
        ms, result = timed(admin, call, {"model": "messenger.conversation", "method": "web_search_read",
                                         "args": [], "kwargs": dict(kwargs, domain=[["number_search", "ilike",
                                                                                     "0049 30 0005 0000"]])})
        rows.append([f"Search by number '0049 30 0005 0000' ({result['length']} found)", f"{ms:.0f} ms"])
    print(table(["measure (median of 5, loopback)", "time"], rows))


if __name__ == "__main__":
    main()
