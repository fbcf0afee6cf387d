"""Telegram Bot API provider: webhook side (no network) and outbound calls against the fake."""
import datetime
import json
import logging

import pytest

from messenger_connector.providers import (
    AUDIO, BLOCK, CALLBACK, DOCUMENT, IMAGE, LOCATION, MESSAGE, OTHER, PERMANENT, RETRYABLE, STICKER, TEXT,
    UNBLOCK, UNKNOWN, VIDEO, AuthError, Location, MalformedError, Media, ProviderError,
)
import messenger_fakes as fakes

CHAT = fakes.DEMO_TG_CHAT_ID
TOKEN = fakes.DEMO_TG_TOKEN
UTC = datetime.timezone.utc


def one(provider, update):
    events = provider.parse(fakes.body_bytes(update))
    assert len(events) == 1
    return events[0]


# --- secret token -----------------------------------------------------------------------------------


def test_secret_token_accepted(tg):
    for name in ("X-Telegram-Bot-Api-Secret-Token", "x-telegram-bot-api-secret-token"):
        assert tg.authenticate({name: tg.config["secret_token"]}, b"{}") is None


def test_secret_token_with_werkzeug_headers(tg):
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    tg.authenticate(werkzeug.Headers([("X-Telegram-Bot-Api-Secret-Token", tg.config["secret_token"])]), b"{}")


@pytest.mark.parametrize("headers", [
    {}, {"X-Telegram-Bot-Api-Secret-Token": ""}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
    {"X-Telegram-Bot-Api-Secret-Token": "test-secret-token "}, {"X-Telegram-Bot-Api-Secret-Token": "tëst"},
    {"X-Telegram-Bot-Api-Secret-Token": b"test-secret-token"}, {"Authorization": "test-secret-token"}, None,
])
def test_secret_token_refused(tg, headers):
    with pytest.raises(AuthError):
        tg.authenticate(headers, b"{}")


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_configured_fails_closed(make_tg, secret):
    tg = make_tg(secret_token=secret)
    for given in ("", "None", "x"):
        with pytest.raises(AuthError):
            tg.authenticate({"X-Telegram-Bot-Api-Secret-Token": given}, b"{}")


def test_no_get_handshake(tg):
    with pytest.raises(AuthError):
        tg.handshake({"hub.mode": "subscribe"})


def test_delivery_key(tg):
    assert tg.delivery_key(fakes.body_bytes(fakes.tg_update(987))) == "update:987"
    for body in (b"{}", b'{"update_id": "987"}', b'{"update_id": true}', b'{"update_id": 1.5}', b"[]", b"x"):
        with pytest.raises(MalformedError):
            tg.delivery_key(body)


# --- parsing ----------------------------------------------------------------------------------------


def test_parse_text_message(tg):
    update = fakes.tg_update(10, text="Hello", first_name="Ann", last_name="Lee", username="ann",
                             message_id=77, date=1700000000)
    event = one(tg, update)
    assert event.kind == MESSAGE and event.content_type == TEXT
    assert (event.text, event.payload) == ("Hello", None)
    assert event.external_user_id == str(CHAT)
    assert event.external_id == f"{CHAT}:77"
    assert event.dedup_key == "update:10"
    assert (event.profile_name, event.username) == ("Ann Lee", "ann")
    assert event.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.phone is None and event.reply_to is None
    assert event.raw == update["message"]


@pytest.mark.parametrize("text, payload", [
    ("/start", None), ("/start job-42", "job-42"), ("/start@demo_bot lead_7 ", "lead_7"), ("/starts x", None),
    ("hello /start x", None),
])
def test_start_payload(tg, text, payload):
    event = one(tg, fakes.tg_update(1, text=text))
    assert (event.text, event.payload) == (text, payload)


def test_reply_to(tg):
    event = one(tg, fakes.tg_update(1, text="yes", reply_to_message={"message_id": 5, "date": 1,
                                                                     "chat": {"id": CHAT, "type": "private"}}))
    assert event.reply_to == f"{CHAT}:5"


def test_parse_photo_uses_largest_size(tg):
    photo = [{"file_id": f"P{size}", "file_unique_id": f"U{size}", "width": size, "height": size,
              "file_size": size * 10} for size in (90, 320, 1280)]
    event = one(tg, fakes.tg_update(2, text=None, photo=photo, caption="look"))
    assert event.content_type == IMAGE
    assert event.media == Media(id="P1280", mime_type="image/jpeg", file_size=12800)
    assert event.text == "look"


@pytest.mark.parametrize("field, content_type", [
    ("document", DOCUMENT), ("voice", AUDIO), ("audio", AUDIO), ("video", VIDEO), ("video_note", VIDEO),
    ("sticker", STICKER),
])
def test_parse_files(tg, field, content_type):
    part = {"file_id": "F1", "file_unique_id": "U1", "file_name": "cv.pdf", "mime_type": "application/pdf",
            "file_size": 1234}
    event = one(tg, fakes.tg_update(3, text=None, caption="my file", **{field: part}))
    assert event.content_type == content_type
    assert event.media == Media(id="F1", mime_type="application/pdf", filename="cv.pdf", file_size=1234)
    assert event.text == "my file"


def test_animation_is_a_document(tg):
    animation = {"file_id": "A1", "file_unique_id": "U", "width": 1, "height": 1, "duration": 1}
    event = one(tg, fakes.tg_update(3, text=None, animation=animation,
                                    document={"file_id": "A1", "file_unique_id": "U", "mime_type": "video/mp4"}))
    assert (event.content_type, event.media.id) == (DOCUMENT, "A1")


def test_parse_location_and_venue(tg):
    event = one(tg, fakes.tg_update(4, text=None, location={"latitude": 52.5, "longitude": 13.4}))
    assert (event.content_type, event.location, event.text) == (LOCATION, Location(52.5, 13.4), "52.5, 13.4")
    event = one(tg, fakes.tg_update(4, text=None, location={"latitude": 52.5, "longitude": 13.4},
                                    venue={"location": {"latitude": 52.5, "longitude": 13.4},
                                           "title": "Office", "address": "Main St 1"}))
    assert event.location == Location(52.5, 13.4, "Office", "Main St 1")
    assert event.text == "Office, Main St 1"


@pytest.mark.parametrize("fields", [
    {"contact": {"phone_number": "+4912345", "first_name": "Bob"}},
    {"poll": {"id": "1", "question": "?", "options": []}},
    {"dice": {"emoji": "🎲", "value": 3}},
    {"new_chat_members": []},
    {},
])
def test_other_messages(tg, fields):
    update = fakes.tg_update(5, text=None, **fields)
    event = one(tg, update)
    assert (event.kind, event.content_type, event.text) == (MESSAGE, OTHER, None)
    assert event.external_id == f"{CHAT}:5" and event.raw == update["message"]


def test_channel_post_without_sender_is_unknown(tg):
    chat = {"id": -100, "type": "channel", "title": "News"}
    update = {"update_id": 6, "channel_post": {"message_id": 1, "chat": chat, "date": 1, "text": "x"}}
    event = one(tg, update)
    assert (event.kind, event.dedup_key, event.raw) == (UNKNOWN, "update:6", update["channel_post"])


def test_edited_message_is_unknown(tg):
    update = fakes.tg_update(7, text="edited")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = 1700000100
    event = one(tg, update)
    assert (event.kind, event.dedup_key, event.raw) == (UNKNOWN, "update:7", update["edited_message"])
    assert event.external_id is None


def test_group_message_uses_sender_name(tg):
    update = fakes.tg_update(8, text="hi group", first_name="Ann")
    update["message"]["chat"] = {"id": -42, "type": "group", "title": "Team"}
    event = one(tg, update)
    assert (event.external_user_id, event.external_id, event.profile_name) == ("-42", "-42:8", "Ann")


def test_parse_callback_query(tg):
    update = fakes.tg_callback_update(20, "confirm:42", first_name="Ann", username="ann", callback_id="cb77",
                                      message_id=9)
    event = one(tg, update)
    assert (event.kind, event.content_type) == (MESSAGE, CALLBACK)
    assert (event.text, event.payload, event.callback_query_id) == ("confirm:42", "confirm:42", "cb77")
    assert (event.external_user_id, event.external_id, event.dedup_key) == (str(CHAT), "cb:cb77", "update:20")
    assert (event.profile_name, event.username, event.reply_to) == ("Ann", "ann", f"{CHAT}:9")
    assert event.raw == update["callback_query"]


def test_callback_query_without_message_uses_sender(tg):
    update = fakes.tg_callback_update(21, "x", chat_id=555)
    del update["callback_query"]["message"]
    update["callback_query"]["inline_message_id"] = "inline-1"
    event = one(tg, update)
    assert (event.external_user_id, event.reply_to) == ("555", None)


@pytest.mark.parametrize("status, kind", [("kicked", BLOCK), ("member", UNBLOCK), ("left", UNKNOWN),
                                          ("administrator", UNKNOWN)])
def test_parse_my_chat_member(tg, status, kind):
    update = fakes.tg_member_update(30, status, date=1700000000)
    event = one(tg, update)
    assert (event.kind, event.external_user_id, event.dedup_key) == (kind, str(CHAT), "update:30")
    assert event.timestamp == datetime.datetime.fromtimestamp(1700000000, UTC)
    assert event.raw == update["my_chat_member"]


@pytest.mark.parametrize("update", [
    {"update_id": 40, "inline_query": {"id": "1", "from": {"id": 1}, "query": "x", "offset": ""}},
    {"update_id": 41, "message_reaction": {"chat": {"id": 1}}},
    {"update_id": 42},
    {"update_id": 43, "future_kind": [1, 2]},
])
def test_unknown_updates_are_kept(tg, update):
    event = one(tg, update)
    assert (event.kind, event.dedup_key) == (UNKNOWN, f"update:{update['update_id']}")
    assert event.raw in (update, next((v for k, v in update.items() if k != "update_id"), None))


def _update(**message):
    base = {"message_id": 1, "chat": {"id": 1, "type": "private"}, "date": 1, "text": "x"}
    base.update(message)
    return {"update_id": 1, "message": {k: v for k, v in base.items() if v is not ...}}


MALFORMED = {
    "empty": b"",
    "not json": b"{update_id: 1}",
    "invalid utf-8": b'{"update_id": 1, "message": "\xc3\x28"}',
    "list": b"[]",
    "null": b"null",
    "no update_id": {"message": {}},
    "update_id string": {"update_id": "1"},
    "update_id bool": {"update_id": True},
    "update_id float": {"update_id": 1.0},
    "message list": {"update_id": 1, "message": []},
    "message null": {"update_id": 1, "message": None},
    "no chat": _update(chat=...),
    "chat string": _update(chat="1"),
    "chat id string": _update(chat={"id": "1"}),
    "chat id bool": _update(chat={"id": False}),
    "no message_id": _update(message_id=...),
    "date string": _update(date="1"),
    "text number": _update(text=1),
    "from string": _update(**{"from": "x"}),
    "first_name number": _update(**{"from": {"id": 1, "first_name": 1}}),
    "photo object": _update(text=..., photo={}),
    "photo empty": _update(text=..., photo=[]),
    "photo size string": _update(text=..., photo=["x"]),
    "photo without file_id": _update(text=..., photo=[{"width": 1}]),
    "document list": _update(text=..., document=[]),
    "document file_id number": _update(text=..., document={"file_id": 1}),
    "caption number": _update(text=..., document={"file_id": "x"}, caption=1),
    "location without longitude": _update(text=..., location={"latitude": 1}),
    "reply string": _update(reply_to_message="x"),
    "callback list": {"update_id": 1, "callback_query": []},
    "callback without id": {"update_id": 1, "callback_query": {"from": {"id": 1}, "data": "x"}},
    "callback without chat nor sender": {"update_id": 1, "callback_query": {"id": "1", "data": "x"}},
    "callback data number": {"update_id": 1, "callback_query": {"id": "1", "from": {"id": 1}, "data": 1}},
    "member without chat": {"update_id": 1, "my_chat_member": {"new_chat_member": {"status": "kicked"}}},
    "member status number": {"update_id": 1, "my_chat_member": {"chat": {"id": 1},
                                                                "new_chat_member": {"status": 1}}},
    "member new_chat_member string": {"update_id": 1, "my_chat_member": {"chat": {"id": 1},
                                                                         "new_chat_member": "kicked"}},
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_updates(tg, body):
    if not isinstance(body, bytes):
        body = fakes.body_bytes(body)
    with pytest.raises(MalformedError):
        tg.parse(body)


# --- outbound ---------------------------------------------------------------------------------------


def test_send_text_exact_request(tg, tg_fake):
    result = tg.send_text(str(CHAT), "Hello ✓")
    (request,) = tg_fake.requests
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert request.json == {"chat_id": CHAT, "text": "Hello ✓"}
    sent = tg_fake.sent[0]
    assert result.external_id == sent["id"] == f"{CHAT}:{result.raw['message_id']}"
    assert (sent["to"], sent["type"], sent["text"]) == (str(CHAT), "text", "Hello ✓")


def test_send_text_reply_and_channel(tg, tg_fake):
    tg.send_text("-1001234", "re", reply_to="-1001234:55")
    tg.send_text("@channel", "hi")
    first, second = tg_fake.requests
    assert first.json == {"chat_id": -1001234, "text": "re",
                          "reply_parameters": {"message_id": 55, "allow_sending_without_reply": True}}
    assert second.json == {"chat_id": "@channel", "text": "hi"}


def test_send_text_limit_checked_before_any_call(tg, tg_fake):
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "x" * 4097)
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_long")
    assert not tg_fake.requests


def test_send_document_multipart(tg, tg_fake):
    content = b"\x00\x01binary\r\n--x\r\n"
    result = tg.send_document(CHAT, content, "report.pdf", "application/pdf", caption="Report")
    (request,) = tg_fake.requests
    assert request.path == f"/bot{TOKEN}/sendDocument"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.form == {"chat_id": str(CHAT), "caption": "Report"}
    assert request.files == {"document": fakes.Upload("report.pdf", "application/pdf", content)}
    assert result.raw["document"]["file_name"] == "report.pdf"
    assert tg_fake.sent[0]["type"] == "document" and tg_fake.sent[0]["text"] == "Report"


def test_download_media(tg, tg_fake):
    tg_fake.add_file("F1", b"\x89PNG data", "photos/file_1.png")
    downloaded = tg.download_media(Media(id="F1"))
    assert (downloaded.content, downloaded.filename, downloaded.mime_type) == (b"\x89PNG data", "file_1.png",
                                                                               "image/png")
    get_file, download = tg_fake.requests
    assert get_file.path == f"/bot{TOKEN}/getFile" and get_file.json == {"file_id": "F1"}
    assert download.path == f"/file/bot{TOKEN}/photos/file_1.png"


def test_download_media_keeps_event_metadata(tg, tg_fake):
    tg_fake.add_file("F2", b"%PDF", "documents/file_9")
    downloaded = tg.download_media(Media(id="F2", filename="cv.pdf", mime_type="application/pdf"))
    assert (downloaded.filename, downloaded.mime_type) == ("cv.pdf", "application/pdf")


def test_download_media_size_limit(make_tg, tg_fake):
    tg_fake.add_file("F3", b"x" * 2048, "documents/big.bin")
    with pytest.raises(ProviderError) as info:
        make_tg(max_media_bytes=2047).download_media(Media(id="F3"))
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_large")
    assert make_tg().max_media_bytes == 20 * 1024 * 1024


def test_download_invalid_file(tg):
    with pytest.raises(ProviderError) as info:
        tg.download_media(Media(id="nope"))
    assert (info.value.kind, info.value.code) == (PERMANENT, "400")
    with pytest.raises(ProviderError):
        tg.download_media(Media())


def test_test_connection(tg, tg_fake):
    assert tg.test_connection() == "@demo_bot"
    assert tg_fake.requests[0].path == f"/bot{TOKEN}/getMe"


def test_register_webhook(tg, tg_fake):
    assert tg.register_webhook("https://odoo.example.com/messenger/webhook/k", "s3cr3t_-") is True
    assert tg_fake.requests[0].json == {
        "url": "https://odoo.example.com/messenger/webhook/k", "secret_token": "s3cr3t_-",
        "allowed_updates": ["message", "edited_message", "callback_query", "my_chat_member"]}
    tg.register_webhook("https://odoo.example.com/hook")
    assert tg_fake.webhook["secret_token"] == tg.config["secret_token"]


def test_register_webhook_needs_a_secret(make_tg, tg_fake):
    with pytest.raises(ProviderError):
        make_tg(secret_token=None).register_webhook("https://example.com/hook")
    assert not tg_fake.requests


def test_answer_callback(tg, tg_fake):
    tg.answer_callback("cb1")
    tg.answer_callback("cb2", text="Thanks")
    assert [r.json for r in tg_fake.requests] == [{"callback_query_id": "cb1"},
                                                  {"callback_query_id": "cb2", "text": "Thanks"}]
    assert tg_fake.requests[0].path == f"/bot{TOKEN}/answerCallbackQuery"


def test_provider_flags(tg):
    assert (tg.name, tg.window_hours, tg.has_receipts, tg.has_templates) == ("telegram", None, False, False)
    with pytest.raises(ProviderError):
        tg.send_template(CHAT, "t", "en")


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, description, kind, blocked", [
    (403, "Forbidden: bot was blocked by the user", PERMANENT, True),
    (403, "Forbidden: bot was kicked from the group chat", PERMANENT, True),
    # the chat cannot be reached: the message fails, the person refused nothing
    (403, "Forbidden: user is deactivated", PERMANENT, False),
    (400, "Bad Request: chat not found", PERMANENT, False),
    (403, "Forbidden: bot can't initiate conversation with a user", PERMANENT, False),
    (400, "Bad Request: message text is empty", PERMANENT, False),
    (500, "Internal Server Error", RETRYABLE, False),
    (502, "Bad Gateway", RETRYABLE, False),
])
def test_error_classification(tg, tg_fake, code, description, kind, blocked):
    tg_fake.fail_next(1, code, fakes.tg_error_body(code, description))
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    error = info.value
    assert (error.kind, error.code, error.blocked, error.http_status) == (kind, str(code), blocked, code)
    assert error.message == f"Telegram error {code}: {description}"


def test_flood_wait_retry_after(tg, tg_fake):
    tg_fake.fail_next(1, 429, fakes.tg_error_body(429, "Too Many Requests: retry after 17", retry_after=17))
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert (info.value.kind, info.value.code, info.value.retry_after) == (RETRYABLE, "429", 17)


def test_flood_wait_without_parameters_uses_header(tg, tg_fake):
    tg_fake.fail_next(1, 429, fakes.tg_error_body(429, "Too Many Requests"), headers={"Retry-After": "3"})
    tg_fake.fail_next(1, 429, "Too Many Requests")
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert info.value.retry_after == 3
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert (info.value.kind, info.value.code, info.value.retry_after) == (RETRYABLE, "429", None)


def test_blocked_chat(tg, tg_fake):
    tg_fake.block(CHAT)
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert (info.value.kind, info.value.blocked, info.value.code) == (PERMANENT, True, "403")
    tg_fake.unblock(CHAT)
    tg.send_text(CHAT, "hi")


def test_wrong_token_never_shown(make_tg, tg_fake):
    secret = "999999:AAE-very-secret"
    with pytest.raises(ProviderError) as info:
        make_tg(bot_token=secret).send_text(CHAT, "hi")
    error = info.value
    assert (error.kind, error.code) == (PERMANENT, "401")
    for text in (str(error), repr(error), error.message):
        assert secret not in text


def test_description_echoing_the_token_is_redacted(tg, tg_fake):
    tg_fake.fail_next(1, 400, fakes.tg_error_body(400, f"Bad Request: token {TOKEN} is odd"))
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert TOKEN not in str(info.value) and "***" in info.value.message


def test_network_error_hides_token(make_tg, dead_url):
    with pytest.raises(ProviderError) as info:
        make_tg(base_url=dead_url).send_text(CHAT, "hi")
    error = info.value
    assert (error.kind, error.code, error.message) == (RETRYABLE, "network", "network error: ConnectionError")
    assert TOKEN not in repr(error) and error.__cause__ is None and error.__suppress_context__


def test_token_with_control_characters_never_shown(make_tg):
    with pytest.raises(ProviderError) as info:
        make_tg(bot_token="123:abc\nSECRET").send_text(CHAT, "hi")
    assert info.value.kind == PERMANENT and "SECRET" not in str(info.value)


@pytest.mark.parametrize("call", [
    lambda p: p.send_text(CHAT, "hi"),
    lambda p: p.send_document(CHAT, b"x", "a.txt", "text/plain"),
    lambda p: p.download_media(Media(id="F")),
    lambda p: p.test_connection(),
    lambda p: p.register_webhook("https://example.com/h"),
    lambda p: p.answer_callback("cb"),
], ids=["send_text", "send_document", "download_media", "test_connection", "register_webhook", "answer_callback"])
def test_every_call_has_a_timeout(make_tg, tg_fake, call):
    tg_fake.delay = 1
    with pytest.raises(ProviderError) as info:
        call(make_tg(timeout=0.1))
    error = info.value
    assert (error.kind, error.code, error.message) == (RETRYABLE, "network", "network error: ReadTimeout")


def test_ok_false_on_success_status(tg, tg_fake):
    tg_fake.fail_next(1, 200, {"ok": False})
    with pytest.raises(ProviderError) as info:
        tg.send_text(CHAT, "hi")
    assert info.value.code == "bad_response"


def test_parse_accepts_str_body(tg):
    assert tg.parse(json.dumps(fakes.tg_update(1, text="x")))[0].text == "x"


def test_bot_token_never_in_urllib3_debug_log(tg, tg_fake, caplog):
    """urllib3 logs every request line at DEBUG: the bot token in Telegram's URLs is redacted there."""
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        tg.send_text(str(CHAT), "Hello")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/bot<token>/sendMessage" in line for line in lines), lines
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
