"""WhatsApp Cloud API provider: webhook side (no network) and outbound calls against the fake."""
import datetime
import hashlib
import json

import pytest

from messenger_connector.providers import (
    AUDIO, BUTTON, DOCUMENT, IMAGE, LOCATION, MESSAGE, OPT_IN, OPT_OUT, OTHER, PERMANENT, RETRYABLE, STATUS,
    STICKER, TEXT, UNKNOWN, VIDEO, WINDOW_CLOSED, AuthError, Location, MalformedError, Media, ProviderError,
    WhatsAppProvider,
)
import messenger_fakes as fakes

WA_ID = "15551234567"
UTC = datetime.timezone.utc


def parse(provider, payload):
    return provider.parse(fakes.body_bytes(payload))


def one(provider, payload):
    events = parse(provider, payload)
    assert len(events) == 1
    return events[0]


# --- handshake --------------------------------------------------------------------------------------


def test_handshake_returns_challenge(wa):
    params = {"hub.mode": "subscribe", "hub.verify_token": wa.config["verify_token"], "hub.challenge": "1158201444"}
    assert wa.handshake(params) == "1158201444"


def test_handshake_with_werkzeug_multidict(wa):
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    params = werkzeug.MultiDict([("hub.mode", "subscribe"), ("hub.verify_token", wa.config["verify_token"]),
                                 ("hub.challenge", "abc")])
    assert wa.handshake(params) == "abc"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "c"},
    {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "c"},
    {"hub.verify_token": "test-verify-token", "hub.challenge": "c"},
    {"hub.mode": "subscribe", "hub.challenge": "c"},
    {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "c"},
    {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token"},
    {"hub.mode": "subscribe", "hub.verify_token": "tést", "hub.challenge": "c"},
    {},
    None,
], ids=lambda p: repr(p)[:40])
def test_handshake_refused(wa, params):
    with pytest.raises(AuthError):
        wa.handshake(params)


@pytest.mark.parametrize("configured", [None, ""])
def test_handshake_without_configured_token_fails_closed(make_wa, configured):
    wa = make_wa(verify_token=configured)
    for given in ("", None, "None"):
        with pytest.raises(AuthError):
            wa.handshake({"hub.mode": "subscribe", "hub.verify_token": given, "hub.challenge": "c"})


# --- signatures -------------------------------------------------------------------------------------

BODY = fakes.body_bytes(fakes.wa_text_payload(WA_ID, "héllo ✓"))


def test_signature_accepted(wa):
    signature = fakes.wa_signature(BODY, wa.config["app_secret"])
    assert wa.authenticate({"X-Hub-Signature-256": signature}, BODY) is None
    assert wa.authenticate({"x-hub-signature-256": signature.upper().replace("SHA256=", "sha256=")}, BODY) is None
    assert wa.authenticate({"X-HUB-SIGNATURE-256": signature}, bytearray(BODY)) is None


def test_signature_with_werkzeug_headers(wa):
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    headers = werkzeug.Headers([("X-Hub-Signature-256", fakes.wa_signature(BODY, wa.config["app_secret"]))])
    wa.authenticate(headers, BODY)


def _bad_signatures():
    good = fakes.wa_signature(BODY, "test-app-secret")
    hexdigest = good.removeprefix("sha256=")
    return {
        "missing": {},
        "empty value": {"X-Hub-Signature-256": ""},
        "empty digest": {"X-Hub-Signature-256": "sha256="},
        "bare hex": {"X-Hub-Signature-256": hexdigest},
        "short": {"X-Hub-Signature-256": good[:-1]},
        "long": {"X-Hub-Signature-256": good + "0"},
        "non hex": {"X-Hub-Signature-256": "sha256=" + "g" * 64},
        "space": {"X-Hub-Signature-256": good + " "},
        "newline": {"X-Hub-Signature-256": good + "\n"},
        "sha1 prefix": {"X-Hub-Signature-256": "sha1=" + hexdigest},
        "other body": {"X-Hub-Signature-256": fakes.wa_signature(BODY + b" ", "test-app-secret")},
        "other secret": {"X-Hub-Signature-256": fakes.wa_signature(BODY, "other-secret")},
        "legacy only": {"X-Hub-Signature": "sha1=" + hashlib.sha1(BODY).hexdigest()},
        "not text": {"X-Hub-Signature-256": good.encode()},
    }


@pytest.mark.parametrize("headers", list(_bad_signatures().values()), ids=list(_bad_signatures()))
def test_signature_refused(wa, headers):
    with pytest.raises(AuthError):
        wa.authenticate(headers, BODY)


@pytest.mark.parametrize("secret", [None, ""])
def test_signature_without_app_secret_fails_closed(make_wa, secret):
    wa = make_wa(app_secret=secret)
    for key in ("", "test-app-secret"):
        with pytest.raises(AuthError):
            wa.authenticate({"X-Hub-Signature-256": fakes.wa_signature(BODY, key)}, BODY)


def test_signature_over_raw_bytes_not_reserialized(wa):
    """Meta signs the escaped-unicode form; the same JSON written differently must not pass."""
    raw = json.dumps(fakes.wa_text_payload(WA_ID, "héllo")).encode()
    other = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    signature = fakes.wa_signature(raw, wa.config["app_secret"])
    wa.authenticate({"X-Hub-Signature-256": signature}, raw)
    with pytest.raises(AuthError):
        wa.authenticate({"X-Hub-Signature-256": signature}, other)


def test_delivery_key_is_body_hash(wa):
    assert wa.delivery_key(BODY) == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert wa.delivery_key(BODY) != wa.delivery_key(BODY + b" ")


# --- parsing: messages ------------------------------------------------------------------------------


def test_parse_text_message(wa):
    payload = fakes.wa_text_payload(WA_ID, "Hello there", wamid="wamid.A1", name="Ann Lee", timestamp=1700000000)
    event = one(wa, payload)
    assert event.kind == MESSAGE
    assert event.content_type == TEXT
    assert event.text == "Hello there"
    assert event.external_user_id == WA_ID
    assert event.phone == "+" + WA_ID
    assert event.profile_name == "Ann Lee"
    assert event.external_id == "wamid.A1"
    assert event.dedup_key == "msg:wamid.A1"
    assert event.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.reply_to is None
    assert event.raw == payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_parse_reply_context(wa):
    message = fakes.wa_message(WA_ID, "text", {"body": "yes"}, context={"from": "15550000001", "id": "wamid.OUT"})
    assert one(wa, fakes.wa_payload(messages=[message])).reply_to == "wamid.OUT"


def test_profile_name_falls_back_to_first_contact(wa):
    """wa_id and from may differ (number normalization): the first contact's name is used."""
    message = fakes.wa_message("5511987654321", "text", {"body": "oi"})
    payload = fakes.wa_payload(messages=[message], contacts=[fakes.wa_contact("551187654321", "Bia")])
    assert one(wa, payload).profile_name == "Bia"
    assert one(wa, fakes.wa_payload(messages=[message])).profile_name is None


@pytest.mark.parametrize("msg_type, content_type, captioned", [
    ("image", IMAGE, True), ("document", DOCUMENT, True), ("video", VIDEO, True),
    ("audio", AUDIO, False), ("sticker", STICKER, False),
])
def test_parse_media_messages(wa, msg_type, content_type, captioned):
    content = {"id": "1234567890", "mime_type": "application/pdf", "sha256": "abc=", "filename": "cv.pdf"}
    if captioned:
        content["caption"] = "see this"
    event = one(wa, fakes.wa_payload(messages=[fakes.wa_message(WA_ID, msg_type, content)]))
    assert event.kind == MESSAGE and event.content_type == content_type
    assert event.media == Media(id="1234567890", mime_type="application/pdf", filename="cv.pdf", sha256="abc=")
    assert event.text == ("see this" if captioned else None)


def test_parse_voice_note(wa):
    content = {"id": "555", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True}
    event = one(wa, fakes.wa_payload(messages=[fakes.wa_message(WA_ID, "audio", content)]))
    assert (event.content_type, event.media.id, event.text) == (AUDIO, "555", None)


def test_parse_location(wa):
    content = {"latitude": 48.8584, "longitude": 2.2945, "name": "Tour Eiffel", "address": "Champ de Mars",
               "url": "https://example.com"}
    event = one(wa, fakes.wa_payload(messages=[fakes.wa_message(WA_ID, "location", content)]))
    assert event.content_type == LOCATION
    assert event.location == Location(48.8584, 2.2945, "Tour Eiffel", "Champ de Mars", "https://example.com")
    assert event.text == "Tour Eiffel, Champ de Mars"


def test_parse_bare_location(wa):
    message = fakes.wa_message(WA_ID, "location", {"latitude": 1, "longitude": -2.5})
    event = one(wa, fakes.wa_payload(messages=[message]))
    assert event.location == Location(1.0, -2.5)
    assert event.text == "1.0, -2.5"


@pytest.mark.parametrize("reply_type, reply", [
    ("button_reply", {"id": "yes-1", "title": "Yes"}),
    ("list_reply", {"id": "yes-1", "title": "Yes", "description": "ignored"}),
])
def test_parse_interactive_replies(wa, reply_type, reply):
    message = fakes.wa_message(WA_ID, "interactive", {"type": reply_type, reply_type: reply},
                               context={"from": "15550000001", "id": "wamid.MENU"})
    event = one(wa, fakes.wa_payload(messages=[message]))
    assert (event.content_type, event.payload, event.text, event.reply_to) == (BUTTON, "yes-1", "Yes", "wamid.MENU")


def test_parse_template_quick_reply(wa):
    message = fakes.wa_message(WA_ID, "button", {"payload": "STOP_PROMO", "text": "Stop promotions"})
    event = one(wa, fakes.wa_payload(messages=[message]))
    assert (event.content_type, event.payload, event.text) == (BUTTON, "STOP_PROMO", "Stop promotions")


@pytest.mark.parametrize("msg_type, content", [
    ("unsupported", None),
    ("reaction", {"message_id": "wamid.X", "emoji": "👍"}),
    ("order", {"catalog_id": "1", "product_items": []}),
    ("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}),
    (None, None),
])
def test_other_message_types_are_kept(wa, msg_type, content):
    message = fakes.wa_message(WA_ID, msg_type, content, wamid="wamid.O")
    if msg_type is None:
        del message["type"]
    if msg_type == "unsupported":
        message["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    event = one(wa, fakes.wa_payload(messages=[message]))
    assert (event.kind, event.content_type, event.text) == (MESSAGE, OTHER, None)
    assert event.dedup_key == "msg:wamid.O"
    assert event.raw == message


# --- parsing: statuses, preferences, unknown --------------------------------------------------------


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_parse_status(wa, state):
    status = fakes.wa_status("wamid.OUT1", state, WA_ID, timestamp=1700000001)
    event = one(wa, fakes.wa_payload(statuses=[status]))
    assert event.kind == STATUS
    assert (event.external_id, event.external_user_id, event.status) == ("wamid.OUT1", WA_ID, state)
    assert event.dedup_key == f"status:wamid.OUT1:{state}"
    assert event.timestamp == datetime.datetime.fromtimestamp(1700000001, UTC)
    assert (event.error_code, event.error_message) == (None, None)
    assert event.raw == status


def test_parse_failed_status(wa):
    status = fakes.wa_status("wamid.OUT2", "failed", WA_ID, error_code=131047, error_title="Re-engagement message",
                             error_details=fakes.WINDOW_DETAILS)
    event = one(wa, fakes.wa_payload(statuses=[status]))
    assert (event.status, event.error_code) == ("failed", "131047")
    assert event.error_message == "Re-engagement message: " + fakes.WINDOW_DETAILS


def test_parse_failed_status_without_details(wa):
    status = fakes.wa_status("wamid.OUT3", "failed", WA_ID, error_code=131026, error_title="Message undeliverable")
    event = one(wa, fakes.wa_payload(statuses=[status]))
    assert (event.error_code, event.error_message) == ("131026", "Message undeliverable")
    assert (event.error_kind, event.refused) == (PERMANENT, None)


@pytest.mark.parametrize("code, kind, refused", [
    (131047, WINDOW_CLOSED, None), (131050, PERMANENT, "marketing"), (131026, PERMANENT, None),
    (131000, RETRYABLE, None)])
def test_failed_status_says_its_error_kind(wa, code, kind, refused):
    status = fakes.wa_status("wamid.OUT4", "failed", WA_ID, error_code=code, error_title="Failure")
    event = one(wa, fakes.wa_payload(statuses=[status]))
    assert (event.error_code, event.error_kind, event.refused) == (str(code), kind, refused)


def test_address_for_phone():
    assert WhatsAppProvider.address_for_phone("+49 171 2345678") == "491712345678"
    assert WhatsAppProvider.address_for_phone("") is None


@pytest.mark.parametrize("value, kind", [("stop", OPT_OUT), ("resume", OPT_IN)])
def test_parse_marketing_preferences(wa, value, kind):
    item = fakes.wa_preference(WA_ID, value, timestamp=1700000002)
    payload = fakes.wa_payload(field="user_preferences", contacts=[fakes.wa_contact(WA_ID)],
                               value_extra={"user_preferences": [item]})
    event = one(wa, payload)
    assert event.kind == kind
    assert (event.external_user_id, event.phone) == (WA_ID, "+" + WA_ID)
    assert event.dedup_key == f"pref:{WA_ID}:marketing_messages:{value}:1700000002"
    assert event.timestamp == datetime.datetime.fromtimestamp(1700000002, UTC)
    assert event.raw == item


@pytest.mark.parametrize("category, value", [("marketing_messages", "pause"), ("utility_messages", "stop")])
def test_other_preferences_are_unknown(wa, category, value):
    item = fakes.wa_preference(WA_ID, value, category=category, timestamp=5)
    event = one(wa, fakes.wa_payload(field="user_preferences", value_extra={"user_preferences": [item]}))
    assert event.kind == UNKNOWN
    assert event.dedup_key == f"pref:{WA_ID}:{category}:{value}:5"
    assert event.raw == item


def test_value_level_errors_are_unknown(wa):
    error = {"code": 131000, "title": "Something went wrong", "message": "Something went wrong"}
    event = one(wa, fakes.wa_payload(value_extra={"errors": [error]}))
    assert event.kind == UNKNOWN and event.raw == error
    assert event.dedup_key.startswith("unknown:") and len(event.dedup_key) == len("unknown:") + 64


def test_other_fields_are_unknown_with_stable_keys(wa):
    payload = fakes.wa_payload(field="message_template_status_update",
                               value_extra={"event": "APPROVED", "message_template_id": 1})
    change = payload["entry"][0]["changes"][0]
    event = one(wa, payload)
    assert event.kind == UNKNOWN and event.raw == change
    reordered = json.loads(json.dumps(change, sort_keys=True))
    assert one(wa, fakes.wa_batch({"object": "whatsapp_business_account",
                                   "entry": [{"id": "1", "changes": [reordered]}]})).dedup_key == event.dedup_key
    payload["entry"][0]["changes"][0]["value"]["event"] = "REJECTED"
    assert one(wa, payload).dedup_key != event.dedup_key


def test_empty_messages_change_is_unknown(wa):
    """A change that carries nothing we know is kept, not dropped."""
    assert one(wa, fakes.wa_payload()).kind == UNKNOWN


def test_batch_keeps_every_event_in_order(wa):
    first = fakes.wa_payload(
        messages=[fakes.wa_message("111", "text", {"body": "a"}, wamid="m1"),
                  fakes.wa_message("222", "text", {"body": "b"}, wamid="m2")],
        contacts=[fakes.wa_contact("111", "One"), fakes.wa_contact("222", "Two")],
        statuses=[fakes.wa_status("s1", "delivered", "333"), fakes.wa_status("s1", "read", "333")],
    )
    second = fakes.wa_payload(messages=[fakes.wa_message("444", "text", {"body": "c"}, wamid="m3")],
                              phone_number_id="100000000000002")
    prefs = fakes.wa_payload(field="user_preferences", value_extra={"user_preferences": [
        fakes.wa_preference("555", "stop", timestamp=1)]})
    envelope = fakes.wa_batch(first, second, prefs)
    envelope["entry"][0]["changes"].append(second["entry"][0]["changes"][0])
    events = parse(wa, envelope)
    assert [(e.kind, e.dedup_key) for e in events] == [
        (MESSAGE, "msg:m1"), (MESSAGE, "msg:m2"), (STATUS, "status:s1:delivered"), (STATUS, "status:s1:read"),
        (MESSAGE, "msg:m3"), (MESSAGE, "msg:m3"), (OPT_OUT, "pref:555:marketing_messages:stop:1"),
    ]
    assert [e.profile_name for e in events[:2]] == ["One", "Two"]
    assert [e.account_ref for e in events] == ["100000000000001"] * 4 + ["100000000000002"] * 2 + [
        "100000000000001"]


def test_empty_entry_list(wa):
    assert wa.parse(b'{"object":"whatsapp_business_account","entry":[]}') == []


# --- parsing: malformed bodies ----------------------------------------------------------------------


def _envelope(entry):
    return {"object": "whatsapp_business_account", "entry": entry}


def _change(value, field="messages"):
    return _envelope([{"id": "1", "changes": [{"field": field, "value": value}]}])


def _message(**overrides):
    message = {"from": WA_ID, "id": "wamid.M", "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}}
    message.update(overrides)
    return _change({"messaging_product": "whatsapp", "messages": [message]})


MALFORMED = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"object": "whatsapp_business_account", "entry": [',
    "invalid utf-8": b'{"object": "whatsapp_business_account", "entry": [], "x": "\xff\xfe"}',
    "utf-16": '{"object": "whatsapp_business_account", "entry": []}'.encode("utf-16"),
    "list": b"[]",
    "string": b'"whatsapp_business_account"',
    "null": b"null",
    "number": b"42",
    "deep nesting": b"[" * 100000 + b"]" * 100000,
    "wrong object": {"object": "page", "entry": []},
    "no object": {"entry": []},
    "no entry": {"object": "whatsapp_business_account"},
    "entry object": _envelope({}),
    "entry string": _envelope("x"),
    "entry item list": _envelope([[]]),
    "entry item null": _envelope([None]),
    "changes object": _envelope([{"id": "1", "changes": {}}]),
    "change string": _envelope([{"id": "1", "changes": ["x"]}]),
    "field number": _envelope([{"id": "1", "changes": [{"field": 1, "value": {}}]}]),
    "value missing": _envelope([{"id": "1", "changes": [{"field": "messages"}]}]),
    "value list": _change([]),
    "value string": _change("x"),
    "messages object": _change({"messages": {}}),
    "message string": _change({"messages": ["x"]}),
    "statuses string": _change({"statuses": "x"}),
    "status without id": _change({"statuses": [{"status": "read"}]}),
    "status id number": _change({"statuses": [{"id": 1, "status": "read"}]}),
    "status errors object": _change({"statuses": [{"id": "s", "status": "failed", "errors": {}}]}),
    "status error code string": _change({"statuses": [{"id": "s", "status": "failed",
                                                       "errors": [{"code": "131047"}]}]}),
    "status timestamp word": _change({"statuses": [{"id": "s", "status": "read", "timestamp": "soon"}]}),
    "errors object": _change({"errors": {}}),
    "contacts object": _change({"contacts": {}, "messages": []}),
    "contact profile string": _change({"contacts": [{"profile": "x", "wa_id": "1"}], "messages": []}),
    "contact name number": _change({"contacts": [{"profile": {"name": 5}, "wa_id": "1"}], "messages": []}),
    "message without from": _message(**{"from": None}),
    "message from number": _message(**{"from": 15551234567}),
    "message without id": _message(id=None),
    "type number": _message(type=1),
    "text string": _message(text="hi"),
    "text body number": _message(text={"body": 1}),
    "timestamp float string": _message(timestamp="1.5"),
    "timestamp bool": _message(timestamp=True),
    "timestamp huge": _message(timestamp="9" * 30),
    "timestamp unicode digits": _message(timestamp="１２３"),
    "context string": _message(context="wamid.X"),
    "image list": _message(type="image", image=[]),
    "image id number": _message(type="image", image={"id": 1}),
    "location missing": _message(type="location", location={"latitude": 1}),
    "location string": _message(type="location", location={"latitude": "1", "longitude": "2"}),
    "location bool": _message(type="location", location={"latitude": True, "longitude": 2}),
    "interactive string": _message(type="interactive", interactive="x"),
    "button reply list": _message(type="interactive", interactive={"type": "button_reply", "button_reply": []}),
    "button payload number": _message(type="button", button={"payload": 1, "text": "x"}),
    "preferences object": _change({"user_preferences": {}}, field="user_preferences"),
    "preference without wa_id": _change({"user_preferences": [{"value": "stop"}]}, field="user_preferences"),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_bodies(wa, body):
    if not isinstance(body, bytes):
        body = fakes.body_bytes(body)
    with pytest.raises(MalformedError):
        wa.parse(body)


def test_parse_accepts_str_and_unknown_top_level_keys(wa):
    payload = fakes.wa_text_payload(WA_ID, "hi")
    payload["extra"] = [1, 2]
    assert one(wa, payload).text == "hi"
    assert wa.parse(json.dumps(payload))[0].text == "hi"


# --- outbound ---------------------------------------------------------------------------------------


def _sent_json(fake):
    (request,) = [r for r in fake.requests if r.path.endswith("/messages")]
    return request


def test_send_text_exact_request(wa, wa_fake):
    result = wa.send_text("+" + WA_ID, "Hello ✓")
    request = _sent_json(wa_fake)
    assert request.method == "POST"
    assert request.path == f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == "Bearer demo-wa-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
                            "type": "text", "text": {"preview_url": False, "body": "Hello ✓"}}
    assert result.external_id == wa_fake.sent[0]["id"]
    assert result.external_id.startswith("wamid.FAKE")
    assert result.raw["messages"][0]["id"] == result.external_id
    assert wa_fake.sent[0]["to"] == WA_ID and wa_fake.sent[0]["text"] == "Hello ✓"


def test_send_text_reply_and_api_version(make_wa, wa_fake):
    wa_fake.api_version = "v20.0"
    make_wa(api_version="20.0").send_text(WA_ID, "ok", reply_to="wamid.IN1")
    request = _sent_json(wa_fake)
    assert request.path.startswith("/v20.0/")
    assert request.json["context"] == {"message_id": "wamid.IN1"}
    wa_fake.api_version = "v21.0"


def test_send_text_limit_checked_before_any_call(wa, wa_fake):
    wa.send_text(WA_ID, "x" * 4096)
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "x" * 4097)
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_long")
    assert len(wa_fake.requests) == 1


def test_send_document_uploads_then_sends(wa, wa_fake):
    content = b"%PDF-1.4\r\n\x00\xff binary\r\n--boundary-like\r\n"
    result = wa.send_document(WA_ID, content, "cv 2024.pdf", "application/pdf", caption="My CV")
    upload, send = wa_fake.requests
    assert upload.path == f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}/media"
    assert upload.headers["authorization"] == "Bearer demo-wa-token"
    assert upload.form == {"messaging_product": "whatsapp", "type": "application/pdf"}
    assert upload.files["file"] == fakes.Upload("cv 2024.pdf", "application/pdf", content)
    media_id = next(iter(wa_fake.media))
    assert send.json == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
                         "type": "document",
                         "document": {"id": media_id, "filename": "cv 2024.pdf", "caption": "My CV"}}
    assert result.external_id == wa_fake.sent[0]["id"]


def test_send_document_caption_limit(wa, wa_fake):
    with pytest.raises(ProviderError) as info:
        wa.send_document(WA_ID, b"x", "a.txt", "text/plain", caption="c" * 1025)
    assert info.value.kind == PERMANENT and not wa_fake.requests


@pytest.mark.parametrize("params, components", [
    (None, None),
    ([], None),
    (["Ann", 42], [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]),
    ([{"type": "header", "parameters": [{"type": "text", "text": "H"}]}, {"type": "body", "parameters": []}],
     [{"type": "header", "parameters": [{"type": "text", "text": "H"}]}, {"type": "body", "parameters": []}]),
])
def test_send_template(wa, wa_fake, params, components):
    wa_fake.close_window(WA_ID)  # templates go outside the window
    result = wa.send_template(WA_ID, "appointment_reminder", "en_US", params)
    template = {"name": "appointment_reminder", "language": {"code": "en_US"}}
    if components:
        template["components"] = components
    assert _sent_json(wa_fake).json == {"messaging_product": "whatsapp", "recipient_type": "individual",
                                        "to": WA_ID, "type": "template", "template": template}
    assert result.raw["messages"][0]["message_status"] == "accepted"


def test_send_template_mixed_params_refused(wa, wa_fake):
    with pytest.raises(ProviderError):
        wa.send_template(WA_ID, "t", "en", ["a", {"type": "body"}])
    assert not wa_fake.requests


def test_test_connection(wa, wa_fake):
    assert wa.test_connection() == "Demo Business (+1 555-000-0001)"
    (request,) = wa_fake.requests
    assert request.path == f"/v21.0/{fakes.DEMO_WA_PHONE_NUMBER_ID}"
    assert request.query == {"fields": "display_phone_number,verified_name"}


def test_register_webhook_unsupported(wa):
    with pytest.raises(ProviderError) as info:
        wa.register_webhook("https://example.com/hook", "s")
    assert info.value.code == "unsupported"


def test_provider_flags(wa):
    assert (wa.name, wa.window_hours, wa.has_receipts, wa.has_templates) == ("whatsapp", 24, True, True)
    assert wa.api_version == "v21.0" and wa.max_media_bytes == 100 * 1024 * 1024


# --- media ------------------------------------------------------------------------------------------


def test_download_media_two_steps(wa, wa_fake):
    content = bytes(range(256)) * 100
    wa_fake.add_media("777", content, "image/jpeg")
    media = one(wa, fakes.wa_payload(messages=[fakes.wa_message(WA_ID, "image", {
        "id": "777", "mime_type": "image/jpeg", "sha256": "x"})])).media
    downloaded = wa.download_media(media)
    assert downloaded.content == content
    assert downloaded.mime_type == "image/jpeg"
    info, data = wa_fake.requests
    assert info.path == "/v21.0/777" and data.path == "/media-download/777"
    assert info.headers["authorization"] == data.headers["authorization"] == "Bearer demo-wa-token"


def test_download_media_keeps_filename(wa, wa_fake):
    wa_fake.add_media("778", b"doc", "application/pdf")
    downloaded = wa.download_media(Media(id="778", filename="cv.pdf"))
    assert (downloaded.content, downloaded.filename, downloaded.mime_type) == (b"doc", "cv.pdf", "application/pdf")


def test_download_media_size_limit(make_wa, wa_fake):
    wa_fake.add_media("779", b"x" * 1001, "image/png")
    with pytest.raises(ProviderError) as info:
        make_wa(max_media_bytes=1000).download_media(Media(id="779"))
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_large")
    assert len(wa_fake.requests) == 1  # refused from the announced file_size, before the download
    assert make_wa(max_media_bytes=1001).download_media(Media(id="779")).content == b"x" * 1001


def test_download_unknown_media(wa):
    with pytest.raises(ProviderError) as info:
        wa.download_media(Media(id="404404"))
    assert (info.value.kind, info.value.code) == (PERMANENT, "100")
    for media in (Media(url="https://example.com/x"), Media(id="../../100000000000001/messages"),
                  Media(id="1?fields=x")):
        with pytest.raises(ProviderError) as info:
            wa.download_media(media)
        assert info.value.code == "no_media"


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("http_status, code, kind, refused", [
    (400, 4, RETRYABLE, None),
    (400, 80007, RETRYABLE, None),
    (400, 130429, RETRYABLE, None),
    (400, 131056, RETRYABLE, None),
    (500, 131000, RETRYABLE, None),
    (400, 133016, RETRYABLE, None),
    (500, 1, RETRYABLE, None),
    (503, 2, RETRYABLE, None),
    (429, 100, RETRYABLE, None),
    (502, 100, RETRYABLE, None),
    (400, 131047, WINDOW_CLOSED, None),
    (400, 131050, PERMANENT, "marketing"),  # the person stopped marketing messages
    (400, 131026, PERMANENT, None),  # undeliverable now: no refusal
    (400, 131048, PERMANENT, None),
    (400, 100, PERMANENT, None),
    (403, 200, PERMANENT, None),
])
def test_error_classification(wa, wa_fake, http_status, code, kind, refused):
    wa_fake.fail_next(1, http_status, fakes.wa_error_body(code, f"(#{code}) Something", details="more"))
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    error = info.value
    assert (error.kind, error.code, error.refused, error.http_status) == (kind, str(code), refused, http_status)
    assert error.retry_after is None
    assert error.message == f"WhatsApp error {code}: (#{code}) Something (more)"
    assert wa_fake.sent == []


@pytest.mark.parametrize("header, expected", [("30", 30), ("0", 0), ("soon", None),
                                              ("Wed, 21 Oct 2015 07:28:00 GMT", 0)])
def test_retry_after_header(wa, wa_fake, header, expected):
    wa_fake.fail_next(1, 429, fakes.wa_error_body(130429, "Rate limit hit"), headers={"Retry-After": header})
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.retry_after) == (RETRYABLE, expected)


def test_non_json_error_classified_by_status(wa, wa_fake):
    wa_fake.fail_next(1, 502, "<html>Bad Gateway</html>")
    wa_fake.fail_next(1, 404, b"\xff\xfe")
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "502")
    assert info.value.message == "WhatsApp API answered HTTP 502"
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.code) == (PERMANENT, "404")


def test_closed_window_synchronous(wa, wa_fake):
    wa_fake.close_window(WA_ID)
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.code, info.value.http_status) == (WINDOW_CLOSED, "131047", 400)
    assert "Re-engagement message" in info.value.message


def test_closed_window_as_failed_status(wa, wa_fake):
    wa_fake.close_window(WA_ID, mode="status")
    result = wa.send_text(WA_ID, "hi")
    event = one(wa, fakes.wa_payload(statuses=wa_fake.statuses))
    assert (event.external_id, event.status, event.error_code) == (result.external_id, "failed", "131047")


def test_rate_cap(wa, wa_fake):
    wa_fake.rate_cap = 2
    wa.send_text(WA_ID, "1")
    wa.send_text(WA_ID, "2")
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "3")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "130429")
    assert len(wa_fake.sent) == 2


def test_invalid_token_error_hides_token(make_wa):
    secret_token = "EAAG-very-secret-token"
    with pytest.raises(ProviderError) as info:
        make_wa(access_token=secret_token).send_text(WA_ID, "hi")
    error = info.value
    assert (error.kind, error.code, error.http_status) == (PERMANENT, "190", 401)
    assert "invalid or expired" in error.message
    for text in (str(error), repr(error), error.message):
        assert secret_token not in text


def test_platform_message_echoing_a_credential_is_redacted(wa, wa_fake):
    wa_fake.fail_next(1, 400, fakes.wa_error_body(100, "bad token demo-wa-token and secret test-app-secret"))
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert "demo-wa-token" not in str(info.value) and "test-app-secret" not in str(info.value)
    assert "***" in info.value.message


def test_network_error(make_wa, dead_url):
    with pytest.raises(ProviderError) as info:
        make_wa(base_url=dead_url, access_token="tok-SECRET").send_text(WA_ID, "hi")
    error = info.value
    assert (error.kind, error.code, error.message) == (RETRYABLE, "network", "network error: ConnectionError")
    assert error.__cause__ is None and error.__suppress_context__


def test_invalid_base_url_is_a_config_error(make_wa):
    with pytest.raises(ProviderError) as info:
        make_wa(base_url="nothing-here").send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.code) == (PERMANENT, "config")


@pytest.mark.parametrize("call", [
    lambda p: p.send_text(WA_ID, "hi"),
    lambda p: p.send_document(WA_ID, b"x", "a.txt", "text/plain"),
    lambda p: p.send_template(WA_ID, "t", "en"),
    lambda p: p.download_media(Media(id="1")),
    lambda p: p.test_connection(),
], ids=["send_text", "send_document", "send_template", "download_media", "test_connection"])
def test_every_call_has_a_timeout(make_wa, wa_fake, call):
    wa_fake.delay = 1
    with pytest.raises(ProviderError) as info:
        call(make_wa(timeout=0.1))
    error = info.value
    assert (error.kind, error.code, error.message) == (RETRYABLE, "network", "network error: ReadTimeout")


def test_bad_success_answer(wa, wa_fake):
    wa_fake.fail_next(1, 200, {"messaging_product": "whatsapp", "messages": []})
    with pytest.raises(ProviderError) as info:
        wa.send_text(WA_ID, "hi")
    assert (info.value.kind, info.value.code) == (PERMANENT, "bad_response")


@pytest.mark.parametrize("value", [" ", "\x00", " \x00\x00 "])
@pytest.mark.parametrize("field", ["id", "from"])
def test_empty_required_ids_are_malformed(wa, field, value):
    """NUL characters cannot be stored: an id made only of them would be stored as an empty id (hostile run)."""
    message = fakes.wa_message("111", "text", {"body": "a"}, wamid="m1")
    message[field] = value
    with pytest.raises(MalformedError):
        wa.parse(fakes.body_bytes(fakes.wa_payload(messages=[message])))


# --- templates --------------------------------------------------------------------------------------


def test_list_templates_follows_the_pages(wa, wa_fake):
    for i in range(130):
        wa_fake.add_template(f"t{i:03d}", "Hello {{1}}", category="UTILITY")
    templates = wa.list_templates(fakes.DEMO_WABA_ID)
    assert [t["name"] for t in templates] == [f"t{i:03d}" for i in range(130)]
    assert templates[0]["components"] == [{"type": "BODY", "text": "Hello {{1}}"}]
    pages = wa_fake.requests
    assert [r.path for r in pages] == [f"/v21.0/{fakes.DEMO_WABA_ID}/message_templates"] * 2
    assert pages[0].headers["authorization"] == f"Bearer {fakes.DEMO_WA_TOKEN}"
    assert "after" not in pages[0].query and pages[1].query["after"] == "100"


def test_list_templates_refuses_a_bad_account_id(wa, wa_fake):
    with pytest.raises(ProviderError) as info:
        wa.list_templates("../me")
    assert info.value.kind == PERMANENT and not wa_fake.requests
