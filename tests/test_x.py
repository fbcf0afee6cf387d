"""X Direct Messages provider: CRC and signatures (no network), parsing, and outbound calls against the fake."""
import base64
import datetime
import hashlib
import hmac
import json
import logging
import pathlib
import time

import pytest

from messenger_connector.providers import (
    BUTTON, ECHO, IMAGE, MESSAGE, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, STATUS, TEXT, UNKNOWN, VIDEO,
    AuthError, MalformedError, Media, ProviderError, XProvider, _inbound, get_provider,
)
from messenger_connector.providers import x as x_module
import messenger_fakes as fakes
from messenger_fakes import x as fx

SECRET = fx.DEMO_X_CONSUMER_SECRET
OURS = fx.DEMO_X_USER_ID
PERSON = fx.DEMO_X_PERSON_ID
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def _x_server():
    with fx.FakeX() as server:
        yield server


@pytest.fixture
def x_fake(_x_server):
    """The module's fake X API, reset for each test."""
    _x_server.reset()
    yield _x_server
    _x_server.reset()


@pytest.fixture
def make_x(x_fake):
    def make(**overrides):
        return XProvider({"base_url": x_fake.url, "user_id": OURS, "consumer_secret": SECRET,
                          "access_token": fx.DEMO_X_TOKEN, "timeout": 5, **overrides})
    return make


@pytest.fixture
def x(make_x):
    return make_x()


def parse(provider, payload):
    body = payload if isinstance(payload, bytes) else fakes.body_bytes(payload)
    return provider.parse(body)


def one(provider, payload):
    events = parse(provider, payload)
    assert len(events) == 1
    return events[0]


# --- registry and capabilities ----------------------------------------------------------------------


def test_registered_with_its_capabilities():
    provider = get_provider("x", {})
    assert isinstance(provider, XProvider) and provider.base_url == "https://api.x.com"
    assert XProvider.window_hours is None and XProvider.has_receipts is False
    assert XProvider.address_kind == "user_id" and XProvider.echo_author == "X"
    assert set(XProvider.secret_keys) == {"consumer_secret", "access_token"}
    assert XProvider.handshake_content_type == "application/json"
    assert XProvider.has_templates is False and XProvider.starts_by_phone is False
    assert XProvider.address_for_phone("+15551234567") is None


def test_no_window_so_consent_decides(x):
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    assert x.reply_terms(None, now).allowed
    assert x.reply_terms(now - datetime.timedelta(days=400), now).allowed


# --- CRC (GET) --------------------------------------------------------------------------------------


def test_crc_answer_is_exact(x):
    token = "challenge_string"
    expected = "sha256=" + base64.b64encode(
        hmac.new(SECRET.encode(), token.encode(), hashlib.sha256).digest()).decode()
    answer = x.handshake({"crc_token": token})
    assert json.loads(answer) == {"response_token": expected} == fx.x_crc_response(token, SECRET)


def test_crc_with_werkzeug_args(x):
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    args = werkzeug.MultiDict([("crc_token", "abc"), ("crc_token", "other")])
    assert json.loads(x.handshake(args)) == fx.x_crc_response("abc", SECRET)


@pytest.mark.parametrize("params", [
    None, {}, {"crc_token": ""}, {"crc_token": None}, {"crc_token": 123}, {"crc_token": ["a"]},
    {"crc_token": b"abc"}, {"crc_token": "x" * 1025}, {"crc_token": "a\x00b"}, {"crc_token": "a\nb"},
    {"hub.challenge": "abc"},
])
def test_crc_refused_without_a_token(x, params):
    with pytest.raises(AuthError):
        x.handshake(params)


def test_crc_is_no_signing_oracle(x):
    """The CRC answer has the form of a POST signature: it must never sign a body that could be delivered."""
    body = fakes.body_bytes(fx.x_message_payload(PERSON, "forged"))
    with pytest.raises(AuthError):
        x.handshake({"crc_token": body.decode()})
    with pytest.raises(AuthError):
        x.handshake({"crc_token": " " + body.decode()})


@pytest.mark.parametrize("secret", [None, ""])
def test_crc_without_consumer_secret_fails_closed(make_x, secret):
    with pytest.raises(AuthError):
        make_x(consumer_secret=secret).handshake({"crc_token": "abc"})


# --- signatures (POST) ------------------------------------------------------------------------------

BODY = fakes.body_bytes(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000042", timestamp=1700000000))


def test_signature_accepted(x):
    good = fx.x_signature(BODY, SECRET)
    for name in ("x-twitter-webhooks-signature", "X-Twitter-Webhooks-Signature"):
        assert x.authenticate({name: good}, BODY) is None
    x.authenticate({"x-twitter-webhooks-signature": good}, bytearray(BODY))


def test_signature_with_werkzeug_headers(x):
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    x.authenticate(werkzeug.Headers([("X-Twitter-Webhooks-Signature", fx.x_signature(BODY, SECRET))]), BODY)


def _bad_signatures():
    good = fx.x_signature(BODY, SECRET)
    digest = good.removeprefix("sha256=")
    hexdigest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    return {
        "missing": {},
        "empty": {"x-twitter-webhooks-signature": ""},
        "empty digest": {"x-twitter-webhooks-signature": "sha256="},
        "bare base64": {"x-twitter-webhooks-signature": digest},
        "hex instead of base64": {"x-twitter-webhooks-signature": "sha256=" + hexdigest},
        "urlsafe alphabet": {"x-twitter-webhooks-signature": "sha256=" + base64.urlsafe_b64encode(
            hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()},
        "unpadded": {"x-twitter-webhooks-signature": good.rstrip("=")},
        "truncated": {"x-twitter-webhooks-signature": good[:-2] + "="},
        "long": {"x-twitter-webhooks-signature": good + "A"},
        "space": {"x-twitter-webhooks-signature": good + " "},
        "newline": {"x-twitter-webhooks-signature": good + "\n"},
        "upper prefix": {"x-twitter-webhooks-signature": "SHA256=" + digest},
        "sha1 prefix": {"x-twitter-webhooks-signature": "sha1=" + digest},
        "other body": {"x-twitter-webhooks-signature": fx.x_signature(BODY + b" ", SECRET)},
        "other secret": {"x-twitter-webhooks-signature": fx.x_signature(BODY, "other-secret")},
        "not text": {"x-twitter-webhooks-signature": good.encode()},
        "meta header": {"X-Hub-Signature-256": good},
    }


@pytest.mark.parametrize("headers", list(_bad_signatures().values()), ids=list(_bad_signatures()))
def test_signature_refused(x, headers):
    with pytest.raises(AuthError):
        x.authenticate(headers, BODY)


def test_signature_refused_without_headers(x):
    with pytest.raises(AuthError):
        x.authenticate(None, BODY)


@pytest.mark.parametrize("secret", [None, ""])
def test_signature_without_consumer_secret_fails_closed(make_x, secret):
    provider = make_x(consumer_secret=secret)
    for key in ("", SECRET):
        with pytest.raises(AuthError):
            provider.authenticate({"x-twitter-webhooks-signature": fx.x_signature(BODY, key or "k")}, BODY)


def test_signature_over_raw_bytes_not_reserialized(x):
    raw = json.dumps(fx.x_message_payload(PERSON, "héllo")).encode()
    other = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    signature = fx.x_signature(raw, SECRET)
    x.authenticate({"x-twitter-webhooks-signature": signature}, raw)
    with pytest.raises(AuthError):
        x.authenticate({"x-twitter-webhooks-signature": signature}, other)


def test_signature_compared_in_constant_time(x, monkeypatch):
    """The comparison is hmac.compare_digest's, never ==."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(x_module.hmac, "compare_digest", spy)
    x.authenticate({"x-twitter-webhooks-signature": fx.x_signature(BODY, SECRET)}, BODY)
    with pytest.raises(AuthError):
        x.authenticate({"x-twitter-webhooks-signature": fx.x_signature(BODY, "other")}, BODY)
    assert len(calls) == 2


def test_delivery_key_is_body_hash(x):
    assert x.delivery_key(BODY) == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert x.delivery_key(BODY) != x.delivery_key(BODY + b" ")


# --- parsing ----------------------------------------------------------------------------------------


def test_parse_message(x):
    payload = fx.x_message_payload(PERSON, "Hello there", name="Ann Lee", screen_name="annlee",
                                   event_id="1800000000000000007", timestamp=1700000000.123)
    event = one(x, payload)
    assert (event.kind, event.content_type, event.text) == (MESSAGE, TEXT, "Hello there")
    assert event.external_user_id == PERSON
    assert (event.profile_name, event.username) == ("Ann Lee", "annlee")
    assert event.external_id == "1800000000000000007"
    assert event.dedup_key == "dm:1800000000000000007"
    assert event.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert event.account_ref == OURS
    assert event.raw == payload["direct_message_events"][0]


def test_parse_photo(x):
    media = fx.x_photo("990000000000000001", "https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg")
    event = one(x, fx.x_message_payload(PERSON, "look https://t.co/demo", media=media))
    assert (event.kind, event.content_type) == (MESSAGE, IMAGE)
    assert event.media == Media(id="990000000000000001", url="https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg")
    assert event.text == "look"


def test_short_links_are_expanded(x):
    """X puts t.co links in the text: the stored text (and an echo's, to match what we sent) has the real URL."""
    written = "Apply at https://jobs.example.com/apply?id=7 today, or https://example.org."
    payload = fx.x_message_payload(PERSON, written)
    data = payload["direct_message_events"][0]["message_create"]["message_data"]
    assert "https://t.co/" in data["text"] and len(data["entities"]["urls"]) == 2
    assert one(x, payload).text == written
    data["entities"]["urls"].append({"url": "https://t.co/zzz", "expanded_url": 5})
    data["text"] += " https://t.co/zzz"
    assert one(x, payload).text == written + " https://t.co/zzz"


def test_the_media_link_leaves_the_text(x):
    media = fx.x_photo("990000000000000002", "https://ton.twitter.com/1.1/ton/data/dm/1/2/p.jpg")
    event = one(x, fx.x_message_payload(PERSON, "my CV https://t.co/demo", media=media))
    assert event.text == "my CV"
    assert one(x, fx.x_message_payload(PERSON, "https://t.co/demo", media=media)).text == ""


def test_parse_video_takes_the_best_mp4(x):
    media = {"id_str": "5", "type": "video", "media_url_https": "https://pbs.twimg.com/thumb.jpg", "video_info": {
        "variants": [{"bitrate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/low.mp4"},
                     {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"},
                     {"bitrate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/high.mp4"}]}}
    event = one(x, fx.x_message_payload(PERSON, "", media=media))
    assert (event.content_type, event.media.url) == (VIDEO, "https://video.twimg.com/high.mp4")


def test_parse_quick_reply(x):
    event = one(x, fx.x_message_payload(PERSON, "Blue Bird", quick_reply_metadata="JOB-12"))
    assert (event.content_type, event.text, event.payload) == (BUTTON, "Blue Bird", "JOB-12")


def test_parse_message_without_text(x):
    payload = fx.x_message_payload(PERSON, "x")
    del payload["direct_message_events"][0]["message_create"]["message_data"]["text"]
    assert one(x, payload).content_type == OTHER


def test_our_own_dm_is_an_echo_to_its_recipient(x):
    payload = fx.x_echo_payload(PERSON, "Thanks, we got it", "1800000000000000100")
    event = one(x, payload)
    assert event.kind == ECHO
    assert event.external_user_id == PERSON, "an echo belongs to the conversation with its recipient"
    assert (event.external_id, event.dedup_key) == ("1800000000000000100", "dm:1800000000000000100")
    assert event.text == "Thanks, we got it"
    assert event.account_ref == OURS


def test_a_colleagues_dm_in_xs_app_is_an_echo_too(x):
    event = one(x, fx.x_colleague_payload(PERSON, "Typed in X"))
    assert (event.kind, event.external_user_id, event.text) == (ECHO, PERSON, "Typed in X")


def test_echo_detected_from_config_when_for_user_id_is_missing(make_x):
    payload = fx.x_echo_payload(PERSON, "hi", "1800000000000000101")
    del payload["for_user_id"]
    event = one(make_x(), payload)
    assert event.kind == ECHO and event.account_ref is None
    assert one(make_x(user_id=None), payload).kind == MESSAGE, "without knowing who we are, nothing is ours"


@pytest.mark.parametrize("configured", [int(OURS), f" {OURS} "])
def test_configured_user_id_as_number_or_with_blanks(make_x, configured):
    payload = fx.x_echo_payload(PERSON, "hi", "1800000000000000103")
    del payload["for_user_id"]
    assert one(make_x(user_id=configured), payload).kind == ECHO
    assert make_x(user_id=configured).user_id == OURS
    assert make_x(user_id=False).user_id is None and make_x(user_id="  ").user_id is None


def test_delivery_for_another_account_names_it(x):
    other = "1500000000000000777"
    event = one(x, fx.x_message_payload(PERSON, "hi", for_user_id=other))
    assert (event.kind, event.account_ref) == (MESSAGE, other)
    echo = one(x, fx.x_echo_payload(PERSON, "hi", "1800000000000000102", for_user_id=other))
    assert (echo.kind, echo.account_ref, echo.external_user_id) == (ECHO, other, PERSON)


def test_several_events_in_one_delivery(x):
    events = [fx.x_dm_event(PERSON, OURS, "one", event_id="11"), fx.x_dm_event(OURS, PERSON, "two", event_id="12"),
              fx.x_dm_event("1500000000000000098", OURS, "three", event_id="13")]
    parsed = parse(x, fx.x_delivery(events, users={PERSON: fx.x_user(PERSON, "Ann")}))
    assert [(e.kind, e.external_user_id, e.text) for e in parsed] == [
        (MESSAGE, PERSON, "one"), (ECHO, PERSON, "two"), (MESSAGE, "1500000000000000098", "three")]
    assert [e.profile_name for e in parsed] == ["Ann", "Ann", None]
    assert len({e.dedup_key for e in parsed}) == 3


def test_same_event_same_dedup_key_across_deliveries(x):
    event = fx.x_dm_event(PERSON, OURS, "hi", event_id="1800000000000000200")
    first = one(x, fx.x_delivery([event]))
    second = one(x, fx.x_delivery([event], users={PERSON: fx.x_user(PERSON)}))
    assert first.dedup_key == second.dedup_key == "dm:1800000000000000200"


def test_mark_read_is_a_read_watermark(x):
    event = one(x, fx.x_read_payload(PERSON, "1800000000000000300", timestamp=1700000000))
    assert (event.kind, event.status, event.external_user_id) == (STATUS, "read", PERSON)
    assert event.external_id is None
    assert event.watermark == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.dedup_key == f"read:{PERSON}:1800000000000000300"


def test_our_own_mark_read_is_kept_unapplied(x):
    payload = fx.x_read_payload(OURS, "1800000000000000300")
    payload["direct_message_mark_read_events"][0]["target"]["recipient_id"] = PERSON
    assert one(x, payload).kind == UNKNOWN


def test_typing_and_other_activities_are_kept(x):
    typing = one(x, fx.x_typing_payload(PERSON))
    assert typing.kind == UNKNOWN and typing.raw["sender_id"] == PERSON and typing.dedup_key
    follows = parse(x, {"for_user_id": OURS, "follow_events": [{"type": "follow"}, {"type": "follow", "n": 2}]})
    assert [e.kind for e in follows] == [UNKNOWN, UNKNOWN] and len({e.dedup_key for e in follows}) == 2
    revoke = one(x, {"user_event": {"revoke": {"date_time": "2018-05-24T09:48:12+00:00",
                                               "target": {"app_id": "13090192"}, "source": {"user_id": "63046977"}}}})
    assert revoke.kind == UNKNOWN and revoke.account_ref is None
    nothing = one(x, {"for_user_id": OURS})
    assert nothing.kind == UNKNOWN


def test_other_dm_event_types_are_kept(x):
    event = one(x, fx.x_delivery([{"type": "participants_join", "created_timestamp": "1"}]))
    assert event.kind == UNKNOWN


@pytest.mark.parametrize("body", [
    b"", b"x", b"[]", b'"str"', b"null", b"{}", b'{"users": {}}', b"\xff\xfe", b'{"for_user_id": 1}',
    b'{"for_user_id": "1", "direct_message_events": {}}',
    b'{"for_user_id": "1", "direct_message_events": [1]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create"}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1"}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1", "message_create": {}}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": 1, '
    b'"message_create": {"sender_id": "2"}}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1", '
    b'"message_create": {"sender_id": "2", "message_data": {"text": 5}}}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1", '
    b'"created_timestamp": "soon", "message_create": {"sender_id": "2"}}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1", '
    b'"created_timestamp": "99999999999999999999", "message_create": {"sender_id": "2"}}]}',
    b'{"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1", '
    b'"message_create": {"sender_id": "1", "target": {}}}]}',
    b'{"for_user_id": "1", "direct_message_mark_read_events": [{"created_timestamp": "1"}]}',
    b'{"for_user_id": "1", "users": [], "direct_message_events": []}',
    b"[" * 100000 + b"]" * 100000,
])
def test_malformed_bodies(x, body):
    with pytest.raises(MalformedError):
        x.parse(body)


def test_hostile_values_never_escape_as_other_errors(x):
    """Every value of a delivery replaced by values of other types: parsed, or MalformedError."""
    payload = fx.x_message_payload(PERSON, "hi", media=fx.x_photo("1", "https://ton.twitter.com/p.jpg"),
                                   quick_reply_metadata="m")
    payload["direct_message_mark_read_events"] = fx.x_read_payload(PERSON, "5")["direct_message_mark_read_events"]
    wrong = [None, True, 0, 1.5, "", "x", [], [1], {}, {"a": 1}, "\u0000", 10 ** 30, "9" * 40]

    def paths(value, prefix=()):
        yield prefix
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            yield from paths(item, prefix + (key,))

    for path in list(paths(payload))[1:]:
        for new in wrong:
            mutated = json.loads(json.dumps(payload))
            target = mutated
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = new
            try:
                x.parse(fakes.body_bytes(mutated))
            except MalformedError:
                pass


# --- sending ----------------------------------------------------------------------------------------


def test_send_text(x, x_fake):
    result = x.send_text(PERSON, "Hello from Odoo")
    (sent,) = x_fake.sent
    assert result.external_id == sent["id"] and sent["to"] == PERSON and sent["text"] == "Hello from Odoo"
    (request,) = x_fake.requests
    assert (request.method, request.path) == ("POST", f"/2/dm_conversations/with/{PERSON}/messages")
    assert request.headers["authorization"] == f"Bearer {fx.DEMO_X_TOKEN}"
    assert request.json == {"text": "Hello from Odoo"}
    assert result.raw["data"]["dm_event_id"] == result.external_id


def test_sent_dm_echo_matches_the_send(x, x_fake):
    result = x.send_text(PERSON, "Echo me")
    (echo_payload,) = x_fake.echoes
    event = one(x, echo_payload)
    assert (event.kind, event.external_id, event.external_user_id) == (ECHO, result.external_id, PERSON)


@pytest.mark.parametrize("to", ["", None, "@ann", "12a", "1/2", "../users/me", "1" * 21])
def test_send_to_something_else_than_a_user_id(x, x_fake, to):
    with pytest.raises(ProviderError) as info:
        x.send_text(to, "hi")
    assert info.value.code == "invalid_recipient" and not x_fake.requests


def test_send_empty_or_too_long_text_refused_before_the_call(x, x_fake):
    for text in ("", "  ", None, "x" * 10001):
        with pytest.raises(ProviderError) as info:
            x.send_text(PERSON, text)
        assert info.value.kind == PERMANENT
    assert not x_fake.requests
    x.send_text(PERSON, "x" * 10000)


def test_rate_limited_honours_the_reset_time(x, x_fake):
    x_fake.rate_limit(n=1, reset_in=120)
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    error = info.value
    assert (error.kind, error.code, error.http_status) == (RETRYABLE, "429", 429)
    assert 115 <= error.retry_after <= 120
    assert x.send_text(PERSON, "hi").external_id


def test_quota_window(x, x_fake):
    x_fake.set_quota(2, window=300)
    x.send_text(PERSON, "1")
    x.send_text(PERSON, "2")
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "3")
    assert info.value.retryable and 0 < info.value.retry_after <= 300
    assert len(x_fake.sent) == 2


@pytest.mark.parametrize("headers, expected", [
    ({"x-rate-limit-reset": "1"}, 0), ({"x-rate-limit-reset": "soon"}, None), ({"Retry-After": "7"}, 7), ({}, None),
])
def test_retry_after_sources(x, x_fake, headers, expected):
    x_fake.fail_next(1, 429, {"title": "Too Many Requests", "status": 429}, headers=headers)
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert info.value.retry_after == expected


def test_server_errors_are_retryable(x, x_fake):
    x_fake.fail_next(1, 503, "<html>over capacity</html>")
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "503")


def test_person_not_accepting_dms_is_a_refusal(x, x_fake):
    x_fake.refuse_dms(PERSON)
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    error = info.value
    assert (error.kind, error.code, error.refused) == (PERMANENT, "403", REFUSED_BLOCK)
    assert error.blocked and not error.retryable
    assert "not permitted to send Direct Messages" in error.message
    x_fake.accept_dms(PERSON)
    assert x.send_text(PERSON, "hi").external_id


def test_a_403_about_our_app_is_no_refusal_by_the_person(x, x_fake):
    x_fake.fail_next(1, 403, {"title": "Client Forbidden", "status": 403, "reason": "client-not-enrolled",
                              "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
                                        "keys and tokens from a Twitter developer App that is attached to a Project.",
                              "type": "https://api.twitter.com/2/problems/client-forbidden"})
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert info.value.kind == PERMANENT and info.value.refused is None


def test_bad_token(make_x, x_fake):
    with pytest.raises(ProviderError) as info:
        make_x(access_token="wrong-token").send_text(PERSON, "hi")
    error = info.value
    assert (error.kind, error.code, error.refused) == (PERMANENT, "401", None)
    assert "wrong-token" not in error.message and not x_fake.sent


def test_other_client_errors_are_permanent(x, x_fake):
    x_fake.fail_next(1, 400, {"title": "Invalid Request", "detail": "One or more parameters was invalid.",
                              "status": 400})
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert (info.value.kind, info.value.code, info.value.refused) == (PERMANENT, "400", None)
    assert info.value.message == "X error 400: One or more parameters was invalid."


def test_v1_error_shape_is_read(x, x_fake):
    x_fake.fail_next(1, 403, {"errors": [{"code": 349, "message": "You cannot send messages to this user."}]})
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert info.value.message == "X error 403: You cannot send messages to this user."
    assert info.value.refused == REFUSED_BLOCK


def test_unexpected_success_answer(x, x_fake):
    x_fake.fail_next(1, 201, {"data": {}})
    with pytest.raises(ProviderError) as info:
        x.send_text(PERSON, "hi")
    assert info.value.code == "bad_response"


def test_network_failure_is_retryable(make_x, dead_url):
    with pytest.raises(ProviderError) as info:
        make_x(base_url=dead_url).send_text(PERSON, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "network")


def test_documents_are_unsupported(x, x_fake):
    with pytest.raises(ProviderError) as info:
        x.send_document(PERSON, b"%PDF", "cv.pdf", "application/pdf", caption="CV")
    assert (info.value.kind, info.value.code) == (PERMANENT, "unsupported") and not x_fake.requests


def test_no_templates(x):
    with pytest.raises(ProviderError) as info:
        x.send_template(PERSON, "hello", "en")
    assert info.value.code == "unsupported"


def test_secrets_never_in_error_messages(make_x, x_fake, caplog):
    """Whatever X answers, the token and the consumer secret never show in an error."""
    token, secret = "tok-SECRET-123", "cons-SECRET-456"
    provider = make_x(access_token=token, consumer_secret=secret)
    x_fake.access_token = token
    try:
        caplog.set_level(logging.DEBUG)
        for status in (400, 401, 403, 429, 500):
            x_fake.fail_next(1, status, {"title": "Echo", "detail": f"Bearer {token} / {secret}", "status": status})
            with pytest.raises(ProviderError) as info:
                provider.send_text(PERSON, "hi")
            text = repr(info.value) + str(info.value) + info.value.message
            assert token not in text and secret not in text
        with pytest.raises(AuthError) as auth:
            provider.authenticate({"x-twitter-webhooks-signature": "sha256=" + "A" * 43 + "="}, BODY)
        assert secret not in str(auth.value)
        assert token not in caplog.text and secret not in caplog.text
    finally:
        x_fake.access_token = fx.DEMO_X_TOKEN


# --- account, profiles, media ------------------------------------------------------------------------


def test_connection(x, x_fake):
    assert x.test_connection() == f"@{fx.DEMO_X_USERNAME} ({fx.DEMO_X_NAME})"
    (request,) = x_fake.requests
    assert (request.method, request.path) == ("GET", "/2/users/me")


def test_connection_with_the_token_of_another_user(make_x):
    with pytest.raises(ProviderError) as info:
        make_x(user_id="1500000000000000002").test_connection()
    assert info.value.code == "config"


def test_connection_bad_token(make_x):
    with pytest.raises(ProviderError) as info:
        make_x(access_token="nope").test_connection()
    assert info.value.code == "401"


def test_fetch_profile(x, x_fake):
    x_fake.add_user(PERSON, "Ann Lee", "annlee", profile_image_url="https://pbs.twimg.com/p/ann_normal.jpg")
    profile = x.fetch_profile(PERSON)
    assert (profile.name, profile.username, profile.picture_url) == (
        "Ann Lee", "annlee", "https://pbs.twimg.com/p/ann_normal.jpg")
    (request,) = x_fake.requests
    assert request.path == f"/2/users/{PERSON}"
    assert set(request.query["user.fields"].split(",")) == {"name", "username", "profile_image_url"}


def test_fetch_profile_of_an_unknown_user(x):
    with pytest.raises(ProviderError) as info:
        x.fetch_profile("1500000000000000555")
    assert info.value.code == "bad_response"
    with pytest.raises(ProviderError):
        x.fetch_profile("me/../../x")


def test_download_media_with_the_token_from_x_only(x, x_fake):
    x_fake.add_media("77", b"\xff\xd8jpeg", "image/jpeg")
    downloaded = x.download_media(Media(id="77", url=x_fake.media_url("77")))
    assert (downloaded.content, downloaded.mime_type) == (b"\xff\xd8jpeg", "image/jpeg")
    assert x_fake.requests[-1].headers["authorization"] == f"Bearer {fx.DEMO_X_TOKEN}"


def test_download_media_elsewhere_goes_without_the_token(make_x, x_fake):
    x_fake.add_media("78", b"gif", "image/gif")
    # the same fake under another host name: not the API's origin, not X's media host
    provider = make_x(base_url=x_fake.url.replace("127.0.0.1", "localhost"))
    with pytest.raises(ProviderError) as info:
        provider.download_media(Media(url=x_fake.media_url("78")))
    assert info.value.code == "401", "the fake serves DM media only with the token, which was not sent"


@pytest.mark.parametrize("media", [None, Media(), Media(url="ftp://x/y"), Media(url="/relative"), Media(url=5)])
def test_download_media_without_url(x, media):
    with pytest.raises(ProviderError) as info:
        x.download_media(media)
    assert info.value.code == "no_media"


def test_ms_timestamps():
    assert x_module._ms_to_utc("1516403560557") == datetime.datetime(2018, 1, 19, 23, 12, 40, 557000, tzinfo=UTC)
    assert x_module._ms_to_utc(None) is None
    for bad in ("", "-1", "1.5", 1.5, True, [], "9" * 17):
        with pytest.raises(MalformedError):
            x_module._ms_to_utc(bad)


def test_rate_limit_reset_in_the_past_is_no_wait():
    class Response:
        headers = {"x-rate-limit-reset": str(int(time.time()) - 50)}

    assert x_module._rate_limit_reset(Response()) == 0


def test_stable_unknown_keys():
    assert x_module._unknown_event({"a": 1}).dedup_key == _inbound.stable_key("unknown:", {"a": 1})


# --- payloads as X documents them (tests/fixtures) ---------------------------------------------------

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


def test_documented_dm_delivery(make_x):
    """The example of X's "Account Activity data objects" page. It nests the hydrated users under ``apps``
    (a slip of the page; real deliveries have ``users`` at the top): the DM is read all the same."""
    provider = make_x(user_id="4337869213")
    body = (FIXTURES / "x_dm_events.json").read_bytes()
    (event,) = provider.parse(body)
    assert (event.kind, event.content_type, event.text) == (MESSAGE, TEXT, "Hello World!")
    assert (event.external_user_id, event.external_id) == ("3001969357", "954491830116155396")
    assert event.dedup_key == "dm:954491830116155396"
    assert event.timestamp == datetime.datetime(2018, 1, 19, 23, 12, 40, 557000, tzinfo=UTC)
    assert event.account_ref == "4337869213"
    assert provider.delivery_key(body).startswith("sha256:")
    # the same delivery with its users where X puts them
    fixed = json.loads(body)
    fixed["users"] = {key: value for key, value in fixed["apps"].items() if key in ("3001969357", "4337869213")}
    (event,) = provider.parse(fakes.body_bytes(fixed))
    assert (event.profile_name, event.username) == ("Jordan Brinks", "furiouscamper")


def test_documented_dm_delivery_seen_by_its_sender(make_x):
    """The same DM, delivered to the sender's subscription: our own DM, an echo to its recipient."""
    delivery = json.loads((FIXTURES / "x_dm_events.json").read_bytes())
    delivery["for_user_id"] = "3001969357"
    (event,) = make_x(user_id="3001969357").parse(fakes.body_bytes(delivery))
    assert (event.kind, event.external_user_id) == (ECHO, "4337869213")


def test_documented_typing_event(x):
    (event,) = x.parse((FIXTURES / "x_dm_typing.json").read_bytes())
    assert event.kind == UNKNOWN and event.raw["sender_id"] == "3284025577"


def test_documented_mark_read_event(make_x):
    body = (FIXTURES / "x_dm_mark_read.json").read_bytes()
    # as documented, the read conversation is between two other people than the subscribed account: unapplied
    (event,) = make_x(user_id="4337869213").parse(body)
    assert event.kind == UNKNOWN
    # delivered to the subscription of the account whose DMs were read: a read watermark
    delivery = json.loads(body)
    delivery["for_user_id"] = "3001969357"
    (event,) = make_x(user_id="3001969357").parse(fakes.body_bytes(delivery))
    assert (event.kind, event.status, event.external_user_id) == (STATUS, "read", "199566737")
    assert event.watermark == datetime.datetime(2018, 2, 12, 16, 20, 44, 662000, tzinfo=UTC)


# --- the fake itself, as another process drives it ----------------------------------------------------


def test_fake_admin_endpoints(x_fake):
    import requests  # noqa: PLC0415 - only this test talks to the fake directly

    auth = {"Authorization": f"Bearer {fx.DEMO_X_TOKEN}"}
    send = f"{x_fake.url}/2/dm_conversations/with/{PERSON}/messages"
    assert requests.post(f"{x_fake.url}/_fake/refuse_dms", json={"user_id": PERSON}, timeout=5).json() == {"ok": True}
    answer = requests.post(send, json={"text": "hi"}, headers=auth, timeout=5)
    assert answer.status_code == 403 and answer.json()["title"] == "Forbidden"
    requests.post(f"{x_fake.url}/_fake/accept_dms", json={"user_id": PERSON}, timeout=5)
    requests.post(f"{x_fake.url}/_fake/rate_limit", json={"n": 1, "reset_in": 30}, timeout=5)
    answer = requests.post(send, json={"text": "hi"}, headers=auth, timeout=5)
    assert answer.status_code == 429 and int(answer.headers["x-rate-limit-reset"]) >= time.time() + 25
    answer = requests.post(send, json={"text": "hi"}, headers=auth, timeout=5)
    assert answer.status_code == 201 and set(answer.json()["data"]) == {"dm_conversation_id", "dm_event_id"}
    (sent,) = requests.get(f"{x_fake.url}/_fake/sent", timeout=5).json()
    assert sent["id"] == answer.json()["data"]["dm_event_id"]
    requests.post(f"{x_fake.url}/_fake/add_user", json={"user_id": "42", "name": "Zoe", "username": "zoe"}, timeout=5)
    assert requests.get(f"{x_fake.url}/2/users/42", headers=auth, timeout=5).json() == {
        "data": {"id": "42", "name": "Zoe", "username": "zoe"}}
    assert requests.post(send, json={"text": "hi"}, timeout=5).status_code == 401
    assert requests.post(send, json={"text": ""}, headers=auth, timeout=5).status_code == 400
    assert requests.post(f"{x_fake.url}/_fake/reset", timeout=5).json() == {"ok": True}
    assert requests.get(f"{x_fake.url}/_fake/sent", timeout=5).json() == []


def test_payload_builders_sign_what_they_build():
    payload = fx.x_message_payload(PERSON, "hi")
    body = fakes.body_bytes(payload)
    headers = fx.x_headers(body, SECRET)
    XProvider({"consumer_secret": SECRET}).authenticate(headers, body)
    assert fx.x_signature(payload, SECRET) == headers["x-twitter-webhooks-signature"]
    assert fx.x_colleague_payload(PERSON, "a")["direct_message_events"][0]["id"] != \
        fx.x_colleague_payload(PERSON, "a")["direct_message_events"][0]["id"]
