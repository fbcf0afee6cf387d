#!/usr/bin/env python3
"""Screenshots of a running Odoo as a logged-in user sees it (headless Chromium, DevTools protocol).

    .venv/bin/python tools/screenshot.py --url http://localhost:8069 --login admin --password admin \
        --out /tmp/shots "/odoo/action-messenger_connector.action_messenger_conversation" ...

Each path is opened after logging in; the page is captured once the web client has been idle for a moment.
Needs Debian's chromium and websocket-client (one of Odoo's requirements).
"""
import argparse
import base64
import json
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import requests
import websocket


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def login(url, db, user, password, lang=None):
    session = requests.Session()
    payload = {"jsonrpc": "2.0", "method": "call", "params": {"db": db, "login": user, "password": password}}
    answer = session.post(f"{url}/web/session/authenticate", json=payload, timeout=30).json()
    if answer.get("error"):
        raise SystemExit(f"login as {user} failed: {answer['error'].get('data', {}).get('message')}")
    if lang:
        # through the server (not SQL): it forgets the user's cached context, so the next page is in that language
        params = {"model": "res.users", "method": "write", "args": [[answer["result"]["uid"]], {"lang": lang}],
                  "kwargs": {}}
        answer = session.post(f"{url}/web/dataset/call_kw", json={"jsonrpc": "2.0", "params": params},
                              timeout=30).json()
        if answer.get("error"):
            raise SystemExit(f"setting the language {lang} failed: {answer['error'].get('data', {}).get('message')}")
    return session.cookies.get("session_id")


class Browser:
    def __init__(self, width, height):
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="mc-chrome-")
        self.proc = subprocess.Popen([
            shutil.which("chromium") or "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={self.profile}", f"--remote-debugging-port={self.port}",
            f"--window-size={width},{height}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=1))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.1)
        else:
            raise SystemExit("chromium did not start")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.ids = 0

    def call(self, method, **params):
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="paths to open, e.g. /odoo/action-...; NAME=PATH names the file")
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="messenger_demo")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--lang", default=None, help="e.g. de_DE: set the user's language first")
    parser.add_argument("--out", default="/tmp/shots")
    parser.add_argument("--size", default="1400x900")
    parser.add_argument("--wait", type=float, default=2.5, help="seconds to let the page settle")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    session_id = login(args.url, args.db, args.login, args.password, args.lang)
    width, height = (int(v) for v in args.size.split("x"))
    browser = Browser(width, height)
    try:
        host = args.url.split("//", 1)[1].split(":")[0].split("/")[0]
        browser.call("Network.enable")
        browser.call("Network.setCookie", name="session_id", value=session_id, domain=host, path="/")
        for index, item in enumerate(args.paths, 1):
            # NAME=PATH: a name has no "/", a path's query may have "=" (?view_type=list)
            name, _, path = item.partition("=") if "/" not in item.partition("=")[0] else ("", "", item)
            name = name or f"shot{index:02d}"
            browser.call("Page.navigate", url=args.url + path)
            deadline = time.time() + 30
            while time.time() < deadline and browser.evaluate("document.readyState") != "complete":
                time.sleep(0.2)
            time.sleep(args.wait)
            data = browser.call("Page.captureScreenshot", format="png")["data"]
            target = out / f"{name}.png"
            target.write_bytes(base64.b64decode(data))
            print(target)
    finally:
        browser.close()


if __name__ == "__main__":
    main()
