"""Shared plumbing of the bench and fault scripts: databases, an Odoo 18 subprocess, RSS sampling, fakes, tables.

Everything runs on loopback against a real Odoo 18 with the addon installed without demo data:

- ``fresh_db(name)``: a new ``bench_*`` database (``BENCH_DB_PREFIX`` instead of ``bench_``; ``BENCH_BASE_DB``:
  a database with the addon's dependencies to start the template from) copied from a template database
  (``bench_tpl_<hash>``)
  on which the addon was installed once with ``--without-demo=all``; the template is rebuilt whenever the
  addon's source changes, so every run starts from a freshly installed addon;
- ``OdooServer``: ``odoo-bin`` as a subprocess in prefork mode (``--workers=N --max-cron-threads=1``).
  Prefork is what a production server runs and the only mode where the webhook requests and the
  processing cron really run in parallel on the 2 cores (threaded mode shares one GIL between the HTTP
  threads and the cron thread); the cron worker is a separate process, which also lets us SIGKILL it;
- ``RssSampler``: peak RSS (psutil) of every Odoo process while a run lasts;
- ``shell(db, code)``: runs Python in ``odoo-bin shell`` (setup, ceiling measurements) and returns what the
  code passed to ``emit()``;
- the fake platforms of ``tools/messenger_fakes``, and the provider layer imported without Odoo.
"""
import contextlib
import hashlib
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import psycopg2

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: where messenger_connector is taken from (BENCH_ADDON_ROOT: another checkout, e.g. to measure a baseline)
ADDON_ROOT = pathlib.Path(os.environ.get("BENCH_ADDON_ROOT") or ROOT)
ADDON = ADDON_ROOT / "messenger_connector"
OUT = ROOT / "bench" / "out"

# The fake platforms, and the addon's provider layer imported without Odoo.
sys.path.insert(0, str(ROOT / "tools"))
import messenger_fakes as fakes  # noqa: E402
from messenger_fakes.provider_layer import import_providers  # noqa: E402

import_providers(ADDON)

APP_SECRET = "bench-app-secret"
WA_TOKEN = fakes.DEMO_WA_TOKEN
WA_PHONE_ID = fakes.DEMO_WA_PHONE_NUMBER_ID
TG_TOKEN = "100000:bench-telegram-token"
TG_SECRET = "bench-telegram-secret"


def odoo_home():
    home = os.environ.get("ODOO_HOME")
    if home:
        return pathlib.Path(home)
    out = subprocess.run([sys.executable, "-c", "import odoo, os; print(os.path.dirname(os.path.dirname(odoo.__file__)))"],
                         capture_output=True, text=True)
    if out.returncode == 0 and (pathlib.Path(out.stdout.strip()) / "odoo-bin").exists():
        return pathlib.Path(out.stdout.strip())
    for candidate in ("/work/odoo18", "/opt/odoo", "/usr/lib/python3/dist-packages"):
        if (pathlib.Path(candidate) / "odoo-bin").exists():
            return pathlib.Path(candidate)
    sys.exit("Odoo 18 not found: set ODOO_HOME to the folder holding odoo-bin")


ODOO_HOME = odoo_home()
ODOO_BIN = str(ODOO_HOME / "odoo-bin")
ADDONS_PATH = ",".join([str(ODOO_HOME / "addons"), str(ODOO_HOME / "odoo" / "addons"), str(ADDON_ROOT)])


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# --- PostgreSQL -------------------------------------------------------------------------------------


def pg(db):
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    return conn


def sql(db, query, params=None):
    with contextlib.closing(pg(db)) as conn, conn.cursor() as cr:
        cr.execute(query, params)
        return cr.fetchall() if cr.description else None


#: prefix of every bench database, instead of "bench_" (BENCH_DB_PREFIX: several people on one PostgreSQL)
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench_")


def db_name(name):
    """The database a script calls ``bench_<name>``, under this run's prefix."""
    return name if name.startswith(DB_PREFIX) else DB_PREFIX + name.removeprefix("bench_")


def _check_name(name):
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"bench databases must start with {DB_PREFIX}: {name}")


def drop_db(name):
    name = db_name(name)
    _check_name(name)
    subprocess.run(["dropdb", "--if-exists", "--force", name], check=True)


def addon_hash():
    digest = hashlib.sha256()
    for path in sorted(ADDON.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".xml", ".csv"):
            digest.update(str(path.relative_to(ADDON)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def fresh_db(name):
    """Drop ``name`` and recreate it from the template with the addon freshly installed (no demo data)."""
    name = db_name(name)
    _check_name(name)
    template = db_name(f"bench_tpl_{addon_hash()}")
    existing = {row[0] for row in sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s",
                                      [db_name("bench_tpl_") + "%"])}
    for old in existing - {template}:
        drop_db(old)
    if template not in existing:
        log(f"installing messenger_connector (without demo data) into template {template} ...")
        started = time.time()
        if os.environ.get("BENCH_BASE_DB"):  # a database with the addon's dependencies: saves installing them
            subprocess.run(["createdb", "-T", os.environ["BENCH_BASE_DB"], template], check=True)
        out = subprocess.run(
            [sys.executable, ODOO_BIN, f"--addons-path={ADDONS_PATH}", "-d", template, "-i", "messenger_connector",
             "--without-demo=all", "--stop-after-init", "--no-http", "--max-cron-threads=0", "--log-level=warn"],
            capture_output=True, text=True)
        if out.returncode != 0 or "ERROR" in out.stderr:
            drop_db(template)
            sys.exit(f"installing the addon failed:\n{out.stderr[-4000:]}")
        log(f"template ready in {time.time() - started:.0f}s")
    drop_db(name)
    subprocess.run(["createdb", "-T", template, name], check=True)
    return name


# --- odoo-bin shell ---------------------------------------------------------------------------------

_SHELL_PRELUDE = """
import json as _json
def emit(value):
    print("BENCH_JSON:" + _json.dumps(value, default=str), flush=True)
"""


def shell(db, code, timeout=3600):
    """Run ``code`` in ``odoo-bin shell`` on ``db`` (``env`` is there; call ``emit(x)``; commit yourself)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(_SHELL_PRELUDE + code)
    try:
        with open(script.name) as stdin:
            out = subprocess.run(
                [sys.executable, ODOO_BIN, "shell", f"--addons-path={ADDONS_PATH}", "-d", db, "--no-http",
                 "--max-cron-threads=0", "--log-level=warn", "--shell-interface=python"],
                stdin=stdin, capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(script.name)
    results = [json.loads(line.removeprefix("BENCH_JSON:")) for line in out.stdout.splitlines()
               if line.startswith("BENCH_JSON:")]
    if not results or "Traceback" in out.stdout + out.stderr:
        sys.exit(f"odoo shell failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return results[-1]


SETUP_WA_ACCOUNT = """
account = env["messenger.account"].create({
    "name": "Bench WhatsApp", "provider": "whatsapp", "api_base_url": %(base_url)r,
    "wa_phone_number_id": %(phone_id)r, "wa_access_token": %(token)r, "wa_app_secret": %(secret)r,
    "retry_delay": %(retry_delay)r, "max_attempts": %(max_attempts)r,
})
env.cr.commit()
emit({"id": account.id, "key": account.webhook_key})
"""


def setup_wa_account(db, base_url="http://127.0.0.1:9", retry_delay=1, max_attempts=5):
    return shell(db, SETUP_WA_ACCOUNT % {"base_url": base_url, "phone_id": WA_PHONE_ID, "token": WA_TOKEN,
                                          "secret": APP_SECRET, "retry_delay": retry_delay,
                                          "max_attempts": max_attempts})


# --- the Odoo server --------------------------------------------------------------------------------


class OdooServer:
    """``odoo-bin`` in prefork mode on one database, in its own process group."""

    def __init__(self, db, port, workers=4, cron=1, name="odoo", extra=()):
        self.db, self.port, self.workers, self.cron, self.extra = db, port, workers, cron, list(extra)
        OUT.mkdir(parents=True, exist_ok=True)
        self.logfile = OUT / f"{name}-{db}.log"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=120):
        # The gevent (websocket) process of prefork mode listens on its own port: keep it in our range.
        cmd = [sys.executable, str(ROOT / "tools" / "odoo_launcher.py"), f"--addons-path={ADDONS_PATH}", "-d", self.db, f"--db-filter=^{self.db}$",
               f"--http-port={self.port}", f"--gevent-port={self.port + 1}", "--http-interface=127.0.0.1",
               f"--workers={self.workers}", f"--max-cron-threads={self.cron}",
               "--limit-time-real=600", "--limit-time-cpu=600", "--limit-time-real-cron=600",
               "--log-level=warn", "--log-handler=odoo.addons.messenger_connector:INFO", *self.extra]
        env = dict(os.environ, PYTHONUNBUFFERED="1", BENCH_ODOO_HOME=str(ODOO_HOME))
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"Odoo exited at start (code {self.proc.returncode}); see {self.logfile}")
            try:
                status, _body = http_get(self.url + "/web/health", timeout=2)
                if status == 200 and len(self.processes()) >= 1 + self.workers + self.cron:
                    self.warm_up()
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        sys.exit(f"Odoo did not answer on {self.url} within {timeout}s; see {self.logfile}")

    def warm_up(self, rounds=5):
        """Load the registry in every HTTP worker (each loads it at its first request) before measuring."""
        def get():
            with contextlib.suppress(OSError):
                http_get(self.url + "/messenger/webhook/warm-up-" + "x" * 40, timeout=60)
        for _round in range(rounds):
            threads = [threading.Thread(target=get) for _ in range(self.workers * 2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def processes(self):
        """psutil.Process of the server and all its children (HTTP workers, cron worker, gevent)."""
        try:
            main = psutil.Process(self.proc.pid)
            return [main] + main.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def cron_pids(self):
        """PIDs of the cron worker(s): the children whose parent is the main process and that hold no listen socket."""
        return [p.pid for p in self.processes()[1:] if p.ppid() == self.proc.pid and "gevent" not in " ".join(p.cmdline())
                and not any(c.status == psutil.CONN_LISTEN for c in _connections(p))][: self.cron]

    def kill(self, sig=signal.SIGKILL):
        """Kill the whole process group at once (main process, workers, gevent) like a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)
        self._close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group (gevent, workers)
        self._close()

    def _close(self):
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _connections(process):
    try:
        return process.net_connections(kind="tcp") if hasattr(process, "net_connections") else process.connections("tcp")
    except (psutil.Error, OSError):
        return []


class RssSampler:
    """Samples the RSS of every process of an OdooServer; ``peak_worker`` (one process) and ``peak_total``."""

    def __init__(self, server, interval=0.2):
        self.server, self.interval = server, interval
        self.peak_worker = self.peak_total = 0
        self._stop = threading.Event()
        self._thread = None

    def sample(self):
        total = 0
        for proc in self.server.processes():
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            if proc.pid != self.server.proc.pid:
                self.peak_worker = max(self.peak_worker, rss)
        self.peak_total = max(self.peak_total, total)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def mib(value):
    return f"{value / 1024 / 1024:.0f} MiB"


# --- HTTP client ------------------------------------------------------------------------------------


def http_get(url, timeout=10):
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(url, body, headers, timeout=30):
    """POST on a new connection (Odoo answers HTTP/1.0 and closes); (status, body bytes, seconds)."""
    host, port, path = _split(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started
    finally:
        conn.close()


def _split(url):
    rest = url.split("://", 1)[1]
    hostport, _sep, path = rest.partition("/")
    host, _sep, port = hostport.partition(":")
    return host, int(port or 80), "/" + path


def wa_headers(body, secret=APP_SECRET):
    return {"Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, secret)}


# --- figures ----------------------------------------------------------------------------------------


def percentile(values, pct):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def table(headers, rows):
    """A Markdown table (also readable in a terminal)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells[1:]]
    return "\n".join(lines)


def machine():
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg_version = sql("postgres", "SHOW server_version")[0][0]
    odoo_version = subprocess.run([sys.executable, "-c", "import odoo.release as r; print(r.version)"],
                                  capture_output=True, text=True, cwd=str(ODOO_HOME)).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 1024 ** 3:.0f} GiB RAM, "
            f"Odoo {odoo_version}, PostgreSQL {pg_version}, Python {sys.version.split()[0]}")


def free_port_check(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of a previous run is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"port {port} is busy: choose another with --port")
