"""WeChat Official Accounts provider: signatures, AES, strict XML, events (no network), outbound calls against the
fake, and interoperability with an independent implementation (wechatpy)."""
import base64
import datetime
import pathlib

import pytest

from messenger_connector.providers import (
    AUDIO, BLOCK, CALLBACK, IMAGE, LOCATION, MESSAGE, OPT_IN, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, STATUS,
    TEXT, UNKNOWN, VIDEO, WINDOW_CLOSED, AuthError, MalformedError, Media, ProviderError, WeChatProvider,
    get_provider,
)
from messenger_connector.providers import _wechat_crypto as crypto
from messenger_connector.providers.wechat import is_token_error
from messenger_fakes import wechat as wf

UTC = datetime.timezone.utc
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
OPENID = wf.DEMO_WC_OPENID
OTHER_APP_ID = "wx9999999999999999"


@pytest.fixture(scope="session")
def _wc_server():
    with wf.FakeWeChat() as server:
        yield server


@pytest.fixture
def wc_fake(_wc_server):
    _wc_server.reset()
    _wc_server.account_type = "service"
    yield _wc_server
    _wc_server.reset()


def config(**overrides):
    return {"app_id": wf.DEMO_WC_APP_ID, "app_secret": wf.DEMO_WC_APP_SECRET, "token": wf.DEMO_WC_TOKEN,
            "encoding_aes_key": wf.DEMO_WC_AES_KEY, "encryption": "plain", "account_type": "service",
            "original_id": wf.DEMO_WC_ORIGINAL_ID, "timeout": 5, **overrides}


@pytest.fixture
def make_wc(wc_fake):
    """A WeChat provider against the fake (with a fresh token unless ``access_token`` is given)."""
    def make(**overrides):
        provider = WeChatProvider(config(base_url=wc_fake.url, **overrides))
        if "access_token" not in overrides:
            provider.config["access_token"] = provider.fetch_access_token()[0]
        return provider
    return make


@pytest.fixture
def wc(make_wc):
    return make_wc()


def offline(**overrides):
    return WeChatProvider(config(**overrides))


def receive(provider, fields, mode=None, **delivery):
    """Authenticate and parse one delivery built as WeChat sends it; its one event."""
    params, body = wf.wc_delivery(fields, mode=mode or provider.encryption, **delivery)
    provider.authenticate({}, body, params)
    events = provider.parse(body)
    assert len(events) == 1
    assert provider.delivery_key(body) == events[0].dedup_key
    return events[0]


# --- registration and capabilities --------------------------------------------------------------------


def test_registered_with_its_capabilities():
    provider = get_provider("wechat", config())
    assert isinstance(provider, WeChatProvider)
    assert (provider.window_hours, provider.address_kind, provider.has_templates, provider.has_receipts) == (
        48, "openid", True, False)
    assert provider.acknowledgement == "success"
    now = datetime.datetime(2026, 1, 10, 12, tzinfo=UTC)
    assert provider.reply_terms(now - datetime.timedelta(hours=47), now).allowed
    assert not provider.reply_terms(now - datetime.timedelta(hours=49), now).allowed
    assert not provider.reply_terms(None, now).allowed


# --- signatures and crypto: known answers -------------------------------------------------------------

# WeChat's published test vector (token "123456", its EncodingAESKey and app id)
VECTOR_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
VECTOR_ENCRYPT = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="


def test_signature_known_answers():
    assert crypto.signature("test", "123456", "test", "rust") == "d6056f2bb3ad3e30f4afa5ef90cc9ddcdc7b7b27"
    assert crypto.signature_matches("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "123456", "1411443780",
                                    "437374425", VECTOR_ENCRYPT)
    assert not crypto.signature_matches("dd6b9c95b495b3f7e2901bfbc76c664930ffdb97", "123456", "1411443780",
                                        "437374425", VECTOR_ENCRYPT)
    for bad in (None, "", 42, "é" * 40):
        assert not crypto.signature_matches(bad, "a", "b", "c")


def test_aes_known_answers():
    key = crypto.aes_key(VECTOR_KEY)
    assert crypto.encrypt(key, "test", "rust", random_prefix=b"1234567890123456") == \
        "9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY="
    assert crypto.decrypt(key, "9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY=", "rust") == b"test"
    assert crypto.decrypt(key, VECTOR_ENCRYPT, "wx49f0ab532d5d035a") == b"5927782489442352469"
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(key, VECTOR_ENCRYPT, "wx49f0ab532d5d035b")


@pytest.mark.parametrize("message", [b"", b"x", b"a" * 31, b"a" * 32, "中文 ✓".encode(), b"<xml/>" * 1000])
def test_aes_round_trip_every_padding(message):
    key = crypto.aes_key(wf.DEMO_WC_AES_KEY)
    encrypted = crypto.encrypt(key, message, wf.DEMO_WC_APP_ID)
    assert crypto.decrypt(key, encrypted, wf.DEMO_WC_APP_ID) == message
    assert wf.wc_decrypt(encrypted) == (message, wf.DEMO_WC_APP_ID)
    assert crypto.decrypt(key, wf.wc_encrypt(message), wf.DEMO_WC_APP_ID) == message


@pytest.mark.parametrize("value", [None, "", "short", VECTOR_KEY + "A", "!" * 43, VECTOR_KEY[:-1] + "é"])
def test_bad_encoding_aes_keys(value):
    with pytest.raises(ValueError):
        crypto.aes_key(value)


def test_broken_ciphertexts_refused():
    key = crypto.aes_key(wf.DEMO_WC_AES_KEY)
    good = base64.b64decode(crypto.encrypt(key, b"<xml/>", wf.DEMO_WC_APP_ID))
    flipped_last = good[:-1] + bytes([good[-1] ^ 1])
    flipped_first = bytes([good[0] ^ 0x80]) + good[1:]  # (CBC) flips the length's first bit
    for bad in ["", "not base64!", base64.b64encode(good[:-3]).decode(), base64.b64encode(good[:16]).decode(),
                base64.b64encode(flipped_last).decode(), base64.b64encode(flipped_first).decode(),
                base64.b64encode(b"\x00" * 32).decode(),
                crypto.encrypt(key, b"<xml/>", OTHER_APP_ID), crypto.encrypt(key, b"<xml/>", ""),
                crypto.encrypt(crypto.aes_key(VECTOR_KEY), b"<xml/>", wf.DEMO_WC_APP_ID)]:
        with pytest.raises(crypto.DecryptError):
            crypto.decrypt(key, bad, wf.DEMO_WC_APP_ID)


# --- GET handshake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encryption", ["plain", "compatible", "safe"])
def test_handshake_returns_echostr(encryption):
    params = wf.wc_handshake("7208474432785463455")
    assert offline(encryption=encryption).handshake(params) == "7208474432785463455"


def test_handshake_with_werkzeug_multidict():
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    assert offline().handshake(werkzeug.MultiDict(wf.wc_handshake("abc"))) == "abc"


@pytest.mark.parametrize("change", [
    {"signature": "0" * 40}, {"signature": ""}, {"signature": None}, {"timestamp": "1"}, {"nonce": "x"},
    {"timestamp": None}, {"echostr": ""}, {"echostr": None},
])
def test_handshake_refused(change):
    params = {k: v for k, v in {**wf.wc_handshake("e"), **change}.items() if v is not None}
    with pytest.raises(AuthError):
        offline().handshake(params)


@pytest.mark.parametrize("token", [None, ""])
def test_handshake_without_token_fails_closed(token):
    params = wf.wc_handshake("e", token="")
    with pytest.raises(AuthError):
        offline(token=token).handshake(params)


# --- POST authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize("encryption", ["plain", "compatible", "safe"])
def test_delivery_accepted_in_each_mode(encryption):
    event = receive(offline(encryption=encryption), wf.wc_text(text="你好 <b>&amp;", msg_id=101))
    assert (event.kind, event.content_type, event.text, event.external_id) == (MESSAGE, TEXT, "你好 <b>&amp;", "101")


def test_compatible_mode_takes_the_encrypted_part():
    provider = offline(encryption="compatible")
    fields = wf.wc_text(text="the real one", msg_id=7)
    params, body = wf.wc_delivery(fields, mode="compatible")
    body = body.replace(b"the real one", b"a forged one", 1)  # the clear copy, not covered by msg_signature
    provider.authenticate({}, body, params)
    assert provider.parse(body)[0].text == "the real one"


def test_compatible_mode_accepts_a_plain_delivery():
    assert receive(offline(encryption="compatible"), wf.wc_text(text="hi"), mode="plain").text == "hi"


def signed(fields, mode="plain", **changes):
    params, body = wf.wc_delivery(fields, mode=mode)
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}, body


@pytest.mark.parametrize("encryption", ["plain", "compatible"])
@pytest.mark.parametrize("change", [
    {"signature": "0" * 40}, {"signature": None}, {"timestamp": "1"}, {"nonce": "other"}, {"timestamp": None},
])
def test_plain_signature_refused(encryption, change):
    params, body = signed(wf.wc_text(), **change)
    with pytest.raises(AuthError):
        offline(encryption=encryption).authenticate({}, body, params)


@pytest.mark.parametrize("encryption", ["compatible", "safe"])
@pytest.mark.parametrize("change", [
    {"msg_signature": "0" * 40}, {"msg_signature": None}, {"timestamp": "1"}, {"nonce": "other"},
])
def test_msg_signature_refused(encryption, change):
    params, body = signed(wf.wc_text(), mode="safe", **change)
    with pytest.raises(AuthError):
        offline(encryption=encryption).authenticate({}, body, params)


def test_safe_mode_refuses_a_plain_delivery():
    params, body = wf.wc_delivery(wf.wc_text(), mode="plain")
    with pytest.raises(AuthError):
        offline(encryption="safe").authenticate({}, body, params)


def test_safe_mode_refuses_a_signed_but_broken_encrypt():
    provider = offline(encryption="safe")
    for encrypted in ["", "%%%", base64.b64encode(b"x" * 48).decode(), wf.wc_encrypt(b"<xml/>", app_id=OTHER_APP_ID),
                      wf.wc_encrypt(wf.wc_xml(wf.wc_text()), aes_key=VECTOR_KEY)]:
        timestamp, nonce = "1700000000", "42"
        params = {"timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes",
                  "signature": wf.wc_signature(wf.DEMO_WC_TOKEN, timestamp, nonce),
                  "msg_signature": wf.wc_signature(wf.DEMO_WC_TOKEN, timestamp, nonce, encrypted)}
        body = wf.wc_xml({"ToUserName": wf.DEMO_WC_ORIGINAL_ID, "Encrypt": encrypted})
        with pytest.raises(AuthError):
            provider.authenticate({}, body, params)
        with pytest.raises(AuthError):
            provider.parse(body)


def test_foreign_app_id_refused():
    params, body = wf.wc_delivery(wf.wc_text(), mode="safe", app_id=OTHER_APP_ID)
    with pytest.raises(AuthError, match="app id"):
        offline(encryption="safe").authenticate({}, body, params)


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_other_original_id_refused(mode):
    params, body = wf.wc_delivery(wf.wc_text(original_id="gh_another000000"), mode=mode)
    with pytest.raises(AuthError, match="ToUserName"):
        offline(encryption=mode).authenticate({}, body, params)


def test_outer_to_user_differing_from_the_encrypted_one_refused():
    params, body = wf.wc_delivery(wf.wc_text(), mode="safe")
    body = body.replace(wf.DEMO_WC_ORIGINAL_ID.encode(), b"gh_another000000")
    with pytest.raises(AuthError):
        offline(encryption="safe").authenticate({}, body, params)


@pytest.mark.parametrize("missing", ["token", "original_id", "encoding_aes_key", "app_id"])
def test_missing_configuration_fails_closed(missing):
    params, body = wf.wc_delivery(wf.wc_text(), mode="safe")
    with pytest.raises(AuthError):
        offline(encryption="safe", **{missing: ""}).authenticate({}, body, params)


# --- strict XML ------------------------------------------------------------------------------------------

HOSTILE_XML = {
    "doctype": b'<!DOCTYPE xml><xml><ToUserName>gh_0123456789ab</ToUserName></xml>',
    "internal entity": b'<!DOCTYPE xml [<!ENTITY a "x">]><xml><Content>&a;</Content></xml>',
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                      b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                      b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                      b'<xml><Content>&lol3;</Content></xml>',
    "external entity": b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    "network entity": b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]><xml><C>&xxe;</C></xml>',
    "parameter entity": b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><xml/>',
    "external dtd": b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml/>',
    "undeclared entity": b"<xml><Content>&nope;</Content></xml>",
    "not xml": b"{\"ToUserName\": \"gh_0123456789ab\"}",
    "truncated": b"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>",
    "two roots": b"<xml/><xml/>",
    "wrong root": b"<root><ToUserName>gh_0123456789ab</ToUserName></root>",
    "invalid utf-8": b"<xml><Content>\xff\xfe</Content></xml>",
    "other encoding": '<?xml version="1.0" encoding="GBK"?><xml><C>中</C></xml>'.encode("gbk"),
    "deep": b"<xml>" + b"<a>" * 50 + b"</a>" * 50 + b"</xml>",
    "many elements": b"<xml>" + b"<a/>" * 3000 + b"</xml>",
    "empty": b"",
}


@pytest.mark.parametrize("name", HOSTILE_XML)
def test_hostile_xml_refused_unsigned_403_signed_400(name):
    body = HOSTILE_XML[name]
    params, _body = wf.wc_delivery(wf.wc_text())
    provider = offline()
    with pytest.raises(AuthError):
        provider.authenticate({}, body, {**params, "signature": "0" * 40})  # plain: the signature first
    with pytest.raises(MalformedError):
        provider.authenticate({}, body, params)
    with pytest.raises(MalformedError):
        provider.parse(body)


@pytest.mark.parametrize("name", HOSTILE_XML)
def test_hostile_xml_inside_a_valid_encrypt_is_400(name):
    params, body = wf.wc_delivery(HOSTILE_XML[name], mode="safe")
    body = wf.wc_xml({"ToUserName": wf.DEMO_WC_ORIGINAL_ID, "Encrypt": body.split(b"CDATA[")[-1].split(b"]]")[0]
                      .decode()})
    with pytest.raises(MalformedError):
        offline(encryption="safe").authenticate({}, body, params)


@pytest.mark.parametrize("encryption", ["plain", "safe"])
def test_oversize_refused_before_parsing(encryption):
    fields = wf.wc_text(text="x" * (1024 * 1024))
    params, body = wf.wc_delivery(fields, mode=encryption)
    assert len(body) > WeChatProvider.max_body_size
    with pytest.raises(MalformedError, match="too large"):
        offline(encryption=encryption).authenticate({}, body, params)


def test_entities_and_character_references_of_xml_itself_are_text():
    event = receive(offline(), b"<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>o1</FromUserName>"
                               b"<CreateTime>1</CreateTime><MsgType>text</MsgType>"
                               b"<Content>a &lt;b&gt; &amp; &#20320;</Content><MsgId>5</MsgId></xml>")
    assert event.text == "a <b> & 你"


# --- events ---------------------------------------------------------------------------------------------


def test_text_event():
    event = receive(offline(), wf.wc_text(text="hello", msg_id=12345678901234567, create_time=1700000000))
    assert (event.kind, event.content_type, event.text) == (MESSAGE, TEXT, "hello")
    assert event.external_user_id == OPENID
    assert (event.external_id, event.dedup_key) == ("12345678901234567", "msg:12345678901234567")
    assert event.timestamp == datetime.datetime.fromtimestamp(1700000000, UTC)
    assert event.raw["Content"] == "hello"


def test_image_event():
    event = receive(offline(), wf.wc_message(msg_type="image", PicUrl="http://mmbiz.qpic.cn/x", MediaId="M1"))
    assert (event.kind, event.content_type) == (MESSAGE, IMAGE)
    assert event.media == Media(id="M1", url="http://mmbiz.qpic.cn/x", mime_type="image/jpeg")


@pytest.mark.parametrize("fmt, mime", [("amr", "audio/amr"), ("speex", "audio/speex"), ("mp3", "audio/mpeg")])
def test_voice_event_with_recognition(fmt, mime):
    event = receive(offline(), wf.wc_message(msg_type="voice", MediaId="V1", Format=fmt, Recognition="你好"))
    assert (event.content_type, event.text, event.media.id, event.media.mime_type) == (AUDIO, "你好", "V1", mime)


def test_voice_event_without_recognition():
    event = receive(offline(), wf.wc_message(msg_type="voice", MediaId="V1", Format="amr"))
    assert (event.content_type, event.text) == (AUDIO, None)


@pytest.mark.parametrize("msg_type", ["video", "shortvideo"])
def test_video_event(msg_type):
    event = receive(offline(), wf.wc_message(msg_type=msg_type, MediaId="VID", ThumbMediaId="T"))
    assert (event.content_type, event.media.id, event.media.mime_type) == (VIDEO, "VID", "video/mp4")


def test_location_event():
    event = receive(offline(), wf.wc_message(msg_type="location", Location_X=23.134521, Location_Y=113.358803,
                                             Scale=20, Label="位置信息"))
    assert event.content_type == LOCATION
    assert (event.location.latitude, event.location.longitude, event.location.name) == (
        23.134521, 113.358803, "位置信息")
    assert event.text == "位置信息"


def test_link_event():
    event = receive(offline(), wf.wc_message(msg_type="link", Title="Job ad", Description="Read it",
                                             Url="https://example.com/job"))
    assert (event.content_type, event.payload) == (OTHER, "https://example.com/job")
    assert event.text == "Job ad\nRead it\nhttps://example.com/job"


def test_unknown_message_type_is_kept():
    event = receive(offline(), wf.wc_message(msg_type="miniprogrampage", Title="x", msg_id=9))
    assert (event.kind, event.content_type, event.external_id) == (MESSAGE, OTHER, "9")


def test_subscribe_is_a_service_opt_in():
    event = receive(offline(), wf.wc_event(event="subscribe", create_time=1700000001))
    assert (event.kind, event.referral, event.external_user_id) == (OPT_IN, None, OPENID)
    assert event.raw["Event"] == "subscribe"
    assert event.dedup_key == f"event:{OPENID}:1700000001:subscribe:"


def test_subscribe_by_a_job_qr_code_carries_the_reference():
    event = receive(offline(), wf.wc_event(event="subscribe", event_key="qrscene_JOB-12", Ticket="T"))
    assert (event.kind, event.referral, event.payload) == (OPT_IN, "JOB-12", "JOB-12")


def test_unsubscribe_is_a_block():
    assert receive(offline(), wf.wc_event(event="unsubscribe")).kind == BLOCK


def test_scan_of_a_job_qr_code():
    event = receive(offline(), wf.wc_event(event="SCAN", event_key="JOB-12", Ticket="T", create_time=5))
    assert (event.kind, event.content_type, event.referral, event.payload) == (MESSAGE, CALLBACK, "JOB-12", "JOB-12")
    assert event.external_id == event.dedup_key == f"event:{OPENID}:5:SCAN:JOB-12"


@pytest.mark.parametrize("name, key", [("CLICK", "MENU_JOBS"), ("VIEW", "https://example.com/jobs")])
def test_menu_events_carry_their_key_as_payload(name, key):
    event = receive(offline(), wf.wc_event(event=name, event_key=key))
    assert (event.kind, event.content_type, event.payload, event.text) == (MESSAGE, CALLBACK, key, key)


def test_two_menu_clicks_of_one_second_are_two_events():
    first = receive(offline(), wf.wc_event(event="CLICK", event_key="A", create_time=7))
    second = receive(offline(), wf.wc_event(event="CLICK", event_key="B", create_time=7))
    assert first.dedup_key != second.dedup_key


@pytest.mark.parametrize("status, state, code, refused", [
    ("success", "delivered", None, None),
    ("failed:user block", "failed", "user_block", REFUSED_BLOCK),
    ("failed: system failed", "failed", "system_failed", None),
])
def test_template_finished(status, state, code, refused):
    event = receive(offline(), wf.wc_template_finish(200163836, status))
    assert (event.kind, event.external_id, event.status, event.error_code, event.refused) == (
        STATUS, "200163836", state, code, refused)
    if state == "failed":
        assert event.error_kind == PERMANENT and status in event.error_message


def test_other_events_are_kept_as_unknown():
    event = receive(offline(), wf.wc_event(event="LOCATION", Latitude=1.5, Longitude=2.5, Precision=10))
    assert event.kind == UNKNOWN and event.raw["Latitude"] == "1.5"


@pytest.mark.parametrize("fields", [
    {"MsgType": "text"}, {"FromUserName": "o1"}, {"FromUserName": "o1", "MsgType": "event"},
    {"FromUserName": "o1", "MsgType": "text", "MsgId": {"x": "1"}},
    {"FromUserName": "o1", "MsgType": "text", "MsgId": "1", "CreateTime": "yesterday"},
    {"FromUserName": "o1", "MsgType": "location", "MsgId": "1", "Location_X": "north", "Location_Y": "1"},
    {"FromUserName": "o1", "MsgType": "location", "MsgId": "1", "Location_X": "nan", "Location_Y": "1"},
    {"FromUserName": "o1", "MsgType": "image", "MsgId": "1"},
    {"FromUserName": "o1", "MsgType": "event", "Event": "TEMPLATESENDJOBFINISH"},
])
def test_authenticated_but_incomplete_deliveries_are_400(fields):
    with pytest.raises(MalformedError):
        receive(offline(), {"ToUserName": wf.DEMO_WC_ORIGINAL_ID, **fields})


def test_redelivery_reencrypted_has_the_same_key():
    provider = offline(encryption="safe")
    fields = wf.wc_text(msg_id=77)
    first, second = wf.wc_delivery(fields, mode="safe")[1], wf.wc_delivery(fields, mode="safe")[1]
    assert first != second
    assert provider.delivery_key(first) == provider.delivery_key(second) == "msg:77"


# --- captured payloads (WeChat's documentation examples) --------------------------------------------------


def fixture(name):
    return (FIXTURES / name).read_bytes()


def documented(original_id="toUser"):
    return offline(original_id=original_id)


def test_documented_text():
    (event,) = documented().parse(fixture("wc_text.xml"))
    assert (event.kind, event.text, event.external_id, event.external_user_id) == (
        MESSAGE, "this is a test", "1234567890123456", "fromUser")
    assert event.timestamp == datetime.datetime.fromtimestamp(1348831860, UTC)


def test_documented_image_voice_location():
    (image,) = documented().parse(fixture("wc_image.xml"))
    assert (image.content_type, image.media.id, image.media.url) == (IMAGE, "media_id", "this is a url")
    (voice,) = documented().parse(fixture("wc_voice_recognition.xml"))
    assert (voice.content_type, voice.text) == (AUDIO, "腾讯微信团队")
    (location,) = documented().parse(fixture("wc_location.xml"))
    assert (location.location.latitude, location.location.longitude, location.text) == (
        23.134521, 113.358803, "位置信息")


def test_documented_subscribe_and_template_finish():
    (subscribe,) = documented().parse(fixture("wc_subscribe_qrscene.xml"))
    assert (subscribe.kind, subscribe.referral, subscribe.external_user_id) == (OPT_IN, "123123", "FromUser")
    (done,) = documented("gh_7f083739789a").parse(fixture("wc_template_finish.xml"))
    assert (done.kind, done.external_id, done.status) == (STATUS, "200163836", "delivered")
    (blocked,) = documented("gh_7f083739789a").parse(fixture("wc_template_finish_blocked.xml"))
    assert (blocked.status, blocked.refused) == ("failed", REFUSED_BLOCK)


def test_documented_payload_for_another_account_refused():
    with pytest.raises(AuthError):
        offline().parse(fixture("wc_text.xml"))


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("errcode, kind, token, refused", [
    (-1, RETRYABLE, False, None),
    (40001, RETRYABLE, True, None),
    (40014, RETRYABLE, True, None),
    (42001, RETRYABLE, True, None),
    (45015, WINDOW_CLOSED, False, None),
    (45047, WINDOW_CLOSED, False, None),
    (40003, PERMANENT, False, None),
    (40007, PERMANENT, False, None),
    (40164, PERMANENT, False, None),
    (43004, PERMANENT, False, REFUSED_BLOCK),
    (45009, RETRYABLE, False, None),
    (99999, PERMANENT, False, None),
])
def test_error_classification(wc, wc_fake, errcode, kind, token, refused):
    wc_fake.fail_next(1, 200, wf.wc_error_body(errcode))
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "hi")
    error = info.value
    assert (error.kind, error.code, is_token_error(error), error.refused) == (kind, str(errcode), token, refused)
    assert str(errcode) in error.message


def test_http_errors_classified(wc, wc_fake):
    wc_fake.fail_next(1, 503, "<html>busy</html>")
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "503")
    wc_fake.fail_next(1, 404, "<html>no</html>")
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "hi")
    assert info.value.kind == PERMANENT


def test_network_error_is_retryable(dead_url):
    provider = WeChatProvider(config(base_url=dead_url, access_token="T"))
    with pytest.raises(ProviderError) as info:
        provider.send_text(OPENID, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "network")


def test_no_secret_in_errors(wc, wc_fake):
    token = wc.config["access_token"]
    wc_fake.fail_next(1, 200, {"errcode": 40164, "errmsg": f"invalid ip, token {token} secret "
                                                            f"{wf.DEMO_WC_APP_SECRET} key {wf.DEMO_WC_AES_KEY}"})
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "hi")
    for secret in (token, wf.DEMO_WC_APP_SECRET, wf.DEMO_WC_AES_KEY):
        assert secret not in info.value.message and secret not in str(info.value)


def test_urllib3_log_lines_lose_the_token():
    import logging  # noqa: PLC0415
    from messenger_connector.providers._http import RedactTokensFilter  # noqa: PLC0415
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
                               '%s "%s %s HTTP/1.1" 200 27', ("http://x:80", "GET",
                                                              "/cgi-bin/token?grant_type=client_credential&appid=wx1"
                                                              "&secret=S3CRET&x=1"), None)
    RedactTokensFilter().filter(record)
    assert "S3CRET" not in record.getMessage() and "secret=<token>&x=1" in record.getMessage()
    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, "GET /cgi-bin/user/info?access_token=TOK",
                               (), None)
    RedactTokensFilter().filter(record)
    assert "TOK" not in record.getMessage()


# --- access token ---------------------------------------------------------------------------------------


def test_token_fetch_and_invalidation(make_wc, wc_fake):
    first = make_wc()
    assert wc_fake.token_fetches == 1
    first.send_text(OPENID, "one")
    second = make_wc()  # another process fetching: the first token is no longer valid
    assert wc_fake.token_fetches == 2
    second.send_text(OPENID, "two")
    with pytest.raises(ProviderError) as info:
        first.send_text(OPENID, "three")
    assert info.value.code == "40001" and is_token_error(info.value)
    wc_fake.expire_token()
    with pytest.raises(ProviderError) as info:
        second.send_text(OPENID, "four")
    assert info.value.code == "42001" and is_token_error(info.value)
    with pytest.raises(ProviderError) as info:
        make_wc(access_token="made-up").send_text(OPENID, "five")
    assert info.value.code == "40014" and is_token_error(info.value)
    assert [sent["text"] for sent in wc_fake.sent] == ["one", "two"]


def test_token_fetch_with_a_wrong_secret_is_permanent(make_wc):
    with pytest.raises(ProviderError) as info:
        make_wc(app_secret="wrong")
    assert info.value.kind == PERMANENT and "wrong" not in info.value.message
    assert not info.value.retryable


def test_no_token_yet(make_wc):
    with pytest.raises(ProviderError) as info:
        make_wc(access_token=None).send_text(OPENID, "hi")
    assert (info.value.kind, info.value.code) == (RETRYABLE, "no_token")


# --- sends against the fake -------------------------------------------------------------------------------


def test_send_text(wc, wc_fake):
    result = wc.send_text(OPENID, "你好 ✓")
    assert result.external_id.startswith("wc-cs-")
    (sent,) = wc_fake.sent
    assert (sent["to"], sent["type"], sent["text"]) == (OPENID, "text", "你好 ✓")
    request = wc_fake.requests[-1]
    assert "你好".encode() in request.body  # UTF-8 as is, no \\u escapes
    assert request.query["access_token"] == wc.config["access_token"]


def test_window_closed_and_unfollowed(wc, wc_fake):
    wc_fake.close_window(OPENID)
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "late")
    assert (info.value.kind, info.value.code) == (WINDOW_CLOSED, "45015")
    wc_fake.interact(OPENID)
    wc.send_text(OPENID, "after they wrote")
    wc_fake.unfollow(OPENID)
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "gone")
    assert info.value.code == "45015"


def test_window_of_48_hours(wc, wc_fake):
    import time  # noqa: PLC0415
    wc_fake.interact(OPENID, at=time.time() - 47 * 3600)
    wc.send_text(OPENID, "in time")
    wc_fake.interact(OPENID, at=time.time() - 49 * 3600)
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "too late")
    assert info.value.code == "45015"


def test_per_person_quota(wc, wc_fake):
    wc_fake.set_quotas(cs_quota=3)
    wc_fake.interact(OPENID)
    for n in range(3):
        wc.send_text(OPENID, f"m{n}")
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "fourth")
    assert (info.value.kind, info.value.code) == (WINDOW_CLOSED, "45047")
    assert "write again" in info.value.message
    wc_fake.interact(OPENID)
    wc.send_text(OPENID, "after the next interaction")


def test_send_image_by_upload(wc, wc_fake):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    result = wc.send_document(OPENID, png, "cv.png", "image/png", caption="Your badge")
    assert result.external_id.startswith("wc-cs-")
    texts = [(sent["type"], sent["text"]) for sent in wc_fake.sent]
    assert texts == [("text", "Your badge"), ("image", None)]
    upload = next(r for r in wc_fake.requests if r.path == "/cgi-bin/media/upload")
    assert upload.query["type"] == "image" and upload.files["media"].content == png
    media_id = wc_fake.sent[-1]["payload"]["image"]["media_id"]
    assert wc_fake.media[media_id]["content"] == png


def test_send_document_other_than_image_refused(wc, wc_fake):
    with pytest.raises(ProviderError) as info:
        wc.send_document(OPENID, b"%PDF", "cv.pdf", "application/pdf")
    assert (info.value.kind, info.value.code) == (PERMANENT, "unsupported")
    assert not wc_fake.requests[1:]


def test_send_image_with_unknown_media(wc):
    with pytest.raises(ProviderError) as info:
        wc.send_image(OPENID, "NOPE")
    assert info.value.code == "40007"


def test_invalid_openid(wc, wc_fake):
    with pytest.raises(ProviderError) as info:
        wc.send_text("not an openid!", "hi")
    assert info.value.code == "invalid_openid"
    with pytest.raises(ProviderError) as info:
        wc.send_text("abc", "hi")  # the fake's idea of an OpenID is longer
    assert info.value.code == "40003"


def test_send_template(wc, wc_fake):
    result = wc.send_template(OPENID, "TPL_interview", "zh_CN", {"first": "Hello", "keyword1": {
        "value": "Monday", "color": "#173177"}, "remark": None}, url="https://example.com/i")
    (sent,) = wc_fake.sent
    assert result.external_id == sent["id"]
    assert sent["payload"] == {"touser": OPENID, "template_id": "TPL_interview", "url": "https://example.com/i",
                               "data": {"first": {"value": "Hello"}, "keyword1": {"value": "Monday",
                                                                                   "color": "#173177"},
                                        "remark": {"value": ""}}}
    wc.send_template(OPENID, "TPL", "en", ["a", "b"])
    assert wc_fake.sent[-1]["payload"]["data"] == {"keyword1": {"value": "a"}, "keyword2": {"value": "b"}}
    # its final state arrives later, with the same id
    (event,) = offline().parse(wf.wc_xml(wf.wc_template_finish(result.external_id)))
    assert (event.external_id, event.status) == (result.external_id, "delivered")


def test_send_template_outside_the_window(wc, wc_fake):
    wc_fake.close_window(OPENID)
    wc.send_template(OPENID, "TPL", "en", ["x"])


def test_send_template_on_a_subscription_account(make_wc, wc_fake):
    with pytest.raises(ProviderError) as info:
        make_wc(account_type="subscription").send_template(OPENID, "TPL", "en")
    assert info.value.code == "unsupported"
    wc_fake.account_type = "subscription"
    with pytest.raises(ProviderError) as info:
        make_wc().send_template(OPENID, "TPL", "en")
    assert info.value.code == "48001"


def test_mass_sends(wc, wc_fake):
    answer = wc.send_mass(text="Open day on Friday", tag_id=2, client_msg_id="bc-1")
    assert answer["msg_id"]
    answer = wc.send_mass(text="Hi all", to_all=True)
    answer = wc.send_mass(text="Hi you two", openids=[OPENID, "oOther0penId00000000000002"])
    paths = [(m["path"], m["target"]) for m in wc_fake.mass_sends]
    assert paths == [("/cgi-bin/message/mass/sendall", {"is_to_all": False, "tag_id": 2}),
                     ("/cgi-bin/message/mass/sendall", {"is_to_all": True}),
                     ("/cgi-bin/message/mass/send", {"touser": [OPENID, "oOther0penId00000000000002"]})]
    assert wc_fake.mass_sends[0]["payload"]["clientmsgid"] == "bc-1"
    with pytest.raises(ProviderError) as info:
        wc.send_mass(text="again", tag_id=2, client_msg_id="bc-1")
    assert info.value.code == "45065"
    with pytest.raises(ProviderError) as info:
        wc.send_mass(text="one", openids=[OPENID])
    assert info.value.code == "too_few"
    wc_fake.set_quotas(mass_quota=0)
    with pytest.raises(ProviderError) as info:
        wc.send_mass(text="over", to_all=True)
    assert (info.value.code, info.value.kind) == ("45028", PERMANENT)


def test_permanent_job_qr_code(wc, wc_fake):
    code = wc.create_qr("JOB-12")
    assert code["ticket"] and code["url"].startswith("http://weixin.qq.com/q/")
    assert code["image_url"].startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    request = wc_fake.requests[-1]
    assert request.json == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "JOB-12"}}}
    assert wc.create_qr("JOB-12")["ticket"] == code["ticket"]
    with pytest.raises(ProviderError):
        wc.create_qr("x" * 65)


def test_download_media(wc, wc_fake):
    wc_fake.add_media("IMG1", b"\xff\xd8jpeg", "image/jpeg")
    media = wc.download_media(Media(id="IMG1", mime_type="image/jpeg"))
    assert (media.content, media.mime_type, media.filename) == (b"\xff\xd8jpeg", "image/jpeg", "IMG1.jpg")
    wc_fake.add_media("VID1", b"mp4data", "video/mp4")
    assert wc.download_media(Media(id="VID1")).content == b"mp4data"
    with pytest.raises(ProviderError) as info:
        wc.download_media(Media(id="GONE"))
    assert info.value.code == "40007"
    with pytest.raises(ProviderError) as info:
        wc.download_media(Media(id="../x"))
    assert info.value.code == "no_media"


def test_download_media_size_limit(make_wc, wc_fake):
    wc_fake.add_media("BIG", b"x" * 2048, "image/jpeg")
    with pytest.raises(ProviderError) as info:
        make_wc(max_media_bytes=1024).download_media(Media(id="BIG"))
    assert info.value.code == "too_large"


def test_fetch_profile(wc, wc_fake):
    wc_fake.add_follower(OPENID, nickname="Li Lei", language="zh_CN", unionid="oUnion1")
    profile = wc.fetch_profile(OPENID)
    assert (profile.name, profile.language, profile.union_id) == ("Li Lei", "zh_CN", "oUnion1")
    other = wc.fetch_profile("oNoNickname000000000000001")  # what most accounts get since 2021
    assert (other.name, other.language, other.union_id) == (None, "zh_CN", None)


def test_test_connection_uses_the_current_token(wc, wc_fake):
    assert "gh_0123456789ab" in wc.test_connection()
    assert wc_fake.token_fetches == 1


# --- passive replies ---------------------------------------------------------------------------------------


def test_passive_reply_plain_and_encrypted():
    provider = offline(encryption="safe")
    xml = provider.text_reply(OPENID, "a ]]> b", create_time=1)
    assert "<ToUserName><![CDATA[" + OPENID in xml and "<CreateTime>1</CreateTime>" in xml
    envelope = provider.reply(OPENID, "hi")
    assert "<MsgSignature>" in envelope and "<Encrypt>" in envelope and OPENID not in envelope
    assert offline().reply(OPENID, "hi").startswith("<xml><ToUserName>")


# --- interoperability with wechatpy (an independent implementation) ----------------------------------------


@pytest.fixture
def wechatpy_crypto():
    crypto_module = pytest.importorskip("wechatpy.crypto")
    return crypto_module.WeChatCrypto(wf.DEMO_WC_TOKEN, wf.DEMO_WC_AES_KEY, wf.DEMO_WC_APP_ID)


def test_wechatpy_decrypts_our_encrypted_reply(wechatpy_crypto):
    import xmltodict  # noqa: PLC0415 - wechatpy's own dependency
    provider = offline(encryption="safe")
    xml = provider.text_reply(OPENID, "你好, wechatpy")
    reply = provider.encrypt_reply(xml, timestamp=1700000000, nonce="nonce42")
    envelope = xmltodict.parse(reply)["xml"]
    plain = wechatpy_crypto.decrypt_message(reply, envelope["MsgSignature"], "1700000000", "nonce42")
    assert plain == xml


def test_we_decrypt_what_wechatpy_encrypts(wechatpy_crypto):
    import xmltodict  # noqa: PLC0415
    fields = wf.wc_text(text="来自 wechatpy", msg_id=31)
    envelope = wechatpy_crypto.encrypt_message(wf.wc_xml(fields).decode(), "n0nce", "1700000001")
    parsed = xmltodict.parse(envelope)["xml"]
    params = {"timestamp": "1700000001", "nonce": "n0nce", "encrypt_type": "aes",
              "msg_signature": parsed["MsgSignature"]}
    provider = offline(encryption="safe")
    provider.authenticate({}, envelope.encode(), params)
    (event,) = provider.parse(envelope.encode())
    assert (event.text, event.external_id) == ("来自 wechatpy", "31")


def test_wechatpy_with_another_app_id_is_refused(wechatpy_crypto):
    crypto_module = pytest.importorskip("wechatpy.crypto")
    other = crypto_module.WeChatCrypto(wf.DEMO_WC_TOKEN, wf.DEMO_WC_AES_KEY, OTHER_APP_ID)
    import xmltodict  # noqa: PLC0415
    envelope = other.encrypt_message(wf.wc_xml(wf.wc_text()).decode(), "n", "1")
    params = {"timestamp": "1", "nonce": "n", "msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"]}
    with pytest.raises(AuthError):
        offline(encryption="safe").authenticate({}, envelope.encode(), params)


def test_wechatpy_accepts_our_signatures(wechatpy_crypto):
    utils = pytest.importorskip("wechatpy.utils")
    signature = crypto.signature(wf.DEMO_WC_TOKEN, "1700000002", "abc")
    utils.check_signature(wf.DEMO_WC_TOKEN, signature, "1700000002", "abc")  # raises when it disagrees
    # and the msg_signature of our encrypted deliveries (the fake's) and replies (the provider's)
    params, body = wf.wc_delivery(wf.wc_text(text="x"), mode="safe", timestamp=1700000003, nonce="n1")
    assert wechatpy_crypto.decrypt_message(body.decode(), params["msg_signature"], "1700000003", "n1")
    exceptions = pytest.importorskip("wechatpy.exceptions")
    with pytest.raises(exceptions.InvalidSignatureException):
        utils.check_signature(wf.DEMO_WC_TOKEN, "0" * 40, "1700000002", "abc")


# --- the fake's admin endpoints (driven from another process: the Odoo tests, the demo) --------------------


def test_fake_admin_endpoints(wc, wc_fake):
    import requests  # noqa: PLC0415
    url = wc_fake.url
    assert requests.post(f"{url}/_fake/close_window", json={"openid": OPENID}, timeout=5).json() == {"ok": True}
    with pytest.raises(ProviderError):
        wc.send_text(OPENID, "closed")
    requests.post(f"{url}/_fake/interact", json={"openid": OPENID}, timeout=5)
    wc.send_text(OPENID, "open again")
    requests.post(f"{url}/_fake/set_quotas", json={"cs_quota": 1}, timeout=5)
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "over")
    assert info.value.code == "45047"
    requests.post(f"{url}/_fake/add_media", json={"media_id": "M9", "content_base64": "aGk=",
                                                   "mime_type": "image/png"}, timeout=5)
    assert wc.download_media(Media(id="M9")).content == b"hi"
    requests.post(f"{url}/_fake/expire_token", json={}, timeout=5)
    state = requests.get(f"{url}/_fake/state", timeout=5).json()
    assert state["token_fetches"] == 1 and state["current_token"] == wc.config["access_token"]
    assert [m["text"] for m in requests.get(f"{url}/_fake/sent", timeout=5).json()] == ["open again"]
    with pytest.raises(ProviderError) as info:
        wc.send_text(OPENID, "expired")
    assert info.value.code == "42001"
    requests.post(f"{url}/_fake/reset", json={}, timeout=5)
    assert wc_fake.token_fetches == 0 and not wc_fake.sent


def test_fake_serializes_token_fetches(make_wc, wc_fake):
    """Two fetches at once: the later one wins, the earlier token is dead (why Odoo must fetch under a lock)."""
    import threading  # noqa: PLC0415
    wc_fake.token_delay = 0.05
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(make_wc().config["access_token"])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wc_fake.token_fetches == 2 and wc_fake.current_token in tokens
    stale = next(token for token in tokens if token != wc_fake.current_token)
    with pytest.raises(ProviderError) as info:
        make_wc(access_token=stale).send_text(OPENID, "hi")
    assert info.value.code == "40001"


def test_long_event_keys_give_bounded_delivery_keys():
    event = receive(offline(), wf.wc_event(event="VIEW", event_key="https://example.com/" + "x" * 5000))
    assert len(event.dedup_key) < 100 and event.dedup_key.startswith("event:sha256:")
    assert event.payload.endswith("x" * 5000)


@pytest.mark.parametrize("field, value", [("FromUserName", "o 1"), ("FromUserName", "中文"), ("FromUserName", "o" * 65),
                                          ("MsgId", "12 34"), ("MsgId", "1" * 65)])
def test_ids_wechat_never_makes_are_400(field, value):
    with pytest.raises(MalformedError):
        receive(offline(), {**wf.wc_text(), field: value})


# --- the token source: a refresh and one retry after a token error -----------------------------------------


class TokenStore:
    """What the Odoo side does, in miniature: one shared token, a new one only in place of the stale one."""

    def __init__(self, provider_factory):
        self.fetcher = provider_factory(access_token="unused")
        self.token = None
        self.asked = []

    def __call__(self, stale):
        self.asked.append(stale)
        if self.token is None or self.token == stale:
            self.token = self.fetcher.fetch_access_token()[0]
        return self.token


@pytest.mark.parametrize("spoil", ["supersede", "expire"])
def test_token_error_refreshes_and_retries_once(make_wc, wc_fake, spoil):
    store = TokenStore(make_wc)
    provider = make_wc(access_token=None, token_source=store)
    provider.send_text(OPENID, "first")  # no token yet: the source gives one
    assert wc_fake.token_fetches == 1
    if spoil == "supersede":
        make_wc()  # someone else fetched a token: ours is stale (40001)
    else:
        wc_fake.expire_token()  # 42001
    provider.send_text(OPENID, "second")
    assert store.asked == [None, store.asked[-1]] and store.asked[-1] is not None  # asked again with the stale one
    # one fetch for the first token, one for the refresh (and the other one's fetch that superseded ours)
    assert wc_fake.token_fetches == (3 if spoil == "supersede" else 2)
    assert [sent["text"] for sent in wc_fake.sent] == ["first", "second"]


def test_token_error_retried_once_only(make_wc, wc_fake):
    provider = make_wc(access_token="stale", token_source=lambda stale: "still-not-valid")
    with pytest.raises(ProviderError) as info:
        provider.send_text(OPENID, "x")
    assert info.value.code == "40014"
    assert len([r for r in wc_fake.requests if r.path.endswith("custom/send")]) == 2


def test_media_download_refreshes_the_token(make_wc, wc_fake):
    wc_fake.add_media("IMG2", b"img", "image/jpeg")
    store = TokenStore(make_wc)
    provider = make_wc(access_token="expired-or-made-up", token_source=store)
    assert provider.download_media(Media(id="IMG2")).content == b"img"
    assert store.asked == ["expired-or-made-up"]


def test_message_fields_of_a_stored_delivery():
    provider = offline(encryption="safe")
    _params, body = wf.wc_delivery(wf.wc_text(text="find me", msg_id=5), mode="safe")
    assert OPENID.encode() not in body
    assert provider.message_fields(body)["FromUserName"] == OPENID
    with pytest.raises(MalformedError):
        provider.message_fields(b"{}")  # a body whose content was removed


def test_mass_send_finished_is_kept_with_its_msg_id():
    event = receive(offline(), wf.wc_mass_finish(1000000042, "send success", total=3, filtered=2, sent=2))
    assert (event.kind, event.external_id, event.dedup_key) == (UNKNOWN, "1000000042", "mass:1000000042:send success")
    assert (event.raw["SentCount"], event.raw["FilterCount"]) == ("2", "2")
