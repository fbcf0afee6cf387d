"""X Chat provider: CRC and signatures (no network), delivery envelopes, and encryption end to end against the
fake X API, which plays the person with X's own SDK (no crypto is mocked)."""
import json
import threading
import time

import pytest

from messenger_connector.providers import (
    ECHO, IMAGE, MESSAGE, PERMANENT, REFUSED_BLOCK, RETRYABLE, TEXT, UNKNOWN, AuthError, MalformedError,
    ProviderError, XProvider,
)
from messenger_connector.providers import x as x_module
import messenger_fakes as fakes
from messenger_fakes import x as fx

SECRET = fx.DEMO_X_CONSUMER_SECRET
OURS = fx.DEMO_X_USER_ID
PERSON = fx.DEMO_X_PERSON_ID

pytest.importorskip("chat_xdk")


class MemoryStore(x_module.ChatStore):
    """What Odoo keeps, in memory."""

    def __init__(self):
        self.blobs, self.keys, self.rows, self.body, self.tokens = [], {}, {}, None, {}

    def identities(self):
        return list(self.blobs)

    def conversation_keys(self, conversation_id):
        return dict(self.keys.get(conversation_id, {}))

    def add_conversation_keys(self, conversation_id, keys):
        self.keys.setdefault(conversation_id, {}).update(keys)

    def public_keys(self, conversation_id):
        return self.rows.get(conversation_id)

    def keep_public_keys(self, conversation_id, rows_by_user):
        self.rows[conversation_id] = rows_by_user

    def conversation_token(self, conversation_id):
        return self.tokens.get(conversation_id)

    def keep_conversation_token(self, conversation_id, token):
        self.tokens[conversation_id] = token

    def send_body(self):
        return self.body

    def keep_send_body(self, body):
        self.body = body


@pytest.fixture(scope="module")
def _x_server():
    with fx.FakeX() as server:
        yield server


@pytest.fixture
def x_fake(_x_server):
    _x_server.reset()
    _x_server.add_person(PERSON, "Xena")
    yield _x_server
    _x_server.reset()


def client(fake, store=None, **config):
    return XProvider({"base_url": fake.url, "user_id": OURS, "consumer_secret": SECRET,
                      "access_token": fx.DEMO_X_TOKEN, "chat_store": store or MemoryStore(), **config})


def registered(fake):
    """A client whose account registered its keys at X."""
    store = MemoryStore()
    provider = client(fake, store)
    version, blob = provider.register_keys()
    store.blobs.append((version, blob))
    return provider, store


def open_delivery(provider, delivery):
    (event,) = provider.parse(fakes.body_bytes(delivery))
    return event, provider.open_event(event.raw)


# --- envelope ------------------------------------------------------------------------------------------


def test_crc_and_signature():
    provider = XProvider({"consumer_secret": SECRET, "user_id": OURS})
    assert json.loads(provider.handshake({"crc_token": "abc"})) == fx.x_crc_response("abc", SECRET)
    body = b'{"data": {}}'
    provider.authenticate(fx.x_headers(body, SECRET), body)
    with pytest.raises(AuthError):
        provider.authenticate(fx.x_headers(body, "other"), body)
    with pytest.raises(AuthError):
        provider.handshake({"crc_token": '{"data": 1}'})


def test_envelope_of_received_and_sent(x_fake):
    provider, _store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "hi")
    (event,) = provider.parse(fakes.body_bytes(delivery))
    payload = delivery["data"]["payload"]
    assert (event.kind, event.external_user_id, event.external_id, event.account_ref) == (
        MESSAGE, PERSON, payload["id"], OURS)
    assert provider.delivery_key(fakes.body_bytes(delivery)) == "uuid:" + delivery["data"]["event_uuid"]
    # the conversation id in either order and form names the same conversation
    payload["conversation_id"] = f"{PERSON}-{OURS}"
    (again,) = provider.parse(fakes.body_bytes(delivery))
    assert again.external_user_id == PERSON
    payload["sender_id"] = OURS
    (echo,) = provider.parse(fakes.body_bytes(delivery))
    assert (echo.kind, echo.external_user_id) == (ECHO, PERSON)


@pytest.mark.parametrize("change", [
    {"payload": None}, {"payload": {"id": 7}}, {"payload": {"conversation_id": "1:2:3"}},
    {"payload": {"encoded_event": 12}}, {"payload": {"sender_id": "abc"}}, {"payload": {"created_at_msec": "soon"}},
])
def test_malformed_envelopes_refused(x_fake, change):
    provider, _store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "hi")
    if change["payload"] is None:
        delivery["data"]["payload"] = None
    else:
        delivery["data"]["payload"].update(change["payload"])
    with pytest.raises(MalformedError):
        provider.parse(fakes.body_bytes(delivery))


@pytest.mark.parametrize("uuid", ["a\x00b", "x" * 500, "1 2", 7, None])
def test_odd_event_uuid_keyed_by_the_body(uuid):
    provider = XProvider({"consumer_secret": SECRET, "user_id": OURS})
    body = json.dumps({"data": {"event_uuid": uuid}}).encode()
    assert provider.delivery_key(body).startswith("sha256:")


def test_group_chat_kept_unapplied(x_fake):
    provider, _store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "to a group")
    delivery["data"]["payload"]["conversation_id"] = "g1234567890"
    (event,) = provider.parse(fakes.body_bytes(delivery))
    assert (event.kind, event.account_ref) == (UNKNOWN, OURS)


def test_other_event_types_kept_unapplied():
    provider = XProvider({"consumer_secret": SECRET, "user_id": OURS})
    (event,) = provider.parse(b'{"data": {"event_type": "chat.conversation_join", "filter": {"user_id": "1"}}}')
    assert event.kind == UNKNOWN


# --- reading ------------------------------------------------------------------------------------------


def test_person_message_decrypted_and_verified(x_fake):
    provider, store = registered(x_fake)
    event, opened = open_delivery(provider, x_fake.person_sends(PERSON, "Is the job still open?"))
    assert opened["verified"] is True
    content = x_module.event_content(opened, f"{OURS}:{PERSON}")
    assert (content["kind"], content["content_type"], content["text"]) == ("message", TEXT, "Is the job still open?")
    assert store.keys[f"{OURS}:{PERSON}"], "the conversation key is kept by version"


def test_missing_key_change_fetched_from_the_conversation_events(x_fake):
    provider, store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "no key change attached", with_key_change=False)
    _event, opened = open_delivery(provider, delivery)
    assert opened["content"]["text"] == "no key change attached"
    assert any("/events" in r.path for r in x_fake.requests)


def test_deletion_read_as_such(x_fake):
    provider, _store = registered(x_fake)
    _event, first = open_delivery(provider, x_fake.person_sends(PERSON, "oops"))
    _event, deleted = open_delivery(provider, x_fake.person_deletes(PERSON, [first["sequence_id"]]))
    content = x_module.event_content(deleted, f"{OURS}:{PERSON}")
    assert content["kind"] == "MessageDeleted"
    assert deleted["verified"] is True


def test_tampered_event_is_failed_never_garbage(x_fake):
    provider, _store = registered(x_fake)
    delivery = fx.tamper(x_fake.person_sends(PERSON, "secret"))
    with pytest.raises(x_module.ChatUnreadable) as caught:
        open_delivery(provider, delivery)
    assert caught.value.state == x_module.FAILED
    assert "secret" not in caught.value.reason


def test_envelope_naming_another_message_is_refused(x_fake):
    """The signed id decides: an envelope whose id is not the signed one (a replayed event under a new id) is
    never read as that message."""
    provider, _store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "signed as one message")
    delivery["data"]["payload"]["id"] = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(x_module.ChatUnreadable) as caught:
        open_delivery(provider, delivery)
    assert caught.value.state == x_module.FAILED


def test_envelope_naming_another_sender_is_refused(x_fake):
    """The signer decides who wrote: the person's message under an envelope naming our account (which would make
    it an echo of ours) is never read."""
    provider, _store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "written by the person")
    delivery["data"]["payload"]["sender_id"] = OURS
    with pytest.raises(x_module.ChatUnreadable) as caught:
        open_delivery(provider, delivery)
    assert caught.value.state == x_module.FAILED


def test_unknown_key_version_is_pending(x_fake):
    provider, store = registered(x_fake)
    delivery = x_fake.person_sends(PERSON, "first")
    open_delivery(provider, delivery)
    x_fake.person_rotates_conversation_key(PERSON)
    later = x_fake.person_sends(PERSON, "after rotation", with_key_change=False)
    # X lost the key change too: the message waits for its key
    x_fake.conversations[f"{OURS}:{PERSON}"]["changes"].pop()
    with pytest.raises(x_module.ChatUnreadable) as caught:
        open_delivery(provider, later)
    assert caught.value.state == x_module.PENDING_KEY


def test_media_in_decrypted_with_the_key_of_its_version(x_fake):
    provider, _store = registered(x_fake)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    _event, opened = open_delivery(provider, x_fake.person_sends(PERSON, "", media=png, filename="cv.png"))
    content = x_module.event_content(opened, f"{OURS}:{PERSON}")
    assert content["content_type"] == IMAGE
    x_fake.person_rotates_conversation_key(PERSON)
    downloaded = provider.download_media(content["media"])
    assert (downloaded.content, downloaded.filename) == (png, "cv.png")


# --- sending ------------------------------------------------------------------------------------------


def test_first_reply_creates_the_conversation_key_then_reuses_it(x_fake):
    provider, store = registered(x_fake)
    first = provider.send_text(PERSON, "Hello Xena")
    assert [r.path for r in x_fake.requests if r.method == "POST"][-2:] == [
        f"/2/chat/conversations/{PERSON}/keys", f"/2/chat/conversations/{PERSON}/messages"]
    store.body = None
    second = provider.send_text(PERSON, "Second")
    posts = [r.path for r in x_fake.requests if r.method == "POST"]
    assert posts.count(f"/2/chat/conversations/{PERSON}/keys") == 1
    assert [(m["id"], m["text"], m["verified"]) for m in x_fake.received] == [
        (first.external_id, "Hello Xena", True), (second.external_id, "Second", True)]


def test_reply_gives_back_the_conversation_token(x_fake):
    """The conversation_token of the person's last verified message goes back with the reply; none before."""
    provider, store = registered(x_fake)
    provider.send_text(PERSON, "first, before the person wrote")
    store.body = None
    assert x_fake.received[-1]["conversation_token"] is None
    delivery = x_fake.person_sends(PERSON, "hello")
    open_delivery(provider, delivery)
    provider.send_text(PERSON, "the reply")
    assert x_fake.received[-1]["conversation_token"] == delivery["data"]["payload"]["conversation_token"]


def test_retry_resends_the_same_body(x_fake):
    provider, store = registered(x_fake)
    x_fake.fail_next(1, 503, {"title": "Service Unavailable"})
    with pytest.raises(ProviderError) as caught:
        provider.send_text(PERSON, "once")
    assert caught.value.kind == RETRYABLE
    kept = dict(store.body)
    result = provider.send_text(PERSON, "once")
    sends = [r.json for r in x_fake.requests if r.path.endswith("/messages")]
    assert sends[0] == sends[1] == kept
    assert result.external_id == kept["message_id"]
    assert len(x_fake.received) == 1


def test_person_without_keys_is_a_permanent_reason(x_fake):
    provider, _store = registered(x_fake)
    x_fake.person_has_no_keys(PERSON)
    with pytest.raises(ProviderError) as caught:
        provider.send_text(PERSON, "hello?")
    assert (caught.value.kind, caught.value.code, caught.value.refused) == (PERMANENT, "no_recipient_keys", None)


def test_refusal_and_app_problems(x_fake):
    provider, _store = registered(x_fake)
    provider.send_text(PERSON, "key first")
    provider.store.body = None
    x_fake.refuse(PERSON)
    with pytest.raises(ProviderError) as caught:
        provider.send_text(PERSON, "refused")
    assert caught.value.refused == REFUSED_BLOCK
    x_fake.accept(PERSON)
    x_fake.drop_scope()
    provider.store.body = None
    with pytest.raises(ProviderError) as caught:
        provider.send_text(PERSON, "no scope")
    assert (caught.value.kind, caught.value.refused) == (PERMANENT, None)


def test_file_sent_encrypted_and_read_by_the_person(x_fake):
    provider, _store = registered(x_fake)
    pdf = b"%PDF-1.4 offer letter"
    provider.send_document(PERSON, pdf, "offer.pdf", "application/pdf", caption="Your offer")
    (received,) = x_fake.received
    assert received["text"] == "Your offer"
    media = received["attachments"][0]["media"]
    assert x_fake.decrypt_media(PERSON, media["media_hash_key"]) == pdf
    assert pdf not in x_fake.media[media["media_hash_key"]], "X holds ciphertext only"


@pytest.mark.parametrize("named_at", ["initialize", "finalize", "both"])
def test_file_sent_whichever_upload_step_names_the_hash_key(x_fake, named_at):
    """X's documents name the media hash key in the initialize answer or in the finalize one: either works."""
    x_fake.media_hash_key_at = named_at
    provider, _store = registered(x_fake)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    provider.send_document(PERSON, png, "cv.png", "image/png")
    (received,) = x_fake.received
    assert x_fake.decrypt_media(PERSON, received["attachments"][0]["media"]["media_hash_key"]) == png


@pytest.mark.parametrize("has_more", [True, False])
def test_every_page_of_key_changes_fetched(x_fake, has_more):
    """Key changes come page by page from /events: every page is read, whether X's meta says has_more or only
    gives a next_token."""
    x_fake.events_page_limit, x_fake.events_has_more = 1, has_more
    provider, _store = registered(x_fake)
    first = x_fake.person_sends(PERSON, "under the first key")
    versions = [first["data"]["payload"]["conversation_key_version"]]
    for _rotation in range(2):
        time.sleep(0.005)  # a key version is a millisecond timestamp: one rotation a millisecond at most
        versions.append(x_fake.person_rotates_conversation_key(PERSON))
    keys = provider.fetch_conversation_keys(f"{OURS}:{PERSON}")
    assert sorted(keys) == sorted(versions)
    # the oldest message reads with its own key, found on the last page
    _event, opened = open_delivery(provider, dict(first, data=dict(first["data"], payload={
        k: v for k, v in first["data"]["payload"].items() if k != "conversation_key_change_event"})))
    assert opened["content"]["text"] == "under the first key"


def test_token_refreshed_once_on_a_401(x_fake):
    tokens = {"current": fx.DEMO_X_TOKEN}
    calls = []

    def source(stale):
        calls.append(stale)
        if stale:
            token, _refresh, _expires = XProvider({"base_url": x_fake.url, "refresh_token": x_fake.refresh_token,
                                                   "client_id": fx.DEMO_X_CLIENT_ID}).refresh_access_token()
            tokens["current"] = token
        return tokens["current"]

    provider = client(x_fake, token_source=source)
    x_fake.expire_token()
    assert provider.public_keys(PERSON)
    assert calls == [None, fx.DEMO_X_TOKEN]
    assert x_fake.refreshes == 1


def test_refresh_token_is_single_use(x_fake):
    refresher = XProvider({"base_url": x_fake.url, "refresh_token": x_fake.refresh_token,
                           "client_id": fx.DEMO_X_CLIENT_ID})
    refresher.refresh_access_token()
    with pytest.raises(ProviderError):
        refresher.refresh_access_token()


def test_keys_and_tokens_never_in_errors(x_fake):
    provider, store = registered(x_fake)
    x_fake.fail_next(1, 400, {"detail": f"echo {fx.DEMO_X_TOKEN}"})
    with pytest.raises(ProviderError) as caught:
        provider.send_text(PERSON, "x")
    assert fx.DEMO_X_TOKEN not in caught.value.message
    assert store.blobs[0][1].hex() not in repr(caught.value)


def test_concurrent_reads_share_nothing(x_fake):
    """A Chat per call: two threads opening deliveries at once get their own results."""
    provider, _store = registered(x_fake)
    deliveries = [x_fake.person_sends(PERSON, f"m{i}") for i in range(4)]
    texts, errors = [], []

    def read(delivery):
        try:
            texts.append(open_delivery(provider, delivery)[1]["content"]["text"])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=read, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and sorted(texts) == ["m0", "m1", "m2", "m3"]
