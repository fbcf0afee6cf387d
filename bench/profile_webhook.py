#!/usr/bin/env python3
"""Profile the webhook request path (cProfile + SQL count) through Odoo's real WSGI application in one process.

    python3 bench/profile_webhook.py --requests 300
"""
import argparse

import _common as c

PROFILE = r"""
import cProfile, io, pstats, time
import odoo
from werkzeug.test import Client
import sys
sys.path.insert(0, %(tools)r)
import messenger_fakes as fakes
from odoo.sql_db import Cursor

env.cr.commit()
account = env["messenger.account"].browse(%(account)d)
key = account.webhook_key
client = Client(odoo.http.root)
bodies = []
for i in range(2 * %(n)d + 20):
    payload = fakes.wa_text_payload("3247%%07d" %% (1000000 + i %% 50), "Profile %%d" %% i, wamid="wamid.PW%%07d" %% i,
                                    phone_number_id=account.sudo().wa_phone_number_id)
    body = fakes.body_bytes(payload)
    bodies.append((body, fakes.wa_signature(body, %(secret)r)))
def post(body, sig):
    r = client.post("/messenger/webhook/" + key, data=body,
                    headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
    assert r.status_code == 200, (r.status_code, r.get_data()[:300])
for body, sig in bodies[:20]:
    post(body, sig)   # warm-up
# first without the profiler: wall and CPU time of this process per request (PostgreSQL's work not included)
wall, cpu = time.perf_counter(), time.process_time()
for body, sig in bodies[20 + %(n)d:]:
    post(body, sig)
plain = {"wall_ms": 1000 * (time.perf_counter() - wall) / %(n)d, "cpu_ms": 1000 * (time.process_time() - cpu) / %(n)d}
queries = [0]
_execute = Cursor.execute
def counting(self, *a, **kw):
    queries[0] += 1
    return _execute(self, *a, **kw)
Cursor.execute = counting
prof = cProfile.Profile()
started = time.perf_counter()
prof.enable()
for body, sig in bodies[20:20 + %(n)d]:
    post(body, sig)
prof.disable()
seconds = time.perf_counter() - started
out = io.StringIO()
pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(%(top)d)
tt = io.StringIO()
pstats.Stats(prof, stream=tt).sort_stats("tottime").print_stats(20)
emit({**plain, "ms": 1000 * seconds / %(n)d, "queries": queries[0] / %(n)d, "cumulative": out.getvalue()[-14000:],
      "tottime": tt.getvalue()[-5000:]})
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=70)
    args = parser.parse_args()
    db = c.fresh_db("bench_profile_http")
    account = c.setup_wa_account(db)
    result = c.shell(db, PROFILE % {"tools": str(c.ROOT / "tools"), "account": account["id"], "n": args.requests, "secret": c.APP_SECRET,
                                    "top": args.top})
    print(f"=== webhook request: {result['wall_ms']:.2f} ms ({result['cpu_ms']:.2f} ms of CPU in Odoo's process) "
          f"without the profiler; {result['ms']:.1f} ms under cProfile; {result['queries']:.1f} queries per request")
    print(result["tottime"])
    print(result["cumulative"])


if __name__ == "__main__":
    main()
