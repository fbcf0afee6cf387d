"""The webhook path, the processing wake-up and the route cache against a real running Odoo (``odoo-bin`` in a
subprocess, threaded and prefork), where requests really run in parallel on their own connections.

Needs Odoo 18 (``ODOO_HOME``, the folder of odoo-bin, run with this Python) and PostgreSQL (local socket or
PGHOST...). Skipped when ODOO_HOME is unset, except in CI (``CI=true``), where that is a failure.
Optional: ``MC_LIVE_TEMPLATE`` a database with the addon's dependencies installed (copied, never changed;
saves the install of crm and hr_recruitment), ``MC_LIVE_DB_PREFIX`` (default ``mc_live_<pid>``),
``MC_LIVE_PORTS`` a range such as ``8710-8749`` for the servers (default: any free port).
"""
import contextlib
import hashlib
import hmac
import http.client
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import xmlrpc.client

import pytest

import messenger_fakes as fakes

ROOT = pathlib.Path(__file__).resolve().parents[1]
ODOO_HOME = os.environ.get("ODOO_HOME")
PREFIX = os.environ.get("MC_LIVE_DB_PREFIX") or f"mc_live_{os.getpid()}"
OUT = pathlib.Path(os.environ.get("MC_LIVE_LOGDIR") or "/tmp")

if not ODOO_HOME and os.environ.get("CI") != "true":
    pytest.skip("ODOO_HOME is not set: the tests against a running Odoo are skipped", allow_module_level=True)

SECRET_A, SECRET_B = "live-app-secret-a", "live-app-secret-b"
MIB = 1024 * 1024


def _psql(db, query, params=None):
    import psycopg2  # noqa: PLC0415 - only these tests need it
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def _odoo(*args, timeout=900):
    cmd = [sys.executable, str(pathlib.Path(ODOO_HOME) / "odoo-bin"), f"--addons-path={_addons_path()}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]


def _addons_path():
    return ",".join([f"{ODOO_HOME}/addons", f"{ODOO_HOME}/odoo/addons", str(ROOT)])


def _createdb(name, template):
    subprocess.run(["dropdb", "--if-exists", "--force", name], check=True)
    subprocess.run(["createdb", "-T", template, name], check=True)


def _dropdb(name):
    subprocess.run(["dropdb", "--if-exists", "--force", name], check=False)


_TAKEN = set()


def _free_port_pair():
    """Two consecutive free ports (HTTP and the gevent port of prefork mode), from MC_LIVE_PORTS if given."""
    spec = os.environ.get("MC_LIVE_PORTS")
    if spec:
        low, high = (int(p) for p in spec.split("-"))
        candidates = range(low, high, 2)
    else:
        candidates = []
        for _ in range(20):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                candidates.append(sock.getsockname()[1])
    for port in candidates:
        if port in _TAKEN:
            continue
        try:
            for p in (port, port + 1):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        _TAKEN.add(port)
        return port
    raise RuntimeError("no free pair of ports")


class LiveOdoo:
    """``odoo-bin`` serving one database, in its own process group."""

    def __init__(self, db, mode, load_addon=False):
        self.db, self.mode = db, mode
        self.port = _free_port_pair()
        self.url = f"http://127.0.0.1:{self.port}"
        workers = ["--workers=2", "--max-cron-threads=1"] if mode == "prefork" else ["--workers=0",
                                                                                    "--max-cron-threads=1"]
        load = ["--load=base,web,messenger_connector"] if load_addon else []
        self.logfile = OUT / f"{PREFIX}-{db}.log"
        # the launcher leaves out prefork's websocket process where gevent cannot start (it would respawn forever)
        self.cmd = [sys.executable, str(ROOT / "tools" / "odoo_launcher.py"), f"--addons-path={_addons_path()}",
                    "-d", db, f"--db-filter=^{db}$", f"--http-port={self.port}", f"--gevent-port={self.port + 1}",
                    "--http-interface=127.0.0.1", *workers, *load, "--log-level=info",
                    f"--logfile={self.logfile}"]

    def start(self, timeout=180):
        with contextlib.suppress(FileNotFoundError):
            self.logfile.unlink()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"Odoo exited at start; see {self.logfile}"
            with contextlib.suppress(OSError):
                if request(self, "GET", "/web/health", timeout=5)[0] == 200:
                    # every worker loads the registry at its first request: do it before measuring anything
                    for _ in range(4):
                        request(self, "GET", "/web/login", timeout=60)
                    return self
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"Odoo did not answer within {timeout}s; see {self.logfile}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)

    def rpc(self, model, method, *args, **kwargs):
        common = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common")
        uid = common.authenticate(self.db, "admin", "admin", {})
        assert uid, "admin/admin does not log in"
        models = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", allow_none=True)
        return models.execute_kw(self.db, uid, "admin", model, method, list(args), kwargs)

    def errors(self):
        """Errors of the request path and of the addon (other jobs of the database are not ours)."""
        text = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        return [line for line in text.splitlines() if (" ERROR " in line or " CRITICAL " in line)
                and any(f" {name}" in line for name in ("odoo.http", "odoo.sql_db", "odoo.service", "werkzeug",
                                                         "odoo.addons.messenger_connector"))]


def request(server, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def signature(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_delivery(wa_id, text, wamid=None):
    return fakes.body_bytes(fakes.wa_text_payload(wa_id, text, wamid=wamid or f"wamid.{uuid.uuid4().hex}",
                                                  name="Live Customer"))


def post(server, key, body, secret, headers=None):
    return request(server, "POST", f"/messenger/webhook/{key}", body, {
        "Content-Type": "application/json", "X-Hub-Signature-256": signature(body, secret), **(headers or {})})[0]


# --- databases and servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def odoo_home():
    if not ODOO_HOME:
        pytest.fail("CI=true but ODOO_HOME is not set: the tests against a running Odoo must run in CI")
    return ODOO_HOME


@pytest.fixture(scope="session")
def base_template(odoo_home):
    """A database without the addon (its dependencies installed when MC_LIVE_TEMPLATE names one)."""
    given = os.environ.get("MC_LIVE_TEMPLATE")
    if given:
        yield given
        return
    name = f"{PREFIX}_base"
    _dropdb(name)
    subprocess.run(["createdb", name], check=True)
    _odoo("-d", name, "-i", "base", "--without-demo=all", "--stop-after-init", "--no-http",
          "--max-cron-threads=0", "--log-level=warn")
    yield name
    _dropdb(name)


@pytest.fixture(scope="session")
def addon_template(base_template):
    name = f"{PREFIX}_addon"
    _createdb(name, base_template)
    _odoo("-d", name, "-i", "messenger_connector", "--without-demo=all", "--stop-after-init", "--no-http",
          "--max-cron-threads=0", "--log-level=warn")
    yield name
    _dropdb(name)


@pytest.fixture(scope="module", params=["threaded", "prefork"])
def server(request, addon_template):
    db = f"{PREFIX}_{request.param}"
    _createdb(db, addon_template)
    # only the addon's jobs run (others, e.g. lead enrichment, would call the internet and busy the cron worker)
    _psql(db, """UPDATE ir_cron SET active = false WHERE id NOT IN (
                     SELECT res_id FROM ir_model_data WHERE module = 'messenger_connector' AND model = 'ir.cron')""")
    live = LiveOdoo(db, request.param).start()
    yield live
    live.stop()
    _dropdb(db)


@pytest.fixture
def account(server):
    """A WhatsApp account (App Secret SECRET_A) created over XML-RPC: {"id", "key"}."""
    account_id = server.rpc("messenger.account", "create", {
        "name": f"Live {uuid.uuid4().hex[:6]}", "provider": "whatsapp", "api_base_url": "http://127.0.0.1:9",
        "wa_phone_number_id": fakes.DEMO_WA_PHONE_NUMBER_ID, "wa_access_token": "live-token",
        "wa_app_secret": SECRET_A, "wa_verify_token": "live-verify"})
    key = server.rpc("messenger.account", "read", [account_id], ["webhook_key"])[0]["webhook_key"]
    return {"id": account_id, "key": key}


def event_rows(server, account_id):
    return _psql(server.db, "SELECT key FROM messenger_event WHERE account_id = %s", [account_id])


# --- the webhook path ----------------------------------------------------------------------------------------


def test_webhook_answers(server, account):
    key = account["key"]
    status, answer = request(server, "GET", f"/messenger/webhook/{key}?hub.mode=subscribe"
                                            "&hub.verify_token=live-verify&hub.challenge=8812")
    assert (status, answer) == (200, b"8812")
    body = wa_delivery("32470100001", "hello live", "wamid.LIVE1")
    assert post(server, key, body, SECRET_A) == 200
    assert post(server, key, body, SECRET_A) == 200, "a redelivery is answered 200"
    assert post(server, key, body, "wrong") == 403
    bad = b'{"object": "page"}'
    assert post(server, key, bad, SECRET_A) == 400
    assert post(server, "k" * 43, body, SECRET_A) == 404
    big = wa_delivery("32470100001", "x" * MIB, "wamid.LIVEBIG")
    assert post(server, key, big, SECRET_A) == 413
    assert len(event_rows(server, account["id"])) == 1
    assert not server.errors()


def test_chunked_body_refused(server, account):
    body = wa_delivery("32470100002", "chunked", "wamid.LIVECHUNK")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", f"/messenger/webhook/{account['key']}")
        for name, value in (("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"),
                            ("X-Hub-Signature-256", signature(body, SECRET_A))):
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        assert conn.getresponse().status == 411
    finally:
        conn.close()
    assert not event_rows(server, account["id"])


def test_concurrent_redeliveries_store_one_row(server, account):
    """The same delivery posted at once on 12 connections: 200 for each, one row (the unique constraint and
    ON CONFLICT decide between transactions that really run at the same time)."""
    bodies = [wa_delivery("32470100003", f"race {i}", f"wamid.RACE{i}") for i in range(3)]
    statuses = []
    barrier = threading.Barrier(12)

    def deliver(body):
        barrier.wait()
        statuses.append(post(server, account["key"], body, SECRET_A))

    threads = [threading.Thread(target=deliver, args=(bodies[i % 3],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12, statuses
    rows = sorted(row[0] for row in event_rows(server, account["id"]))
    assert len(rows) == 3 and len(set(rows)) == 3, rows
    assert not server.errors()


def test_processing_woken_at_once(server, account):
    """The processing cron runs at once after a delivery (its interval is minutes; the cron workers poll
    every minute): the trigger's notification wakes them."""
    body = wa_delivery("32470100004", "wake up", "wamid.WAKE")
    time.sleep(2)  # the cron worker's first round over the database's jobs, at start
    started = time.monotonic()
    assert post(server, account["key"], body, SECRET_A) == 200
    while time.monotonic() - started < 30:
        if _psql(server.db, "SELECT 1 FROM messenger_message WHERE external_id = 'wamid.WAKE'"):
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"the message was not processed within {elapsed:.0f}s"


def _wa_sender(server):
    """(account id, webhook key, field of the secret, deliver(secret) -> status) of a new WhatsApp account."""
    account_id = server.rpc("messenger.account", "create", {
        "name": f"Rotate {uuid.uuid4().hex[:6]}", "provider": "whatsapp", "api_base_url": "http://127.0.0.1:9",
        "wa_phone_number_id": fakes.DEMO_WA_PHONE_NUMBER_ID, "wa_access_token": "t", "wa_app_secret": SECRET_A})
    key = server.rpc("messenger.account", "read", [account_id], ["webhook_key"])[0]["webhook_key"]

    def deliver(secret):
        return post(server, key, wa_delivery("32470100005", "rotation"), secret)

    return account_id, "wa_app_secret", deliver


def _tg_sender(server):
    """The same for a new Telegram account (its webhook secret is sent in a header)."""
    account_id = server.rpc("messenger.account", "create", {
        "name": f"Rotate {uuid.uuid4().hex[:6]}", "provider": "telegram", "api_base_url": "http://127.0.0.1:9",
        "tg_bot_token": "100000:live-token", "tg_secret_token": SECRET_A})
    key = server.rpc("messenger.account", "read", [account_id], ["webhook_key"])[0]["webhook_key"]
    update_ids = iter(range(1, 10 ** 9))

    def deliver(secret):
        body = fakes.body_bytes(fakes.tg_update(next(update_ids), text="rotation", chat_id=515151))
        return request(server, "POST", f"/messenger/webhook/{key}", body, {
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})[0]

    return account_id, "tg_secret_token", deliver


@pytest.mark.parametrize("sender", [_wa_sender, _tg_sender], ids=["whatsapp", "telegram"])
def test_rotated_secret_works_at_once_during_deliveries(server, sender):
    """While deliveries keep arriving, the App Secret (WhatsApp) or webhook secret (Telegram) is rotated through
    the ORM in another request (in prefork, another process): from the moment the change is committed, the new
    secret is accepted and the old one refused, in every worker."""
    account_id, field, deliver = sender(server)
    stop = threading.Event()
    errors = []

    def keep_delivering(secret):
        while not stop.is_set():
            status = deliver(secret)
            if status not in (200, 403):
                errors.append(status)

    threads = [threading.Thread(target=keep_delivering, args=(s,)) for s in (SECRET_A, SECRET_B) * 3]
    for thread in threads:
        thread.start()
    try:
        current, old = SECRET_A, SECRET_B
        for _ in range(10):
            current, old = old, current
            server.rpc("messenger.account", "write", [account_id], {field: current})
            for _ in range(4):  # reaches every worker of a prefork server
                assert deliver(current) == 200, "the new secret is accepted at once"
                assert deliver(old) == 403, "the old secret is refused at once"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert not server.errors()


@pytest.fixture(scope="module")
def server_without_addon(base_template):
    """The addon loaded server-wide (--load) in front of a database where it is not installed."""
    db = f"{PREFIX}_noaddon"
    _createdb(db, base_template)
    live = LiveOdoo(db, "threaded", load_addon=True).start()
    yield live
    live.stop()
    _dropdb(db)


def test_database_without_the_addon_answers_404(server_without_addon):
    body = wa_delivery("32470100007", "nobody here")
    assert post(server_without_addon, "k" * 43, body, SECRET_A) == 404
    assert request(server_without_addon, "GET", "/messenger/webhook/" + "k" * 43)[0] == 404
    assert not server_without_addon.errors()


# --- the demo's "send as a customer" command -------------------------------------------------------------------


def test_send_as_customer_reaches_the_chat(server, tmp_path):
    """tools/send_as_customer.py finds the account over XML-RPC, signs, delivers; a media file is put on the fake
    platform the account talks to, from where processing downloads it."""
    with fakes.FakeWhatsApp(phone_number_id="100000000000777", access_token="tool-token") as wa_fake:
        name = f"Tool {uuid.uuid4().hex[:6]}"
        account_id = server.rpc("messenger.account", "create", {
            "name": name, "provider": "whatsapp", "api_base_url": wa_fake.url,
            "wa_phone_number_id": "100000000000777", "wa_access_token": "tool-token", "wa_app_secret": SECRET_A})
        photo = tmp_path / "table.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)

        def send(*args):
            return subprocess.run([sys.executable, str(ROOT / "tools" / "send_as_customer.py"), "whatsapp",
                                   "+32 470 55 66 77", *args, "--name", "Tool Tina", "--account", name,
                                   "--url", server.url, "--db", server.db], capture_output=True, text=True, timeout=60)

        text = send("Is the oak table in stock?")
        assert text.returncode == 0, text.stderr
        assert text.stdout.startswith("200 delivered")
        media = send("This one", "--media", str(photo))
        assert media.returncode == 0, media.stderr
        rows = _messages_once_media_done(server, account_id)
        assert [r[:2] for r in rows] == [("text", "Is the oak table in stock?"), ("image", "This one")], rows
        assert rows[1][2] == "done", "the photo was downloaded from the fake platform"
        wrong = send("refused", "--webhook-key", "k" * 43, "--secret", "nope")
        assert wrong.returncode == 1 and wrong.stdout.startswith("404 refused")


def _messages_once_media_done(server, account_id, timeout=120):
    """(content type, body, media state) of the account's messages, once two are stored and the second's media
    is downloaded (or the time is up: the server may still be processing an earlier test's backlog first, one
    message_post per message)."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = _psql(server.db, """SELECT content_type, body, media_state FROM messenger_message
                                   WHERE account_id = %s ORDER BY id""", [account_id])
        if len(rows) == 2 and rows[1][2] == "done":
            break
        time.sleep(0.3)
    return rows


def test_send_as_customer_on_telegram(server, tmp_path):
    with fakes.FakeTelegram(bot_token="100000:tool-token") as tg_fake:
        name = f"Tool {uuid.uuid4().hex[:6]}"
        account_id = server.rpc("messenger.account", "create", {
            "name": name, "provider": "telegram", "api_base_url": tg_fake.url, "tg_bot_token": "100000:tool-token",
            "tg_secret_token": SECRET_B})
        cv = tmp_path / "cv.pdf"
        cv.write_bytes(b"%PDF-1.4 my cv")
        command = [sys.executable, str(ROOT / "tools" / "send_as_customer.py"), "telegram", "717171", "/start JOB-3",
                   "--name", "Tom", "--account", name, "--url", server.url, "--db", server.db]
        sent = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        command[4] = "My CV"
        sent = subprocess.run(command + ["--media", str(cv)], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        rows = _messages_once_media_done(server, account_id)
        assert [r[:2] for r in rows] == [("text", "/start JOB-3"), ("document", "My CV")], rows
        assert rows[1][2] == "done", "the file was downloaded from the fake platform"
