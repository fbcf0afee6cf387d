"""Facebook Messenger and Instagram providers: webhook side (no network), the payloads of Meta's documentation
(tests/fixtures/fb_*.json, ig_*.json) and outbound calls against the fake Graph API (messenger_fakes.meta)."""
import datetime
import hashlib
import json
import logging
import pathlib

import pytest
import requests

from messenger_connector import providers
from messenger_connector.providers import (
    AUDIO, BUTTON, DOCUMENT, ECHO, IMAGE, LOCATION, MESSAGE, OTHER, PERMANENT, RETRYABLE, STATUS, STICKER, TEXT,
    UNKNOWN, VIDEO, WINDOW_CLOSED, AuthError, InstagramProvider, MalformedError, Media, MessengerProvider, Profile,
    ProviderError, WhatsAppProvider, _http, _meta, get_provider,
)
import messenger_fakes as fakes
from messenger_fakes import meta as meta_fakes

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
UTC = datetime.timezone.utc
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PSID = "1254459154682919"
PLATFORMS = ["messenger", "instagram"]


@pytest.fixture(scope="module")
def _servers():
    with meta_fakes.FakeMeta("messenger") as messenger, meta_fakes.FakeMeta("instagram") as instagram:
        yield {"messenger": messenger, "instagram": instagram}


@pytest.fixture(params=PLATFORMS)
def platform(request):
    return request.param


@pytest.fixture
def fake(_servers, platform):
    """The module's fake Graph API of ``platform``, reset for each test."""
    server = _servers[platform]
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def make(fake, platform):
    """Build the provider of ``platform`` against its fake; keyword arguments override its config."""
    def build(**overrides):
        return get_provider(platform, {
            "base_url": fake.url, "page_id": fake.page_id, "access_token": meta_fakes.DEMO_META_TOKEN,
            "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "timeout": 5, **overrides})
    return build


@pytest.fixture
def provider(make):
    return make()


def parse(provider, items, page_id=None):
    platform = provider.name
    page_id = page_id or provider.page_id
    return provider.parse(fakes.body_bytes(meta_fakes.payload(items, platform=platform, page_id=page_id)))


def one(provider, item):
    events = parse(provider, [item])
    assert len(events) == 1, events
    return events[0]


# --- registry and capabilities ----------------------------------------------------------------------


def test_registered_with_their_capabilities():
    assert providers.PROVIDERS["messenger"] is MessengerProvider
    assert providers.PROVIDERS["instagram"] is InstagramProvider
    for cls, address in ((MessengerProvider, "psid"), (InstagramProvider, "igsid")):
        assert (cls.window_hours, cls.human_window_hours, cls.human_tag) == (24, 168, "HUMAN_AGENT")
        assert (cls.address_kind, cls.has_verify_token, cls.echo_author, cls.has_receipts) == (
            address, True, "Meta", True)
        assert cls.has_templates is False and cls.starts_by_phone is False
        assert cls.address_for_phone("+4917112345678") is None
        assert set(cls.secret_keys) == {"access_token", "app_secret", "verify_token"}


def test_one_meta_code_path_for_handshake_and_signature():
    """WhatsApp, Messenger and Instagram share the handshake, the signature check and the delivery key."""
    for cls in (WhatsAppProvider, MessengerProvider, InstagramProvider):
        assert issubclass(cls, _meta.MetaWebhook)
        for method in ("handshake", "authenticate", "delivery_key"):
            assert getattr(cls, method) is getattr(_meta.MetaWebhook, method), (cls, method)


# --- reply terms: window and HUMAN_AGENT ------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("hours_ago, human_agent, human, allowed, tag", [
    (1, False, True, True, None),
    (23.9, True, True, True, None),
    (25, False, True, False, None),
    (25, True, True, True, "HUMAN_AGENT"),
    (25, True, False, False, None),  # an automatic reply never uses the human agent tag
    (167, True, True, True, "HUMAN_AGENT"),
    (169, True, True, False, None),
    (None, True, True, False, None),
])
def test_reply_terms(platform, hours_ago, human_agent, human, allowed, tag):
    provider = get_provider(platform, {"human_agent": human_agent})
    last = None if hours_ago is None else NOW - datetime.timedelta(hours=hours_ago)
    terms = provider.reply_terms(last, NOW, human=human)
    assert (terms.allowed, terms.tag) == (allowed, tag)
    if allowed and tag:
        assert terms.closes_at == last + datetime.timedelta(hours=168)


# --- handshake --------------------------------------------------------------------------------------


def test_handshake(provider):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert provider.handshake(params) == "1158201444"
    for bad in ({**params, "hub.verify_token": "wrong"}, {**params, "hub.mode": "x"}, {"hub.challenge": "c"},
                {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, {}, None):
        with pytest.raises(AuthError):
            provider.handshake(bad)


def test_handshake_without_configured_token_fails_closed(make):
    provider = make(verify_token="")
    for given in ("", None):
        with pytest.raises(AuthError):
            provider.handshake({"hub.mode": "subscribe", "hub.verify_token": given, "hub.challenge": "c"})


# --- signatures -------------------------------------------------------------------------------------


def _body(platform):
    return fakes.body_bytes(meta_fakes.payload([meta_fakes.message_item(PSID, "1", text="héllo ✓")],
                                               platform=platform))


def test_signature_accepted(provider):
    body = _body(provider.name)
    signature = fakes.wa_signature(body, APP_SECRET)
    assert provider.authenticate({"X-Hub-Signature-256": signature}, body) is None
    assert provider.authenticate({"x-hub-signature-256": signature}, bytearray(body)) is None
    _body_, headers = meta_fakes.signed(json.loads(body), APP_SECRET)
    assert provider.authenticate(headers, _body_) is None


@pytest.mark.parametrize("variant", ["missing", "empty", "bare hex", "short", "sha1", "other body", "other secret",
                                     "legacy only", "not text", "non hex"])
def test_signature_refused(provider, variant):
    body = _body(provider.name)
    good = fakes.wa_signature(body, APP_SECRET)
    headers = {
        "missing": {},
        "empty": {"X-Hub-Signature-256": ""},
        "bare hex": {"X-Hub-Signature-256": good[7:]},
        "short": {"X-Hub-Signature-256": good[:-1]},
        "sha1": {"X-Hub-Signature-256": "sha1=" + good[7:]},
        "other body": {"X-Hub-Signature-256": fakes.wa_signature(body + b" ", APP_SECRET)},
        "other secret": {"X-Hub-Signature-256": fakes.wa_signature(body, "other")},
        "legacy only": {"X-Hub-Signature": "sha1=" + hashlib.sha1(body).hexdigest()},
        "not text": {"X-Hub-Signature-256": good.encode()},
        "non hex": {"X-Hub-Signature-256": "sha256=" + "z" * 64},
    }[variant]
    with pytest.raises(AuthError):
        provider.authenticate(headers, body)


def test_signature_without_app_secret_fails_closed(make):
    provider = make(app_secret=None)
    body = _body(provider.name)
    with pytest.raises(AuthError):
        provider.authenticate({"X-Hub-Signature-256": fakes.wa_signature(body, "")}, body)


def test_delivery_key_is_body_hash(provider):
    body = _body(provider.name)
    assert provider.delivery_key(body) == "sha256:" + hashlib.sha256(body).hexdigest()


# --- parsing: messages ------------------------------------------------------------------------------


def test_text_message(provider):
    item = meta_fakes.message_item(PSID, provider.page_id, text="Hello", mid="m_1", timestamp=1700000000123)
    event = one(provider, item)
    assert (event.kind, event.content_type, event.text) == (MESSAGE, TEXT, "Hello")
    assert (event.external_user_id, event.external_id, event.dedup_key) == (PSID, "m_1", "msg:m_1")
    assert event.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert event.account_ref == provider.page_id
    assert event.raw == item
    assert (event.reply_to, event.payload, event.referral, event.media) == (None, None, None, None)


def test_quick_reply_and_reply_to(provider):
    item = meta_fakes.message_item(PSID, provider.page_id, text="Yes", mid="m_2", quick_reply="YES_PAYLOAD",
                                   reply_to="m_OUT1")
    event = one(provider, item)
    assert (event.content_type, event.text, event.payload, event.reply_to) == (BUTTON, "Yes", "YES_PAYLOAD", "m_OUT1")


@pytest.mark.parametrize("kind, content_type", [("image", IMAGE), ("video", VIDEO), ("audio", AUDIO),
                                                ("file", DOCUMENT), ("sticker", STICKER)])
def test_attachments_are_cdn_urls(provider, kind, content_type):
    url = "https://scontent.xx.fbcdn.net/v/t1/abc_n.jpg?oh=1&oe=2"
    event = one(provider, meta_fakes.message_item(PSID, provider.page_id, mid="m_3", attachments=[(kind, url)]))
    assert (event.kind, event.content_type, event.media, event.text) == (MESSAGE, content_type, Media(url=url), None)


def test_several_attachments_give_one_event_each(provider):
    item = meta_fakes.message_item(PSID, provider.page_id, text="my files", mid="m_4", attachments=[
        ("image", "https://cdn/1.jpg"), ("file", "https://cdn/cv.pdf"), ("image", "https://cdn/3.jpg")])
    events = parse(provider, [item])
    assert [(e.external_id, e.content_type, e.media.url) for e in events] == [
        ("m_4", IMAGE, "https://cdn/1.jpg"), ("m_4#2", DOCUMENT, "https://cdn/cv.pdf"),
        ("m_4#3", IMAGE, "https://cdn/3.jpg")]
    assert [e.text for e in events] == ["my files", None, None]
    assert len({e.dedup_key for e in events}) == 3


@pytest.mark.parametrize("attachment, text", [
    ({"type": "fallback", "title": "A link", "payload": {"url": "https://example.com"}}, "A link"),
    ({"type": "share", "payload": {"url": "https://instagram.com/p/1"}}, "https://instagram.com/p/1"),
    ({"type": "story_mention", "payload": {"url": "https://cdn/story"}}, "https://cdn/story"),
    ({"type": "template", "payload": {"template_type": "generic"}}, None),
    ({"type": "fallback", "payload": None}, None),
])
def test_other_attachments_are_kept(provider, attachment, text):
    item = meta_fakes.message_item(PSID, provider.page_id, mid="m_5")
    item["message"]["attachments"] = [attachment]
    event = one(provider, item)
    assert (event.kind, event.content_type, event.text, event.media) == (MESSAGE, OTHER, text, None)


def test_location_attachment(provider):
    item = meta_fakes.message_item(PSID, provider.page_id, mid="m_6")
    item["message"]["attachments"] = [{"type": "location", "title": "Home", "payload": {
        "coordinates": {"lat": 52.52, "long": 13.405}}}]
    event = one(provider, item)
    assert (event.content_type, event.location.latitude, event.location.longitude, event.text) == (
        LOCATION, 52.52, 13.405, "Home")


def test_unsupported_and_deleted_messages_are_kept(provider):
    unsupported = meta_fakes.message_item(PSID, provider.page_id, mid="m_7")
    unsupported["message"]["is_unsupported"] = True
    assert (one(provider, unsupported).kind, one(provider, unsupported).content_type) == (MESSAGE, OTHER)
    deleted = meta_fakes.message_item(PSID, provider.page_id, mid="m_8")
    deleted["message"]["is_deleted"] = True
    event = one(provider, deleted)
    assert event.kind == UNKNOWN and event.raw == deleted


def test_referral_in_a_message(provider):
    item = meta_fakes.message_item(PSID, provider.page_id, text="hi", mid="m_9", referral="JOB-7")
    assert one(provider, item).referral == "JOB-7"


# --- postbacks and referrals ------------------------------------------------------------------------


def test_postback(provider):
    item = meta_fakes.postback_item(PSID, provider.page_id, "Get Started", "GET_STARTED", mid="m_10")
    event = one(provider, item)
    assert (event.kind, event.content_type, event.text, event.payload) == (MESSAGE, BUTTON, "Get Started",
                                                                           "GET_STARTED")
    assert (event.external_id, event.dedup_key, event.referral) == ("m_10", "msg:m_10", None)


def test_postback_with_job_reference(provider):
    item = meta_fakes.postback_item(PSID, provider.page_id, "Get Started", "GET_STARTED", ref="JOB-42")
    assert one(provider, item).referral == "JOB-42"


def test_postback_without_mid_has_a_stable_key(provider):
    item = meta_fakes.postback_item(PSID, provider.page_id, "Menu", "MENU", timestamp=1700000000000)
    del item["postback"]["mid"]
    first, again = one(provider, item), one(provider, json.loads(json.dumps(item)))
    assert first.external_id is None and first.dedup_key == again.dedup_key


def test_referral_of_a_link(provider):
    item = meta_fakes.referral_item(PSID, provider.page_id, "JOB-12", timestamp=1700000000000)
    event = one(provider, item)
    assert (event.kind, event.referral, event.external_user_id, event.text) == (MESSAGE, "JOB-12", PSID, None)
    assert event.dedup_key == one(provider, item).dedup_key
    assert event.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_referral_without_reference_is_unknown(provider):
    item = meta_fakes.referral_item(PSID, provider.page_id, None, source="ADS")
    del item["referral"]["ref"]
    assert one(provider, item).kind == UNKNOWN


# --- receipts ---------------------------------------------------------------------------------------


def test_delivery_with_mids(provider):
    item = meta_fakes.delivery_item(PSID, provider.page_id, watermark=1700000000500, mids=["m_A", "m_B"])
    events = parse(provider, [item])
    assert [(e.kind, e.status, e.external_id) for e in events] == [
        (STATUS, "delivered", "m_A"), (STATUS, "delivered", "m_B"), (STATUS, "delivered", None)]
    assert [e.dedup_key for e in events[:2]] == ["status:m_A:delivered", "status:m_B:delivered"]
    watermark = events[2]
    assert watermark.external_user_id == PSID
    assert watermark.watermark == datetime.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert all(e.account_ref == provider.page_id for e in events)


def test_delivery_watermark_only(provider):
    event = one(provider, meta_fakes.delivery_item(PSID, provider.page_id, watermark=1458668856253))
    assert (event.kind, event.status, event.external_id, event.external_user_id) == (STATUS, "delivered", None, PSID)
    assert event.watermark.tzinfo is not None and event.watermark.year == 2016
    assert event.dedup_key == f"watermark:{PSID}:delivered:1458668856253"


def test_read_watermark(provider):
    event = one(provider, meta_fakes.read_item(PSID, provider.page_id, watermark=1458668856253))
    assert (event.kind, event.status, event.external_id, event.external_user_id) == (STATUS, "read", None, PSID)
    assert event.watermark == datetime.datetime.fromtimestamp(1458668856.253, UTC)


def test_read_of_one_message(provider):
    """Instagram's messaging_seen names the message read."""
    event = one(provider, meta_fakes.read_item(PSID, provider.page_id, mid="m_OUT9"))
    assert (event.kind, event.status, event.external_id, event.watermark) == (STATUS, "read", "m_OUT9", None)


@pytest.mark.parametrize("mids", ["m_A", [1], [None], [""], [" \x00"], {"a": 1}])
def test_bad_mids_are_malformed(provider, mids):
    item = meta_fakes.delivery_item(PSID, provider.page_id, watermark=1)
    item["delivery"]["mids"] = mids
    with pytest.raises(MalformedError):
        parse(provider, [item])


# --- echoes -----------------------------------------------------------------------------------------


def test_echo(provider):
    item = meta_fakes.echo_item(PSID, provider.page_id, mid="m_OUT2", text="Hi from the page")
    event = one(provider, item)
    assert (event.kind, event.external_user_id, event.external_id, event.text) == (
        ECHO, PSID, "m_OUT2", "Hi from the page")
    assert event.dedup_key == "msg:m_OUT2"
    assert event.account_ref == provider.page_id


def test_echo_of_our_own_send_carries_its_id(provider, fake):
    sent = provider.send_text(PSID, "queued reply")
    (item,) = fake.echoes
    event = one(provider, item)
    assert (event.kind, event.external_id, event.external_user_id) == (ECHO, sent.external_id, PSID)


# --- envelopes, routing, unknowns, malformed --------------------------------------------------------


def test_every_entry_and_item_with_its_page(provider):
    other_page = "999000999000"
    first = meta_fakes.payload([meta_fakes.message_item(PSID, provider.page_id, text="a", mid="m_a"),
                                meta_fakes.read_item(PSID, provider.page_id, watermark=5)], platform=provider.name,
                               page_id=provider.page_id)
    second = meta_fakes.payload([meta_fakes.message_item("42", other_page, text="b", mid="m_b")],
                                platform=provider.name, page_id=other_page)
    events = provider.parse(fakes.body_bytes(meta_fakes.batch(first, second)))
    assert [(e.kind, e.account_ref) for e in events] == [
        (MESSAGE, provider.page_id), (STATUS, provider.page_id), (MESSAGE, other_page)]


@pytest.mark.parametrize("item", [
    {"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1, "reaction": {"mid": "m", "action": "react"}},
    {"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1, "optin": {"ref": "x"}},
    {"sender": {"user_ref": "plugin-ref"}, "recipient": {"id": "1"}, "timestamp": 1, "message": {"mid": "m_x"}},
    {"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1},
], ids=["reaction", "optin", "user_ref sender", "empty"])
def test_unknown_items_are_kept(provider, item):
    event = one(provider, item)
    assert event.kind == UNKNOWN and event.raw == item
    assert event.dedup_key.startswith("unknown:")


def test_standby_and_changes_are_kept(provider):
    envelope = {"object": provider.webhook_object, "entry": [
        {"id": "1", "time": 1, "standby": [meta_fakes.message_item(PSID, "1", text="x")]},
        {"id": "1", "time": 1, "changes": [{"field": "feed", "value": {"item": "post"}}]},
        {"id": "1", "time": 1}]}
    events = provider.parse(fakes.body_bytes(envelope))
    assert [e.kind for e in events] == [UNKNOWN] * 3
    assert all(e.account_ref == "1" for e in events)


@pytest.mark.parametrize("body", [
    b"", b"null", b"[]", b"{", b"\xff", b'{"object": "page"}', b'{"object": "whatsapp_business_account", "entry": []}',
    b'{"entry": []}', b'{"object": "page", "entry": {}}', b'{"object": "page", "entry": [1]}',
    b'{"object": "page", "entry": [{"messaging": {}}]}', b'{"object": "page", "entry": [{"messaging": [[]]}]}',
    b'{"object": "page", "entry": [{"id": 5, "messaging": []}]}',
    b'{"object": "page", "entry": [{"messaging": [{"recipient": {"id": "1"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": "x", "recipient": {"id": "1"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": 5}, "recipient": {"id": "1"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"message": {"text": "no mid"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"message": "x"}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"timestamp": "soon", "message": {"mid": "m"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"timestamp": 99999999999999999999999, "message": {"mid": "m"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"message": {"mid": " \\u0000 "}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"message": {"mid": "m", "attachments": [{"type": "location", "payload": {"coordinates": {"lat": "x"}}}]}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"delivery": {"watermark": 1.5}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, '
    b'"postback": []}]}]}',
    b"[" * 100000 + b"]" * 100000,
])
def test_malformed_bodies(body):
    provider = MessengerProvider({})
    with pytest.raises(MalformedError):
        provider.parse(body)


@pytest.mark.parametrize("value", ["", " ", "\x00", " \x00 "])
@pytest.mark.parametrize("where", ["sender", "recipient", "postback mid", "read mid", "echo recipient"])
def test_empty_ids_are_malformed(provider, where, value):
    """An id made of nothing storable is refused, never stored as an empty id (found by the hostile run)."""
    item = {
        "sender": meta_fakes.message_item(PSID, "1", text="x"),
        "recipient": meta_fakes.message_item(PSID, "1", text="x"),
        "postback mid": meta_fakes.postback_item(PSID, "1", "T"),
        "read mid": meta_fakes.read_item(PSID, "1", mid="m"),
        "echo recipient": meta_fakes.echo_item(PSID, "1", text="x"),
    }[where]
    if where in ("sender", "recipient", "echo recipient"):
        item[where.split()[-1]]["id"] = value
    else:
        item[where.split()[0]]["mid"] = value
    with pytest.raises(MalformedError):
        parse(provider, [item])


def test_object_of_the_other_platform_is_malformed(provider):
    other = "page" if provider.name == "instagram" else "instagram"
    with pytest.raises(MalformedError):
        provider.parse(fakes.body_bytes({"object": other, "entry": []}))


def test_fuzzed_values_never_raise_anything_but_malformed(provider):
    """Every value of every documented payload replaced by values of other types: parsed, or MalformedError."""
    wrong = [None, True, 0, -1, 2 ** 70, 1.5, "", "x", [], [1], {}, {"a": 1}, "\x00"]
    bases = [
        meta_fakes.message_item(PSID, "1", text="t", quick_reply="q", reply_to="r", referral="JOB-1",
                                attachments=[("image", "https://c/1")]),
        meta_fakes.postback_item(PSID, "1", "T", "P", ref="JOB-2"),
        meta_fakes.referral_item(PSID, "1", "JOB-3"),
        meta_fakes.delivery_item(PSID, "1", 5, mids=["a"]),
        meta_fakes.read_item(PSID, "1", watermark=5), meta_fakes.read_item(PSID, "1", mid="m"),
        meta_fakes.echo_item(PSID, "1", "m", text="t"),
    ]

    def paths(value, prefix=()):
        yield prefix
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            yield from paths(child, prefix + (key,))

    count = 0
    for base in bases:
        envelope = meta_fakes.payload([base], platform=provider.name, page_id="1")
        for path in list(paths(envelope))[1:]:
            for value in wrong:
                mutated = json.loads(json.dumps(envelope))
                target = mutated
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                try:
                    events = provider.parse(fakes.body_bytes(mutated))
                except MalformedError:
                    continue
                count += 1
                for event in events:
                    assert event.dedup_key and isinstance(event.dedup_key, str)
                    assert event.raw is not None
    assert count > 100


# --- captured payloads of Meta's documentation ------------------------------------------------------


def fixture(name):
    return (FIXTURES / name).read_bytes()


def test_documented_text_and_reply_messages():
    events = MessengerProvider({}).parse(fixture("fb_message_text.json"))
    assert [(e.kind, e.content_type, e.text, e.payload, e.reply_to) for e in events] == [
        (MESSAGE, BUTTON, "hello, world!", "DEVELOPER_DEFINED_PAYLOAD", None),
        (MESSAGE, TEXT, "hello, world!", None, "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU")]
    assert events[0].external_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert events[0].timestamp == datetime.datetime.fromtimestamp(1458692752.478, UTC)
    assert {e.account_ref for e in events} == {"682498302938465"}
    assert {e.external_user_id for e in events} == {PSID}


def test_documented_attachment():
    (event,) = MessengerProvider({}).parse(fixture("fb_message_attachment.json"))
    assert (event.content_type, event.external_id) == (IMAGE, "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c")
    assert event.media.url.startswith("https://scontent.xx.fbcdn.net/")


def test_documented_postback_and_referral():
    (postback,) = MessengerProvider({}).parse(fixture("fb_postback.json"))
    assert (postback.content_type, postback.text, postback.payload, postback.referral) == (
        BUTTON, "TITLE-FOR-THE-CTA", "USER-DEFINED-PAYLOAD", "USER-DEFINED-REFERRAL-PARAM")
    (referral,) = MessengerProvider({}).parse(fixture("fb_referral.json"))
    assert (referral.kind, referral.referral) == (MESSAGE, "JOB-12")


def test_documented_delivery_and_read():
    provider = MessengerProvider({})
    delivered, watermark = provider.parse(fixture("fb_delivery.json"))
    assert (delivered.status, delivered.external_id) == ("delivered", "mid.1458668856218:ed81099e15d3f4f233")
    assert delivered.timestamp is None  # the documented delivery has no timestamp
    assert watermark.watermark == datetime.datetime.fromtimestamp(1458668856.253, UTC)
    (read,) = provider.parse(fixture("fb_read.json"))
    assert (read.status, read.external_id, read.external_user_id) == ("read", None, PSID)
    assert read.watermark == datetime.datetime.fromtimestamp(1458668856.253, UTC)


def test_documented_echo():
    (echo,) = MessengerProvider({}).parse(fixture("fb_echo.json"))
    assert (echo.kind, echo.external_user_id, echo.account_ref, echo.text) == (
        ECHO, PSID, "682498302938465", "hello, world!")


def test_documented_instagram_message_and_seen():
    provider = InstagramProvider({})
    (message,) = provider.parse(fixture("ig_message.json"))
    assert (message.kind, message.text, message.external_user_id, message.account_ref) == (
        MESSAGE, "Hi, is the job still open?", "1916547355103417", "17841405822304914")
    (seen,) = provider.parse(fixture("ig_messaging_seen.json"))
    assert (seen.kind, seen.status, seen.external_id) == (STATUS, "read", json.loads(
        fixture("ig_messaging_seen.json"))["entry"][0]["messaging"][0]["read"]["mid"])
    with pytest.raises(MalformedError):
        provider.parse(fixture("fb_message_text.json"))


# --- sending ----------------------------------------------------------------------------------------


def test_send_text(provider, fake):
    result = provider.send_text(PSID, "Hello there")
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", f"/v21.0/{fake.page_id}/messages")
    assert request.query == {"access_token": meta_fakes.DEMO_META_TOKEN}
    assert "authorization" not in request.headers
    assert request.json == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Hello there"}}
    assert result.external_id == fake.sent[0]["id"] and result.external_id.startswith("m_")


def test_send_with_tag(provider, fake):
    provider.send_text(PSID, "Late answer", tag="HUMAN_AGENT")
    assert fake.requests[0].json == {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG",
                                     "tag": "HUMAN_AGENT", "message": {"text": "Late answer"}}


def test_text_length(provider, fake):
    provider.send_text(PSID, "x" * 1999)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "x" * 2000)
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_long")
    with pytest.raises(ProviderError):
        provider.send_text(PSID, "  ")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("to", ["../me", "1?x=1", "", None, "12 34", True])
def test_send_refuses_a_bad_recipient_before_any_call(provider, fake, to):
    with pytest.raises(ProviderError) as info:
        provider.send_text(to, "hi")
    assert info.value.code == "invalid_recipient" and not fake.requests


def test_send_without_page_id(make, fake):
    with pytest.raises(ProviderError) as info:
        make(page_id="../x").send_text(PSID, "hi")
    assert (info.value.kind, info.value.code) == (PERMANENT, "config") and not fake.requests


@pytest.mark.parametrize("mime_type, kind", [("application/pdf", "file"), ("image/png", "image"),
                                             ("video/mp4", "video"), (None, "file")])
def test_send_document_uploads_then_sends(provider, fake, mime_type, kind):
    result = provider.send_document(PSID, b"%PDF-1.4 demo", "cv.pdf", mime_type)
    upload, send = fake.requests
    assert upload.path == f"/v21.0/{fake.page_id}/message_attachments"
    assert upload.query == {"access_token": meta_fakes.DEMO_META_TOKEN}
    assert json.loads(upload.form["message"]) == {"attachment": {"type": kind, "payload": {"is_reusable": False}}}
    assert upload.form.get("platform") == ("instagram" if provider.name == "instagram" else None)
    assert upload.files["filedata"].content == b"%PDF-1.4 demo" and upload.files["filedata"].filename == "cv.pdf"
    attachment_id = result.raw["attachment_id"]
    assert send.json == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {
        "attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}}}
    assert fake.attachments[attachment_id]["content"] == b"%PDF-1.4 demo"
    assert result.external_id == fake.sent[-1]["id"] and result.raw["caption_id"] is None


def test_send_document_with_caption_and_tag(provider, fake):
    result = provider.send_document(PSID, b"doc", "a.pdf", "application/pdf", caption="Your contract",
                                    tag="HUMAN_AGENT")
    caption, document = fake.sent
    assert caption["text"] == "Your contract" and result.raw["caption_id"] == caption["id"]
    assert result.external_id == document["id"]
    assert all(r.json["tag"] == "HUMAN_AGENT" for r in fake.requests if r.json)
    # the caption's echo is part of the document message: kept, never a message of its own
    caption_echo, document_echo = (one(provider, item) for item in fake.echoes)
    assert caption_echo.kind == UNKNOWN and caption_echo.raw == fake.echoes[0]
    assert (document_echo.kind, document_echo.external_id) == (ECHO, result.external_id)


def test_send_document_size_limit(provider, fake):
    with pytest.raises(ProviderError) as info:
        provider.send_document(PSID, b"x" * (25 * 1024 * 1024 + 1), "big.bin", "application/octet-stream")
    assert info.value.code == "too_large" and not fake.requests


def test_upload_failures(provider, fake):
    fake.fail_next(1, 200, {"ok": True})
    with pytest.raises(ProviderError) as info:
        provider.send_document(PSID, b"doc", "a.pdf", "application/pdf")
    assert (info.value.kind, info.value.code) == (PERMANENT, "bad_response") and "attachment_id" in str(info.value)
    fake.fail_next(1, 500, meta_fakes.meta_error_body(2, "Service temporarily unavailable"))
    with pytest.raises(ProviderError) as info:
        provider.send_document(PSID, b"doc", "a.pdf", "application/pdf", caption="not sent either")
    assert info.value.kind == RETRYABLE and fake.sent == []


# --- window and tags on the fake --------------------------------------------------------------------


def test_window_closed(provider, fake):
    fake.set_last_inbound(PSID, hours_ago=30)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "too late")
    error = info.value
    assert (error.kind, error.code, error.http_status) == (WINDOW_CLOSED, "10", 400)
    assert "outside of allowed window" in error.message
    assert provider.send_text(PSID, "human", tag="HUMAN_AGENT").external_id
    fake.set_last_inbound(PSID, hours_ago=200)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "human, far too late", tag="HUMAN_AGENT")
    assert info.value.kind == WINDOW_CLOSED


def test_human_agent_without_permission(provider, fake):
    fake.set_last_inbound(PSID, hours_ago=30)
    fake.allow_human_agent(False)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "human", tag="HUMAN_AGENT")
    assert (info.value.kind, info.value.code) == (PERMANENT, "10")


def test_inside_window(provider, fake):
    fake.inbound(PSID, "hello")
    assert provider.send_text(PSID, "answer").external_id


def test_person_unavailable_is_no_refusal(provider, fake):
    fake.unavailable(PSID)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    error = info.value
    assert (error.kind, error.code, error.refused, error.blocked) == (PERMANENT, "551", None, False)


# --- error classification ---------------------------------------------------------------------------


@pytest.mark.parametrize("http_status, code, subcode, kind", [
    (400, 10, 2018278, WINDOW_CLOSED),
    (400, 10, 2018065, PERMANENT),
    (400, 10, None, PERMANENT),
    (400, 551, 1545041, PERMANENT),
    (400, 4, None, RETRYABLE),
    (400, 613, None, RETRYABLE),
    (500, 1, None, RETRYABLE),
    (503, 2, None, RETRYABLE),
    (400, 100, None, PERMANENT),
    (400, 100, 2018001, PERMANENT),
    (403, 200, None, PERMANENT),
    (429, 100, None, RETRYABLE),
    (502, 100, None, RETRYABLE),
])
def test_error_classification(provider, fake, http_status, code, subcode, kind):
    fake.fail_next(1, http_status, meta_fakes.meta_error_body(code, f"(#{code}) Something", subcode=subcode))
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    error = info.value
    assert (error.kind, error.code, error.http_status, error.refused) == (kind, str(code), http_status, None)
    expected_code = f"{code}/{subcode}" if subcode else str(code)
    assert error.message == f"{provider.label} error {expected_code}: (#{code}) Something"


def test_invalid_token(make, fake):
    secret = "EAAG-a-very-secret-page-token"
    with pytest.raises(ProviderError) as info:
        make(access_token=secret).send_text(PSID, "hi")
    error = info.value
    assert (error.kind, error.code, error.http_status) == (PERMANENT, "190", 401)
    assert "invalid or expired" in error.message
    for text in (str(error), repr(error), error.message):
        assert secret not in text


@pytest.mark.parametrize("header, expected", [("30", 30), (None, None), ("soon", None)])
def test_rate_limit_honours_retry_after(provider, fake, header, expected):
    headers = {"Retry-After": header} if header else None
    fake.fail_next(1, 400, meta_fakes.meta_error_body(613, "Calls to this api have exceeded the rate limit."),
                   headers=headers)
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    assert (info.value.kind, info.value.code, info.value.retry_after) == (RETRYABLE, "613", expected)


def test_non_json_error(provider, fake):
    fake.fail_next(1, 502, "<html>Bad Gateway</html>")
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    assert (info.value.kind, info.value.code, info.value.message) == (
        RETRYABLE, "502", f"{provider.label} API answered HTTP 502")


def test_secrets_never_in_error_messages(make, fake):
    provider = make(access_token=meta_fakes.DEMO_META_TOKEN, app_secret="app-secret-XYZ", verify_token="vt-XYZ")
    fake.fail_next(1, 400, meta_fakes.meta_error_body(
        100, f"token {meta_fakes.DEMO_META_TOKEN} secret app-secret-XYZ verify vt-XYZ"))
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    for secret in (meta_fakes.DEMO_META_TOKEN, "app-secret-XYZ", "vt-XYZ"):
        assert secret not in str(info.value)


def test_network_error_hides_the_url(make, dead_url):
    with pytest.raises(ProviderError) as info:
        make(base_url=dead_url, access_token="tok-SECRET").send_text(PSID, "hi")
    error = info.value
    assert (error.kind, error.code, error.message) == (RETRYABLE, "network", "network error: ConnectionError")
    assert error.__cause__ is None and error.__suppress_context__


def test_token_in_urls_is_redacted_from_logs(provider, fake, caplog):
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        provider.send_text(PSID, "hi")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "access_token=<token>" in logged
    assert meta_fakes.DEMO_META_TOKEN not in logged
    assert _http.redact_url_tokens("GET /v1/1?fields=a&access_token=EAAB.x-y&b=1") == (
        "GET /v1/1?fields=a&access_token=<token>&b=1")


def test_bad_success_answer(provider, fake):
    fake.fail_next(1, 200, {"recipient_id": PSID})
    with pytest.raises(ProviderError) as info:
        provider.send_text(PSID, "hi")
    assert (info.value.kind, info.value.code) == (PERMANENT, "bad_response")


@pytest.mark.parametrize("call", [
    lambda p: p.send_text(PSID, "hi"),
    lambda p: p.send_document(PSID, b"x", "a.txt", "text/plain"),
    lambda p: p.fetch_profile(PSID),
    lambda p: p.test_connection(),
], ids=["send_text", "send_document", "fetch_profile", "test_connection"])
def test_every_call_has_a_timeout(make, fake, call):
    fake.delay = 1
    with pytest.raises(ProviderError) as info:
        call(make(timeout=0.1))
    assert (info.value.kind, info.value.code) == (RETRYABLE, "network")


# --- profile, media, connection ---------------------------------------------------------------------


def test_fetch_profile(provider, fake):
    fake.add_profile(PSID, first_name="Ann", last_name="Lee", name="Ann Lee", username="ann.lee",
                     profile_pic="https://cdn/ann.jpg")
    profile = provider.fetch_profile(PSID)
    (request,) = fake.requests
    assert request.path == f"/v21.0/{PSID}"
    assert request.query["access_token"] == meta_fakes.DEMO_META_TOKEN
    if provider.name == "messenger":
        assert request.query["fields"] == "first_name,last_name,profile_pic"
        assert profile == Profile(name="Ann Lee", picture_url="https://cdn/ann.jpg")
    else:
        assert request.query["fields"] == "name,username,profile_pic"
        assert profile == Profile(name="Ann Lee", username="ann.lee", picture_url="https://cdn/ann.jpg")


def test_fetch_profile_partial_and_unknown(provider, fake):
    fake.add_profile("77", username="only.user")
    profile = provider.fetch_profile("77")
    assert profile.picture_url is None
    assert profile.name == (None if provider.name == "messenger" else "only.user")
    with pytest.raises(ProviderError) as info:
        provider.fetch_profile("404")
    assert (info.value.kind, info.value.code) == (PERMANENT, "100")
    with pytest.raises(ProviderError):
        provider.fetch_profile("../me")


def test_download_media_from_the_cdn_without_credentials(provider, fake):
    content = bytes(range(256)) * 50
    url = fake.add_cdn_file("photo_n.jpg", content, "image/jpeg")
    downloaded = provider.download_media(Media(url=url))
    assert (downloaded.content, downloaded.mime_type, downloaded.filename) == (content, "image/jpeg", "photo_n.jpg")
    (request,) = fake.requests
    assert "authorization" not in request.headers and "access_token" not in request.query


def test_download_media_size_limit(make, fake):
    url = fake.add_cdn_file("big.bin", b"x" * 1001)
    with pytest.raises(ProviderError) as info:
        make(max_media_bytes=1000).download_media(Media(url=url))
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_large")
    assert make(max_media_bytes=1001).download_media(Media(url=url)).content == b"x" * 1001


@pytest.mark.parametrize("media", [None, Media(), Media(id="123"), Media(url="file:///etc/passwd"),
                                   Media(url="ftp://x/y"), Media(url=5)])
def test_download_media_needs_a_web_url(provider, media):
    with pytest.raises(ProviderError) as info:
        provider.download_media(media)
    assert info.value.code == "no_media"


def test_download_missing_cdn_file(provider, fake):
    with pytest.raises(ProviderError) as info:
        provider.download_media(Media(url=fake.cdn_url("gone.jpg")))
    assert (info.value.kind, info.value.code) == (PERMANENT, "404")


def test_test_connection(provider, fake):
    described = provider.test_connection()
    (request,) = fake.requests
    assert request.path == f"/v21.0/{fake.page_id}"
    if provider.name == "messenger":
        assert request.query["fields"] == "name" and described == f"Demo Page (page {fake.page_id})"
    else:
        assert request.query["fields"] == "username" and described == "@demo_page"


def test_api_version(make, fake):
    provider = make(api_version="21.0")
    assert provider.api_version == "v21.0"
    with pytest.raises(ProviderError) as info:
        make(api_version="v19.0").send_text(PSID, "hi")
    assert info.value.code == "100"


# --- the fake itself --------------------------------------------------------------------------------


def test_fake_admin_endpoints(fake):
    base = fake.url
    assert requests.post(f"{base}/_fake/set_last_inbound", json={"psid": PSID, "hours_ago": 30},
                         timeout=5).json() == {"ok": True}
    assert requests.post(f"{base}/_fake/add_cdn_file", json={"name": "f.txt", "content_base64": "aGk=",
                                                            "mime_type": "text/plain"}, timeout=5).ok
    assert requests.get(fake.cdn_url("f.txt"), timeout=5).content == b"hi"
    assert requests.post(f"{base}/_fake/unavailable", json={"psid": "55"}, timeout=5).ok
    assert requests.post(f"{base}/_fake/allow_human_agent", json={"allowed": False}, timeout=5).ok
    assert requests.post(f"{base}/_fake/add_profile", json={"psid": "9", "first_name": "A"}, timeout=5).ok
    assert fake.human_agent is False and "55" in fake.unavailable_people and fake.profiles["9"] == {"first_name": "A"}
    assert requests.get(f"{base}/_fake/sent", timeout=5).json() == []


def test_fake_refuses_what_the_send_api_refuses(fake):
    url = f"{fake.url}/v21.0/{fake.page_id}/messages"
    params = {"access_token": meta_fakes.DEMO_META_TOKEN}
    good = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    assert requests.post(url, params=params, json=good, timeout=5).status_code == 200
    for bad in ({**good, "messaging_type": "MESSAGE_TAG"}, {**good, "tag": "HUMAN_AGENT"},
                {**good, "message": {"text": "x" * 2000}}, {**good, "message": {}},
                {**good, "recipient": {"id": "abc"}},
                {**good, "message": {"attachment": {"type": "file", "payload": {"attachment_id": "0"}}}}):
        answer = requests.post(url, params=params, json=bad, timeout=5)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == 100, bad
    assert requests.post(url, json=good, timeout=5).status_code == 401
    assert requests.post(url, params={"access_token": "wrong"}, json=good, timeout=5).json()["error"]["code"] == 190
