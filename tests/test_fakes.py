"""The fake servers and payload builders themselves: what other suites and the demo rely on."""
import concurrent.futures
import hashlib
import hmac
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

import messenger_fakes as fakes
from messenger_fakes import meta as meta_fakes
from messenger_fakes import wechat as wechat_fakes

ROOT = pathlib.Path(__file__).resolve().parents[1]
WA_AUTH = {"Authorization": f"Bearer {fakes.DEMO_WA_TOKEN}"}
WA_ID = "15551234567"


def _wa_text(**overrides):
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID, "type": "text",
            "text": {"preview_url": False, "body": "hi"}}
    body.update(overrides)
    return body


# --- lifecycle and recording ------------------------------------------------------------------------


def test_start_stop_and_context_manager():
    fake = fakes.FakeWhatsApp()
    assert fake.start() is fake and fake.start() is fake  # idempotent
    url = fake.url
    assert url.startswith("http://127.0.0.1:") and fake.port != 0
    assert requests.get(url + "/_fake/sent", timeout=5).json() == []
    fake.stop()
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_fake/sent", timeout=5)
    with fakes.FakeTelegram() as telegram:
        assert requests.post(f"{telegram.url}/bot{fakes.DEMO_TG_TOKEN}/getMe", timeout=5).json()["ok"] is True


def test_requests_are_recorded_and_copied(wa_fake):
    requests.post(f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages?debug=1", json=_wa_text(),
                  headers={**WA_AUTH, "X-Custom": "A"}, timeout=5)
    (recorded,) = wa_fake.requests
    assert (recorded.method, recorded.path, recorded.query) == (
        "POST", f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages", {"debug": "1"})
    assert recorded.headers["x-custom"] == "A" and recorded.json == _wa_text()
    wa_fake.requests.clear()
    assert len(wa_fake.requests) == 1
    requests.get(wa_fake.url + "/_fake/sent", timeout=5)
    assert len(wa_fake.requests) == 1  # admin calls are not recorded


def test_form_and_multipart_parsing(tg_fake):
    url = f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}"
    requests.post(url + "/sendMessage", data={"chat_id": "5", "text": "é & ="}, timeout=5)
    requests.post(url + "/sendDocument", data={"chat_id": "5", "caption": "c"},
                  files={"document": ('we"ird name.txt', b"a\r\n--b\r\n", "text/plain")}, timeout=5)
    form_request, multipart = tg_fake.requests
    assert form_request.form == {"chat_id": "5", "text": "é & ="}
    assert multipart.form == {"chat_id": "5", "caption": "c"}
    upload = multipart.files["document"]
    assert (upload.content, upload.content_type) == (b"a\r\n--b\r\n", "text/plain")
    assert [s["text"] for s in tg_fake.sent] == ["é & =", "c"]


def test_reset_restores_initial_state(wa_fake):
    wa_fake.fail_next(3, 500)
    wa_fake.close_window(WA_ID)
    wa_fake.add_media("1", b"x", "text/plain")
    wa_fake.rate_cap, wa_fake.delay = 1, 1
    wa_fake.reset()
    assert (wa_fake.requests, wa_fake.sent, wa_fake.media, wa_fake.rate_cap, wa_fake.delay) == ([], [], {}, None, 0)
    answer = requests.post(f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages", json=_wa_text(),
                           headers=WA_AUTH, timeout=5)
    assert answer.status_code == 200


def test_concurrent_sends_get_unique_ids(wa_fake):
    url = f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages"

    def send(i):
        return requests.post(url, json=_wa_text(text={"body": str(i)}), headers=WA_AUTH,
                             timeout=5).json()["messages"][0]["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(send, range(40)))
    assert len(set(ids)) == 40
    assert sorted(s["id"] for s in wa_fake.sent) == sorted(ids)


def test_fail_next_counts_and_shapes(tg_fake):
    tg_fake.fail_next(2, 429, fakes.tg_error_body(429, "Too Many Requests: retry after 5", retry_after=5),
                      headers={"X-Test": "1"})
    url = f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}/sendMessage"
    answers = [requests.post(url, json={"chat_id": 1, "text": "x"}, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 5",
                                 "parameters": {"retry_after": 5}}
    assert answers[0].headers["X-Test"] == "1"
    assert len(tg_fake.sent) == 1


def test_admin_endpoints(wa_fake, tg_fake):
    post = lambda fake, action, **kw: requests.post(f"{fake.url}/_fake/{action}", json=kw, timeout=5)  # noqa: E731
    assert post(wa_fake, "fail_next", n=1, http_status=503, body_dict={"error": {"code": 2}}).json() == {"ok": True}
    assert post(wa_fake, "close_window", wa_id="+" + WA_ID).status_code == 200
    assert post(wa_fake, "close_window", wa_id=WA_ID, mode="later").status_code == 400
    assert post(wa_fake, "stop").status_code == 404  # only whitelisted actions
    assert post(wa_fake, "nope").status_code == 404
    url = f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages"
    assert requests.post(url, json=_wa_text(), headers=WA_AUTH, timeout=5).status_code == 503
    assert requests.post(url, json=_wa_text(), headers=WA_AUTH, timeout=5).json()["error"]["code"] == 131047
    post(wa_fake, "open_window", wa_id=WA_ID)
    assert requests.post(url, json=_wa_text(), headers=WA_AUTH, timeout=5).status_code == 200
    assert requests.get(wa_fake.url + "/_fake/sent", timeout=5).json()[0]["to"] == WA_ID
    assert len(requests.get(wa_fake.url + "/_fake/requests", timeout=5).json()) == 3
    post(wa_fake, "reset")
    assert wa_fake.sent == []

    post(tg_fake, "block", chat_id=9)
    answer = requests.post(f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}/sendMessage", json={"chat_id": 9, "text": "x"},
                           timeout=5)
    assert (answer.status_code, answer.json()["description"]) == (403, "Forbidden: bot was blocked by the user")
    post(tg_fake, "unblock", chat_id="9")
    assert not tg_fake.blocked


# --- WhatsApp fake ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "demo-wa-token"}])
def test_wa_token_checked(wa_fake, headers):
    for method, path in (("POST", f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages"),
                         ("GET", f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}"), ("GET", "/media-download/1")):
        answer = requests.request(method, wa_fake.url + path, json=_wa_text(), headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == 190 and answer.json()["error"]["type"] == "OAuthException"
    assert wa_fake.sent == []


@pytest.mark.parametrize("body", [
    [], "x", _wa_text(messaging_product="sms"), _wa_text(to=""), _wa_text(to="abc"), _wa_text(to=15551234567),
    _wa_text(recipient_type="group"), _wa_text(type="fax"), _wa_text(text="hi"), _wa_text(text={"body": ""}),
    _wa_text(text={"body": "x" * 4097}), _wa_text(text={"body": "x", "preview_url": "no"}),
    _wa_text(context={"message_id": 1}),
    _wa_text(type="template", template={"language": {"code": "en"}}),
    _wa_text(type="template", template={"name": "t"}),
    _wa_text(type="template", template={"name": "t", "language": {"code": "en"}, "components": [{"type": "x"}]}),
    _wa_text(type="template", template={"name": "t", "language": {"code": "en"},
                                        "components": [{"type": "body", "parameters": ["x"]}]}),
    _wa_text(type="document", document={"id": "unknown"}),
    _wa_text(type="document", document={}),
    _wa_text(type="document", document={"link": "ftp://x"}),
    _wa_text(type="audio", audio={"link": "https://x", "caption": "no captions on audio"}),
])
def test_wa_invalid_bodies_get_code_100(wa_fake, body):
    answer = requests.post(f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages", json=body,
                           headers=WA_AUTH, timeout=5)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100 and error["error_data"]["details"]
    assert wa_fake.sent == []


@pytest.mark.parametrize("path", ["/v19.0/100000000000001/messages", "/v21.0/999/messages", "/v21.0/x/y/z"])
def test_wa_unknown_paths(wa_fake, path):
    answer = requests.post(wa_fake.url + path, json=_wa_text(), headers=WA_AUTH, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100


def test_wa_unversioned_path_and_query_token(wa_fake):
    answer = requests.post(f"{wa_fake.url}/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages",
                           params={"access_token": fakes.DEMO_WA_TOKEN}, json=_wa_text(), timeout=5)
    assert answer.status_code == 200


def test_wa_upload_media_flow(wa_fake):
    upload = requests.post(f"{wa_fake.url}/{fakes.DEMO_WA_PHONE_NUMBER_ID}/media", headers=WA_AUTH,
                           data={"messaging_product": "whatsapp", "type": "image/png"},
                           files={"file": ("a.png", b"PNG", "image/png")}, timeout=5)
    media_id = upload.json()["id"]
    info = requests.get(f"{wa_fake.url}/v21.0/{media_id}", headers=WA_AUTH, timeout=5).json()
    assert info == {"messaging_product": "whatsapp", "url": f"{wa_fake.url}/media-download/{media_id}",
                    "mime_type": "image/png", "sha256": hashlib.sha256(b"PNG").hexdigest(), "file_size": 3,
                    "id": media_id}
    download = requests.get(info["url"], headers=WA_AUTH, timeout=5)
    assert (download.content, download.headers["Content-Type"]) == (b"PNG", "image/png")
    assert requests.get(info["url"], timeout=5).status_code == 401
    bad = requests.post(f"{wa_fake.url}/{fakes.DEMO_WA_PHONE_NUMBER_ID}/media", headers=WA_AUTH,
                        data={"type": "image/png"}, files={"file": ("a.png", b"PNG")}, timeout=5)
    assert bad.status_code == 400


def test_wa_phone_info_fields(wa_fake):
    url = f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}"
    assert requests.get(url, params={"fields": "verified_name"}, headers=WA_AUTH, timeout=5).json() == {
        "verified_name": "Demo Business", "id": fakes.DEMO_WA_PHONE_NUMBER_ID}


def test_wa_rate_cap_configurable_status():
    with fakes.FakeWhatsApp(rate_cap=1, rate_limit_status=429) as fake:
        url = f"{fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages"
        first, second = (requests.post(url, json=_wa_text(), headers=WA_AUTH, timeout=5) for _ in range(2))
        assert first.status_code == 200
        assert (second.status_code, second.json()["error"]["code"]) == (429, 130429)
        fake.reset()
        assert fake.rate_cap == 1


def test_wa_window_does_not_block_templates(wa_fake):
    wa_fake.close_window(WA_ID)
    template = _wa_text(type="template", template={"name": "hello_world", "language": {"code": "en_US"}})
    del template["text"]
    answer = requests.post(f"{wa_fake.url}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages", json=template,
                           headers=WA_AUTH, timeout=5)
    assert answer.json()["messages"][0] == {"id": wa_fake.sent[0]["id"], "message_status": "accepted"}


# --- Telegram fake ----------------------------------------------------------------------------------


def test_tg_token_checked(tg_fake):
    for path in ("/bot1:wrong/getMe", "/file/bot1:wrong/documents/a"):
        answer = requests.get(tg_fake.url + path, timeout=5)
        assert (answer.status_code, answer.json()) == (401, {"ok": False, "error_code": 401,
                                                             "description": "Unauthorized"})
    assert requests.get(tg_fake.url + "/nothing", timeout=5).status_code == 404
    assert requests.get(f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}/sendPigeon", timeout=5).status_code == 404


@pytest.mark.parametrize("params, description", [
    ({"text": "x"}, "Bad Request: chat_id is empty"),
    ({"chat_id": 1}, "Bad Request: message text is empty"),
    ({"chat_id": 1, "text": " "}, "Bad Request: message text is empty"),
    ({"chat_id": 1, "text": "x" * 4097}, "Bad Request: message is too long"),
    ({"chat_id": 1, "text": "x", "reply_parameters": {"id": 1}}, "Bad Request: can't parse reply parameters JSON "
                                                                 "object"),
])
def test_tg_send_message_validation(tg_fake, params, description):
    answer = requests.post(f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}/sendMessage", json=params, timeout=5)
    assert (answer.status_code, answer.json()["description"]) == (400, description)


def test_tg_get_and_query_parameters(tg_fake):
    answer = requests.get(f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}/sendMessage",
                          params={"chat_id": "-100", "text": "q", "reply_to_message_id": "3"}, timeout=5)
    result = answer.json()["result"]
    assert (result["chat"]["id"], result["text"], result["reply_to_message"]["message_id"]) == (-100, "q", 3)


def test_tg_files_and_webhook(tg_fake):
    base = f"{tg_fake.url}/bot{fakes.DEMO_TG_TOKEN}"
    tg_fake.add_file("F", "text content", "documents/a.txt")
    info = requests.post(base + "/getFile", json={"file_id": "F"}, timeout=5).json()["result"]
    assert info == {"file_id": "F", "file_unique_id": "UF", "file_size": 12, "file_path": "documents/a.txt"}
    content = requests.get(f"{tg_fake.url}/file/bot{fakes.DEMO_TG_TOKEN}/documents/a.txt", timeout=5)
    assert content.content == b"text content"
    assert requests.get(f"{tg_fake.url}/file/bot{fakes.DEMO_TG_TOKEN}/none", timeout=5).status_code == 404
    assert requests.post(base + "/getFile", json={"file_id": "G"}, timeout=5).status_code == 400
    sent = requests.post(base + "/sendDocument", json={"chat_id": 1, "document": "F"}, timeout=5).json()
    assert sent["result"]["document"]["file_id"] == "F"
    assert requests.post(base + "/sendDocument", json={"chat_id": 1}, timeout=5).status_code == 400

    bad = requests.post(base + "/setWebhook", json={"url": "https://x", "secret_token": "bad secret!"}, timeout=5)
    assert bad.json()["description"] == "Bad Request: secret token contains unallowed characters"
    requests.post(base + "/setWebhook", data={"url": "https://x", "allowed_updates": '["message"]'}, timeout=5)
    assert tg_fake.webhook == {"url": "https://x", "secret_token": None, "allowed_updates": ["message"]}
    info = requests.get(base + "/getWebhookInfo", timeout=5).json()["result"]
    assert (info["url"], info["allowed_updates"]) == ("https://x", ["message"])
    requests.post(base + "/deleteWebhook", timeout=5)
    assert tg_fake.webhook is None
    assert requests.post(base + "/answerCallbackQuery", json={}, timeout=5).status_code == 400


# --- builders ---------------------------------------------------------------------------------------


def test_wa_text_payload_shape():
    payload = fakes.wa_text_payload(WA_ID, "hi", wamid="wamid.1", name="Ann", timestamp=1700000000)
    assert payload == {
        "object": "whatsapp_business_account",
        "entry": [{"id": fakes.DEMO_WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": fakes.DEMO_WA_DISPLAY_NUMBER,
                         "phone_number_id": fakes.DEMO_WA_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Ann"}, "wa_id": WA_ID}],
            "messages": [{"from": WA_ID, "id": "wamid.1", "timestamp": "1700000000", "type": "text",
                          "text": {"body": "hi"}}],
        }}]}],
    }
    generated = fakes.wa_message(WA_ID)
    assert generated["id"].startswith("wamid.") and generated["timestamp"].isdigit()
    assert fakes.wa_message(WA_ID)["id"] != generated["id"]


def test_wa_status_and_signature_builders():
    failed = fakes.wa_status("wamid.2", "failed", WA_ID, timestamp=5, error_code=131026, error_title="Undeliverable")
    assert failed["timestamp"] == "5" and failed["errors"][0]["code"] == 131026
    assert "conversation" in fakes.wa_status("wamid.2", "sent", WA_ID)
    body = b'{"a":"\\u00e9"}'
    expected = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert fakes.wa_signature(body, "s") == "sha256=" + expected
    assert fakes.wa_signature({"a": "é"}, "s") == "sha256=" + expected
    assert fakes.body_bytes({"a": "é"}) == body


def test_tg_builders_shape():
    update = fakes.tg_update(5, text="hi", chat_id=7, first_name="Ann", last_name="Lee", username="ann", date=1)
    assert update == {"update_id": 5, "message": {
        "message_id": 5,
        "from": {"id": 7, "is_bot": False, "first_name": "Ann", "last_name": "Lee", "username": "ann",
                 "language_code": "en"},
        "chat": {"type": "private", "id": 7, "first_name": "Ann", "last_name": "Lee", "username": "ann"},
        "date": 1, "text": "hi"}}
    callback = fakes.tg_callback_update(6, "d", chat_id=7)["callback_query"]
    assert callback["message"]["chat"]["id"] == 7 and callback["data"] == "d" and isinstance(callback["id"], str)
    member = fakes.tg_member_update(7, "kicked", chat_id=7)["my_chat_member"]
    assert (member["old_chat_member"]["status"], member["new_chat_member"]["status"]) == ("member", "kicked")


# --- CLI --------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_runs_the_fakes_of_every_demo_platform_until_killed():
    ports = {platform: _free_port() for platform in ("whatsapp", "telegram", "messenger", "instagram", "wechat")}
    env = {**os.environ, "PYTHONPATH": ""}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "fake_providers.py"),
         *[arg for platform, port in ports.items() for arg in (f"--{platform}-port", str(port))]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                me = requests.get(f"http://127.0.0.1:{ports['telegram']}/bot{fakes.DEMO_TG_TOKEN}/getMe", timeout=1)
                requests.get(f"http://127.0.0.1:{ports['wechat']}/", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.05)
        assert me.json()["result"]["username"] == "demo_bot"
        answer = requests.get(f"http://127.0.0.1:{ports['whatsapp']}/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}",
                              headers=WA_AUTH, timeout=5)
        assert answer.status_code == 200
        for platform, page_id in (("messenger", meta_fakes.DEMO_PAGE_ID),
                                  ("instagram", meta_fakes.DEMO_IG_ACCOUNT_ID)):
            page = requests.get(f"http://127.0.0.1:{ports[platform]}/v21.0/{page_id}", timeout=5, params={
                "fields": "name,username", "access_token": meta_fakes.DEMO_META_TOKEN})
            assert page.status_code == 200, (platform, page.text)
        token = requests.get(f"http://127.0.0.1:{ports['wechat']}/cgi-bin/token", timeout=5, params={
            "grant_type": "client_credential", "appid": wechat_fakes.DEMO_WC_APP_ID,
            "secret": wechat_fakes.DEMO_WC_APP_SECRET})
        assert "access_token" in token.json(), token.text
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert b"odoo" not in stderr.lower()
    for port in ports.values():
        assert f"127.0.0.1:{port}".encode() in stdout


def test_cli_busy_port_is_one_line_and_fails():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, str(ROOT / "tools" / "fake_providers.py"), "--whatsapp-port", str(port),
                              "--telegram-port", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and f":{port}" in out.stderr and "--whatsapp-port" in out.stderr
