"""X Direct Messages through X Chat: end-to-end encrypted, signed on both ends, X routes ciphertext only.

Inbound, one app has one webhook URL for every account subscribed to it: ``filter.user_id`` names ours
(``Event.account_ref``). A delivery (``chat.received`` or ``chat.sent``) carries the encrypted event; parsing
reads its envelope only (who, which conversation, which signed message id), and the account's keys open it
later (:meth:`XProvider.open_event`), with X's own SDK (``chat_xdk``): nothing here is cryptography of ours.

The keys live in Odoo, not here: the client gets a ``chat_store`` (see :class:`ChatStore`) that keeps the
account's exported key blobs, the conversation keys by version, the people's public keys and the body of a
send being retried. An access token source (``token_source(stale)``) gives a fresh OAuth 2.0 token.
"""
import base64
import datetime
import hashlib
import hmac
import json
import re
import time

from . import _http
from ._inbound import as_bytes, get_dict, get_str, header_value, load_object, stable_key
from .base import (
    AUDIO, DOCUMENT, ECHO, IMAGE, MESSAGE, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, TEXT, UNKNOWN, VIDEO,
    AuthError, DownloadedMedia, Event, MalformedError, Media, Profile, ProviderError, SendResult,
)

try:
    import chat_xdk
except ImportError:  # the addon's manifest requires it; the message below says what is missing
    chat_xdk = None

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: "sha256=" + the base64 of a 32-byte digest (43 characters and one "=" of padding)
SIGNATURE_RE = re.compile(r"sha256=([A-Za-z0-9+/]{43}=)")
#: an X user id (a snowflake as a decimal string): it goes into URL paths, so nothing else passes
USER_ID_RE = re.compile(r"[0-9]{1,19}")
#: a conversation id as payloads give it: "A:B" or "A-B" (normalized to "low:high")
CONVERSATION_RE = re.compile(r"([0-9]{1,19})[:-]([0-9]{1,19})")
MEDIA_HASH_RE = re.compile(r"[a-zA-Z0-9]{1,50}")
#: a group conversation's id
GROUP_RE = re.compile(r"g[0-9]{1,19}")
#: a delivery's event_uuid (a decimal id in X's samples): anything else is keyed by the body's hash
EVENT_UUID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: an upload session id, as it goes into a URL path
SESSION_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
KEY_VERSION_RE = re.compile(r"[0-9]{1,20}")
#: base64 of an encoded event: X's events are a few kilobytes; the webhook body limit bounds them anyway
BASE64_RE = re.compile(r"[A-Za-z0-9+/=_-]+")

MAX_CRC_TOKEN = 1024
MAX_CONVERSATION_TOKEN = 4096
MAX_TEXT = 10000  # X does not publish a limit for X Chat; its legacy DMs stopped at 10,000 characters
EVENT_TYPES = ("chat.received", "chat.sent")
PUBLIC_KEY_FIELDS = "public_key_version,public_key,signing_public_key,identity_public_key_signature,juicebox_config"
#: an access token is refreshed this long before it expires (a call in flight must not carry an expired one)
TOKEN_MARGIN = 300

#: X Chat media kinds -> content type
MEDIA_TYPES = {"IMAGE": IMAGE, "GIF": IMAGE, "VIDEO": VIDEO, "AUDIO": AUDIO, "SVG": DOCUMENT}
#: problem types of a 403 that concern our app or token (missing scope, project), not the person
APP_PROBLEMS = ("client-forbidden", "unsupported-authentication", "oauth1-permissions")

# What became of an encrypted event that could not be read (ChatUnreadable.state)
PENDING_KEY = "pending_key"   # its conversation key has not arrived yet: read again when it does
FAILED = "failed"             # it never can be (tampered, forged, unparsable): kept as it came

#: the SDK's words for a missing conversation key and for a signature it cannot check
NO_KEY = "no matching key found"
NO_SIGNING_KEY = "no matching signing key"


class ChatUnreadable(Exception):
    """An encrypted event that could not be opened: ``reason`` in words, ``state`` PENDING_KEY or FAILED."""

    def __init__(self, reason, state):
        super().__init__(reason)
        self.reason = reason
        self.state = state


class ChatStore:
    """What the X client keeps through its account (the Odoo side implements it; this one keeps nothing).

    Key blobs and conversation keys are secrets: whoever implements this keeps them encrypted, unreadable by
    people, and out of every log.
    """

    def identities(self):
        """The account's key blobs, ``[(version, blob bytes)]``, newest first."""
        return []

    def conversation_keys(self, conversation_id):
        """``{version: key bytes}`` of a conversation (``low:high``)."""
        return {}

    def add_conversation_keys(self, conversation_id, keys):
        """Keep ``{version: key bytes}`` of a conversation (versions already kept are kept as they are)."""

    def public_keys(self, conversation_id):
        """``{user_id: [public key rows]}`` of a conversation's participants as last fetched, or None."""
        return None

    def keep_public_keys(self, conversation_id, rows_by_user):
        """Keep the participants' verified public key rows."""

    def conversation_token(self, conversation_id):
        """The ``conversation_token`` of the conversation's latest verified delivery, or None."""
        return None

    def keep_conversation_token(self, conversation_id, token):
        """Keep the ``conversation_token`` a verified delivery carried (replies give it back)."""

    def send_body(self):
        """The body prepared for the message being sent, or None the first time."""
        return None

    def keep_send_body(self, body):
        """Keep the body of the message being sent: a retry sends the same one."""


class XProvider(_http.HttpProvider):
    """One X account (a user whose X Chat events the app's webhook receives).

    Config: ``user_id`` (the account's X user id), ``consumer_secret`` (the app's: CRC answers and webhook
    signatures), ``access_token`` (OAuth 2.0 user token), ``refresh_token``, ``client_id``, ``client_secret``
    (to refresh it), ``app_token`` (the app's bearer token for webhook management; the user token when empty),
    ``token_source`` (``callable(stale) -> token``: the account's valid token, a new one in place of
    ``stale``), ``chat_store`` (a :class:`ChatStore`).
    """

    name = "x"
    icon = "fa fa-twitter"
    default_base_url = "https://api.x.com"
    window_hours = None  # no reply window: anyone who accepts DMs from us can be written to, consent decides
    # X publishes no X Chat limits: one a second keeps a burst well below the legacy DM quotas
    rate_limit = 1
    has_receipts = False  # read receipts are encrypted events of people who turned them on
    address_kind = "user_id"
    echo_author = "X"
    has_profiles = True  # GET /2/users/<id>: name, @username and picture
    registers_webhook = True
    secret_keys = ("consumer_secret", "access_token", "refresh_token", "client_secret", "app_token")
    handshake_content_type = "application/json"
    max_media_bytes = 20 * _http.MEGABYTE

    def __init__(self, config):
        super().__init__(config)
        user_id = self.config.get("user_id")
        # compared with the ids X gives as strings
        self.user_id = str(user_id).strip() or None if user_id not in (None, False) else None
        self.store = self.config.get("chat_store") or ChatStore()

    # --- webhook side -------------------------------------------------------------------------------

    def handshake(self, params):
        """The CRC answer: ``{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}``.

        The answer is an HMAC of any text asked, with the same key and form as a POST's signature: a token
        that could be a delivery body (a JSON object always holds "{") is refused, or anyone could get a
        forged delivery signed here. X's tokens are plain strings.
        """
        secret = self._consumer_secret()
        token = (params or {}).get("crc_token")
        if not isinstance(token, str) or not token or len(token) > MAX_CRC_TOKEN:
            raise AuthError("missing or invalid crc_token")
        if "{" in token or not token.isprintable():
            raise AuthError("a crc_token that could be a signed body is refused")
        return json.dumps({"response_token": "sha256=" + _hmac_base64(secret, token.encode())})

    def authenticate(self, headers, body, params=None):
        secret = self._consumer_secret()
        signature = header_value(headers, SIGNATURE_HEADER)
        match = SIGNATURE_RE.fullmatch(signature) if isinstance(signature, str) else None
        if not match:
            raise AuthError("missing or malformed x-twitter-webhooks-signature")
        expected = _hmac_base64(secret, as_bytes(body))
        if not hmac.compare_digest(expected.encode(), match.group(1).encode()):
            raise AuthError("signature mismatch")

    def delivery_key(self, body):
        """A delivery is stored once by its ``event_uuid`` (X redelivers with the same one)."""
        try:
            uuid = get_str(get_dict(load_object(body), "data"), "event_uuid")
        except MalformedError:
            uuid = None
        if uuid and EVENT_UUID_RE.fullmatch(uuid):
            return f"uuid:{uuid}"
        return "sha256:" + hashlib.sha256(as_bytes(body)).hexdigest()

    def parse(self, body):
        """The envelope of a ``chat.received`` / ``chat.sent`` delivery: one MESSAGE (the person wrote) or ECHO
        (our account wrote, from Odoo or X's own app) whose content is still encrypted (``raw``: the payload).

        What the envelope says is checked against the signed event when it is opened; anything else X posts
        (another event type) is kept, never applied.
        """
        delivery = load_object(body)
        data = get_dict(delivery, "data", required=True)
        ours = get_str(get_dict(data, "filter"), "user_id")
        event_type = get_str(data, "event_type")
        if event_type not in EVENT_TYPES:
            event = _unknown_event(data)
            event.account_ref = ours
            return [event]
        payload = get_dict(data, "payload", required=True)
        message_id = get_str(payload, "id", required=True)
        sender = get_str(payload, "sender_id", required=True)
        conversation_id = get_str(payload, "conversation_id", required=True)
        encoded = get_str(payload, "encoded_event", required=True)
        if not BASE64_RE.fullmatch(encoded) or len(message_id) > 100:
            raise MalformedError("not an encrypted X Chat event")
        change = payload.get("conversation_key_change_event")
        if change is not None and not (isinstance(change, str) and BASE64_RE.fullmatch(change)):
            raise MalformedError("conversation_key_change_event is not what X sends")
        version = payload.get("conversation_key_version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
            raise MalformedError("conversation_key_version is not what X sends")
        if GROUP_RE.fullmatch(conversation_id):
            # a group chat: the account answers people one to one; the delivery stays on record, unapplied
            event = _unknown_event(data)
            event.account_ref = ours
            return [event]
        conversation = canonical_conversation(conversation_id)
        if not USER_ID_RE.fullmatch(sender):
            raise MalformedError("sender_id is not an X user id")
        ours = ours or self.user_id
        low, high = conversation.split(":")
        if ours not in (low, high):
            person = sender
        else:
            person = high if low == ours else low
        kind = ECHO if sender == ours else MESSAGE
        if kind == MESSAGE and sender != person:
            raise MalformedError("the sender is neither our account nor the person")
        return [Event(
            kind=kind,
            external_user_id=person,
            external_id=message_id,
            dedup_key=f"chat:{message_id}",
            timestamp=_ms_to_utc(payload.get("created_at_msec")),
            content_type=OTHER,
            raw=payload,
            account_ref=get_str(get_dict(data, "filter"), "user_id"),
        )]

    # --- reading an encrypted event -------------------------------------------------------------------

    def open_event(self, payload):
        """The decrypted, verified event of a delivery's ``payload`` (the SDK's dict); raise ChatUnreadable.

        The conversation key comes from the delivery's key-change event, else from those kept, else from the
        conversation's events at X. The signature is checked against the participants' registered keys,
        themselves verified; keys fetched again once when the signer's are not known.
        """
        conversation = canonical_conversation(payload.get("conversation_id") or "")
        encoded = payload.get("encoded_event")
        signing = self._signing_keys(conversation)
        keys = dict(self.store.conversation_keys(conversation))
        change = payload.get("conversation_key_change_event")
        if change and str(payload.get("conversation_key_version") or "") not in keys:
            keys.update(self._learn_keys(conversation, [change], signing))
        refreshed = fetched = False
        while True:
            try:
                event = self._chat().decrypt_event(encoded, keys, signing)
            except (ValueError, TypeError, RuntimeError) as error:
                reason = _sdk_reason(error)
                if NO_KEY in reason and not fetched:
                    fetched = True
                    keys.update(self.fetch_conversation_keys(conversation, signing))
                    continue
                if NO_SIGNING_KEY in reason and not refreshed:
                    refreshed = True
                    signing = self._signing_keys(conversation, refresh=True)
                    continue
                raise ChatUnreadable(reason, PENDING_KEY if NO_KEY in reason else FAILED) from None
            break
        if not event.get("verified"):
            raise ChatUnreadable("the signature was not verified", FAILED)
        # the envelope's sender decides inbound or echo: it must be the one who signed
        if str(event.get("id")) != str(payload.get("id")) or \
                str(event.get("sender_id")) != str(payload.get("sender_id")) or \
                canonical_conversation(event.get("conversation_id") or "") != conversation:
            raise ChatUnreadable("the envelope does not match the signed event", FAILED)
        token = payload.get("conversation_token")
        if isinstance(token, str) and token and len(token) <= MAX_CONVERSATION_TOKEN:
            self.store.keep_conversation_token(conversation, token)
        return event

    def fetch_conversation_keys(self, conversation, signing=None):
        """Every key of a conversation X has a key-change event for (all pages), kept; ``{version: key}``."""
        events, token = [], None
        for _page in range(100):
            params = {"max_results": 100}
            if token:
                params["pagination_token"] = token
            answer = self._json("GET", self._url("2", "chat", "conversations", path_conversation(conversation),
                                                 "events"), params=params)
            meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
            events += [e for e in meta.get("conversation_key_events") or [] if isinstance(e, str)]
            token = meta.get("next_token")
            # a next_token means another page, unless X says there is none (has_more may also be absent)
            if not isinstance(token, str) or not token or meta.get("has_more") is False:
                break
        return self._learn_keys(conversation, events, signing or self._signing_keys(conversation)) if events else {}

    def _learn_keys(self, conversation, change_events, signing):
        """Unwrap key-change events with each of our key versions; keep and return what they gave."""
        found = {}
        for _version, chat in self._chats():
            try:
                result = chat.decrypt_events(list(change_events), signing)
            except (ValueError, TypeError, RuntimeError):
                continue
            found.update((result.get("conversation_keys") or {}).get("keys") or {})
        if found:
            self.store.add_conversation_keys(conversation, found)
        return found

    # --- keys of people -------------------------------------------------------------------------------

    def public_keys(self, user_id):
        """The verified public key rows X has for ``user_id`` (``[]``: no X Chat keys), newest first."""
        answer = self._json("GET", self._url("2", "users", _user_id(user_id), "public_keys"),
                            params={"public_key.fields": PUBLIC_KEY_FIELDS})
        rows = [row for row in answer.get("data") or [] if isinstance(row, dict)]
        checker = chat_xdk_module().Chat()
        verified = []
        for row in rows:
            try:
                if checker.verify_key_binding(row["public_key"], row["signing_public_key"],
                                              row["identity_public_key_signature"]):
                    verified.append(dict(row, user_id=str(user_id)))
            except (KeyError, TypeError, ValueError):
                continue
        return sorted(verified, key=lambda row: _version_number(row.get("public_key_version")), reverse=True)

    def _participants(self, conversation, refresh=False):
        cached = None if refresh else self.store.public_keys(conversation)
        if cached is None:
            cached = {user: self.public_keys(user) for user in conversation.split(":")}
            self.store.keep_public_keys(conversation, cached)
        return cached

    def _signing_keys(self, conversation, refresh=False):
        """Every registered key of both participants, as the SDK checks signatures with them."""
        return [{"user_id": row["user_id"], "public_key_version": str(row.get("public_key_version")),
                 "public_key": row["signing_public_key"], "identity_public_key": row["public_key"],
                 "identity_public_key_signature": row["identity_public_key_signature"]}
                for rows in self._participants(conversation, refresh).values() for row in rows]

    # --- our keys ---------------------------------------------------------------------------------------

    def existing_keys(self):
        """The account's own public key rows at X (``[]`` when it has no X Chat keys yet)."""
        return self.public_keys(self._own_id())

    def register_keys(self):
        """Generate the account's keys, register their public halves; ``(version, blob)`` to keep."""
        chat = chat_xdk_module().Chat()
        registration = chat.generate_keypairs()
        key = registration.public_key
        body = {"public_key": {name: getattr(key, name) for name in (
                    "public_key", "signing_public_key", "identity_public_key_signature", "public_key_fingerprint",
                    "registration_method", "signing_public_key_signature") if getattr(key, name, None) is not None},
                "version": registration.version, "generate_version": registration.generate_version}
        answer = self._json("POST", self._url("2", "users", self._own_id(), "public_keys"), json=body)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        version = str(data.get("public_key_version") or registration.version or "")
        if not KEY_VERSION_RE.fullmatch(version):
            raise ProviderError(PERMANENT, "X registered the keys without a key version", code="bad_response")
        return version, bytes(chat.export_keys())

    @staticmethod
    def unlock_keys(pin, juicebox_config):
        """The blob of keys kept in X's secure key backup, unlocked once with the account's PIN."""
        chat = chat_xdk_module().Chat(json.dumps(juicebox_config) if not isinstance(juicebox_config, str)
                                      else juicebox_config)
        try:
            chat.unlock(pin)
            blob = chat.export_keys()
        except (ValueError, RuntimeError) as error:
            remaining = chat_xdk_module().guesses_remaining(error)
            text = "wrong PIN" if remaining is not None else "the keys could not be unlocked"
            if remaining is not None:
                text += f" ({remaining} guesses left)"
            raise ProviderError(PERMANENT, text, code="unlock") from None
        if not blob:
            raise ProviderError(PERMANENT, "X's key backup gave no keys", code="unlock")
        return bytes(blob)

    def _chats(self):
        """A Chat with each of our key versions, newest first (key-change events may be wrapped to older ones)."""
        for version, blob in self.store.identities():
            chat = chat_xdk_module().Chat()
            try:
                chat.import_keys(bytes(blob), str(version))
                chat.set_identity(self._own_id(), str(version))
            except (ValueError, TypeError, RuntimeError):
                continue
            yield version, chat

    def _chat(self):
        for _version, chat in self._chats():
            return chat
        raise ChatUnreadable("the account has no X Chat keys in Odoo", PENDING_KEY)

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        _http.check_length(text, MAX_TEXT, "the text")
        if not isinstance(text, str) or not text.strip():
            raise ProviderError(PERMANENT, "an X direct message needs a text", code="empty")
        return self._send(to, lambda chat, conversation, key, version: chat.encrypt_message(
            conversation, text, conversation_key=key, conversation_key_version=version))

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        """A file: encrypted with the conversation key, uploaded, then named in an encrypted message."""
        _http.check_size(content, self.max_media_bytes)

        def encrypt(chat, conversation, key, version):
            media_hash_key = self._upload(chat, conversation, key, content)
            width, height = chat_xdk_module().detect_image_dimensions(content) or (0, 0)
            attachment = {"attachment_type": "media", "media_hash_key": media_hash_key, "width": width,
                          "height": height, "filesize_bytes": len(content), "filename": filename or "file"}
            return chat.encrypt_message(conversation, caption or "", conversation_key=key,
                                        conversation_key_version=version, attachments=[attachment])
        return self._send(to, encrypt)

    def _send(self, to, encrypt):
        """Send once what ``encrypt`` makes, or the body a first attempt kept (a retry sends the same body)."""
        person = _user_id(to)
        conversation = canonical_conversation(f"{self._own_id()}:{person}")
        body = self.store.send_body()
        if not body:
            key, version = self._conversation_key(conversation, person)
            try:
                payload = encrypt(self._chat(), conversation, key, version)
            except ChatUnreadable as error:
                raise ProviderError(PERMANENT, error.reason, code="no_keys") from None
            except (ValueError, TypeError, RuntimeError) as error:
                raise ProviderError(PERMANENT, f"the message could not be encrypted: {_sdk_reason(error)}",
                                    code="encryption") from None
            body = {"message_id": payload.message_id, "encoded_message_create_event": payload.encrypted_content,
                    "encoded_message_event_signature": payload.encoded_event_signature}
            # what X gave with the person's last message goes back with the reply, as X's own sample bot does
            token = self.store.conversation_token(conversation)
            if isinstance(token, str) and token:
                body["conversation_token"] = token
            self.store.keep_send_body(body)
        answer = self._json("POST", self._url("2", "chat", "conversations", person, "messages"), json=body)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        return SendResult(body["message_id"], raw={"data": {k: v for k, v in data.items() if k != "encoded_message_event"}})

    def _conversation_key(self, conversation, person):
        """(key, version) to encrypt with: the latest kept, X's, or a new one made for both participants."""
        keys = self.store.conversation_keys(conversation)
        if not keys:
            try:
                keys = self.fetch_conversation_keys(conversation)
            except ProviderError as error:
                if error.http_status != 404:
                    raise
                keys = {}
        if keys:
            version = max(keys, key=_version_number)
            return keys[version], version
        rows = self._participants(conversation, refresh=True)
        if not rows.get(person):
            # X Chat has no unencrypted fallback: nothing can reach a person without keys
            raise ProviderError(PERMANENT, "this person has no X Chat keys: X cannot deliver encrypted messages "
                                           "to them until they set up X Chat", code="no_recipient_keys")
        if not rows.get(self._own_id()):
            raise ProviderError(PERMANENT, "X has no X Chat keys of the account: set up its keys", code="no_keys")
        participants = [{"user_id": user, "public_key": user_rows[0]["public_key"],
                         "key_version": str(user_rows[0]["public_key_version"])} for user, user_rows in rows.items()]
        try:
            change = self._chat().prepare_conversation_key_change(participants, conversation_id=conversation)
        except ChatUnreadable as error:
            raise ProviderError(PERMANENT, error.reason, code="no_keys") from None
        except (ValueError, TypeError, RuntimeError) as error:
            raise ProviderError(PERMANENT, f"no conversation key could be made: {_sdk_reason(error)}",
                                code="encryption") from None
        body = {"conversation_key_version": change["conversation_key_version"],
                "conversation_participant_keys": [
                    {"user_id": p["user_id"], "encrypted_conversation_key": p["encrypted_key"],
                     "public_key_version": p["public_key_version"]} for p in change["participant_keys"]],
                "action_signatures": [
                    {"message_id": a["message_id"], "encoded_message_event_detail": a["encoded_message_event_detail"],
                     "message_event_signature": {"signature": a["signature"], "public_key_version": a["public_key_version"],
                                                 "signature_version": a["signature_version"]}}
                    for a in change["action_signatures"]]}
        self._json("POST", self._url("2", "chat", "conversations", person, "keys"), json=body)
        version = str(change["conversation_key_version"])
        self.store.add_conversation_keys(conversation, {version: bytes(change["conversation_key"])})
        return bytes(change["conversation_key"]), version

    def _upload(self, chat, conversation, key, content):
        """Upload a file's ciphertext; its ``media_hash_key``."""
        encrypted = chat.encrypt_stream(content, key)
        # request bodies name the conversation as payloads do (low:high); only URL paths take low-high
        start = self._json("POST", self._url("2", "chat", "media", "upload", "initialize"),
                           json={"conversation_id": conversation, "total_bytes": len(encrypted)})
        data = start.get("data") if isinstance(start.get("data"), dict) else {}
        session, media_hash_key = data.get("session_id"), data.get("media_hash_key")
        if not isinstance(session, str) or not SESSION_RE.fullmatch(session):
            raise ProviderError(PERMANENT, "X did not open an upload", code="bad_response")
        # the hash key goes with each step when initialize gave it (else only finalize names it)
        common = {"conversation_id": conversation}
        if isinstance(media_hash_key, str) and media_hash_key:
            common["media_hash_key"] = media_hash_key
        self._json("POST", self._url("2", "chat", "media", "upload", session, "append"),
                   json=dict(common, segment_index=0, media=base64.b64encode(encrypted).decode()))
        done = self._json("POST", self._url("2", "chat", "media", "upload", session, "finalize"),
                          json=dict(common, num_parts="1"))
        # X's documents disagree on whether initialize or finalize names the hash key: either does
        final = done.get("data") if isinstance(done.get("data"), dict) else {}
        media_hash_key = final.get("media_hash_key") or media_hash_key
        if not isinstance(media_hash_key, str) or not MEDIA_HASH_RE.fullmatch(media_hash_key):
            raise ProviderError(PERMANENT, "X gave no media hash key for the upload", code="bad_response")
        return media_hash_key

    def download_media(self, media):
        """A received file: its ciphertext from X, decrypted with the key of the version it was sent under."""
        try:
            conversation, media_hash_key, version = (media.id or "").split("|")
            conversation = canonical_conversation(conversation)
        except (ValueError, MalformedError, AttributeError):
            raise ProviderError(PERMANENT, "no X Chat media to download", code="no_media") from None
        if not MEDIA_HASH_RE.fullmatch(media_hash_key):
            raise ProviderError(PERMANENT, "no X Chat media to download", code="no_media")
        key = self.store.conversation_keys(conversation).get(version)
        if key is None:
            key = self.fetch_conversation_keys(conversation).get(version)
        if key is None:
            raise ProviderError(RETRYABLE, "the conversation key of the file has not arrived yet", code="no_key")
        content, _type = self._download(self._url("2", "chat", "media", path_conversation(conversation),
                                                  media_hash_key))
        try:
            plain = chat_xdk_module().Chat().decrypt_stream(content, key)
        except (ValueError, TypeError, RuntimeError):
            raise ProviderError(PERMANENT, "the file could not be decrypted (damaged or not ours)",
                                code="decryption") from None
        mime = chat_xdk_module().detect_mime_type(plain) or media.mime_type
        return DownloadedMedia(plain, mime_type=mime, filename=media.filename)

    # --- webhook and subscriptions --------------------------------------------------------------------

    def register_webhook(self, url, secret=None):
        """Register ``url`` (X checks it with a CRC at once) and subscribe the account to its chat events."""
        app = {"Authorization": f"Bearer {self.config.get('app_token') or self._token()}"}
        webhooks = self.http.json("GET", self._url("2", "webhooks"), headers=app)
        existing = [w for w in webhooks.get("data") or [] if isinstance(w, dict) and w.get("url") == url]
        if existing:
            webhook_id = existing[0].get("id")
            self.http.request("PUT", self._url("2", "webhooks", str(webhook_id)), headers=app).close()
        else:
            answer = self.http.json("POST", self._url("2", "webhooks"), headers=app, json={"url": url})
            webhook_id = (answer.get("data") or {}).get("id") if isinstance(answer.get("data"), dict) else None
        if not isinstance(webhook_id, str) or not webhook_id:
            raise ProviderError(PERMANENT, "X registered the webhook without an id", code="bad_response")
        subscriptions = []
        for event_type in EVENT_TYPES:
            answer = self._json("POST", self._url("2", "activity", "subscriptions"), json={
                "event_type": event_type, "filter": {"user_id": self._own_id()}, "webhook_id": webhook_id,
                "tag": "messenger-connector"})
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            subscriptions.append(str(data.get("subscription_id") or data.get("id") or ""))
        return {"webhook_id": webhook_id, "subscription_ids": subscriptions}

    # --- set-up checks ------------------------------------------------------------------------------

    def health_checks(self, webhook_url):
        """The user token (whose account it is), the account's X Chat keys (here and at X), the app's webhooks
        (ours among them, and whether X's last CRC against it passed: it fails when the consumer secret differs)
        and the account's activity subscriptions to it."""
        from .base import CHECK_WRONG, Finding, unreachable_finding
        try:
            me = self._user("me", {"user.fields": "username"})
        except ProviderError as error:
            return [unreachable_finding(error)]
        username = f"@{me.get('username')}" if me.get("username") else me.get("id")
        if self.user_id and me.get("id") != self.user_id:
            return [Finding("token_other_user", CHECK_WRONG, {"user": username, "user_id": self.user_id})]
        findings = [Finding("token_valid", params={"user": username})]
        if not self.config.get("consumer_secret"):
            findings.append(Finding("secret_missing", CHECK_WRONG))
        if not self.store.identities():
            findings.append(Finding("keys_missing", CHECK_WRONG))
        else:
            findings.append(Finding("keys_ok"))
        app = {"Authorization": f"Bearer {self.config.get('app_token') or self._token()}"}
        try:
            webhooks = [w for w in self.http.json("GET", self._url("2", "webhooks"), headers=app).get("data") or []
                        if isinstance(w, dict)]
            subscriptions = [item for item in self.http.json(
                "GET", self._url("2", "activity", "subscriptions"), headers=app).get("data") or []
                if isinstance(item, dict)]
        except ProviderError as error:
            return findings + [unreachable_finding(error)]
        ours = next((w for w in webhooks if w.get("url") == webhook_url), None)
        if not ours:
            others = ", ".join(str(w.get("url")) for w in webhooks if w.get("url"))
            findings.append(Finding("webhook_elsewhere", CHECK_WRONG, {"url": others}) if others
                            else Finding("webhook_missing", CHECK_WRONG))
            return findings
        if ours.get("valid") is False:
            findings.append(Finding("crc_failed", CHECK_WRONG))
        else:
            findings.append(Finding("webhook_ok", params={"url": webhook_url}))
        subscribed = {item.get("event_type") for item in subscriptions
                      if item.get("webhook_id") == ours.get("id")
                      and str((item.get("filter") or {}).get("user_id") or "") == (self.user_id or "")}
        missing = [event for event in EVENT_TYPES if event not in subscribed]
        if missing:
            findings.append(Finding("subscription_missing", CHECK_WRONG, {"events": ", ".join(missing)}))
        else:
            findings.append(Finding("subscriptions_ok", params={"events": ", ".join(EVENT_TYPES)}))
        return findings

    # --- tokens ---------------------------------------------------------------------------------------

    def refresh_access_token(self):
        """A new access token for the refresh token: ``(access_token, refresh_token, expires_in seconds)``."""
        refresh = self.config.get("refresh_token")
        client_id = self.config.get("client_id")
        if not refresh or not client_id:
            raise ProviderError(PERMANENT, "no refresh token and client id to renew the X access token",
                                code="reconnect")
        secret = self.config.get("client_secret") or ""
        auth = (client_id, secret) if secret else None
        answer = self.http.json("POST", self._url("2", "oauth2", "token"), auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id})
        token, new_refresh = answer.get("access_token"), answer.get("refresh_token")
        expires_in = answer.get("expires_in")
        if not isinstance(token, str) or not token:
            raise ProviderError(PERMANENT, "X answered the refresh without a token", code="bad_response")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            expires_in = 7200
        return token, new_refresh if isinstance(new_refresh, str) and new_refresh else refresh, expires_in

    def _token(self, stale=None):
        source = self.config.get("token_source")
        if source:
            return source(stale)
        return self.config.get("access_token") or ""

    def _json(self, method, url, **kwargs):
        """A user-context call: with the account's token, refreshed once when X answers 401."""
        token = self._token()
        try:
            return self.http.json(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except ProviderError as error:
            if error.http_status != 401 or not self.config.get("token_source"):
                raise
        token = self._token(stale=token)
        return self.http.json(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def _download(self, url):
        token = self._token()
        try:
            return self.http.download(url, self.max_media_bytes, headers={"Authorization": f"Bearer {token}"})
        except ProviderError as error:
            if error.http_status != 401 or not self.config.get("token_source"):
                raise
        token = self._token(stale=token)
        return self.http.download(url, self.max_media_bytes, headers={"Authorization": f"Bearer {token}"})

    # --- the rest -------------------------------------------------------------------------------------

    def test_connection(self):
        me = self._user("me", {"user.fields": "name,username"})
        user_id, username = me.get("id"), me.get("username")
        if self.user_id and user_id != str(self.user_id):
            raise ProviderError(PERMANENT, f"the access token is the X user {user_id}, not the account's user "
                                f"{self.user_id}", code="config")
        return " ".join(filter(None, [username and f"@{username}", me.get("name") and f"({me['name']})"])) \
            or f"X user {user_id}"

    def fetch_profile(self, external_user_id):
        user = self._user(_user_id(external_user_id), {"user.fields": "name,username,profile_image_url"})
        return Profile(name=_text(user.get("name")), username=_text(user.get("username")),
                       picture_url=_text(user.get("profile_image_url")))

    def _consumer_secret(self):
        secret = self.config.get("consumer_secret")
        if not isinstance(secret, str) or not secret:
            raise AuthError("no consumer secret configured: every request is refused")
        return secret

    def _own_id(self):
        if not self.user_id or not USER_ID_RE.fullmatch(self.user_id):
            raise ProviderError(PERMANENT, "the account has no X user id", code="config")
        return self.user_id

    def _url(self, *parts):
        return "/".join([self.base_url, *parts])

    def _user(self, user_id, params):
        answer = self._json("GET", self._url("2", "users", user_id), params=params)
        data = answer.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ProviderError(PERMANENT, "X answered without the user", code="bad_response")
        return data

    def _classify(self, response):
        status = response.status_code
        body = _http.error_body(response)
        common = {"code": status, "http_status": status}
        text = _error_text(body, status)
        problem = body.get("type") if isinstance(body.get("type"), str) else ""
        if status == 429 or status >= 500:
            return ProviderError(RETRYABLE, text, retry_after=_rate_limit_reset(response), **common)
        if status == 401:
            return ProviderError(PERMANENT, "X access token is invalid or expired (HTTP 401): reconnect the account",
                                 **common)
        if status == 403:
            if any(name in problem for name in APP_PROBLEMS):
                return ProviderError(PERMANENT, f"{text}: check the app's access and the token's scopes", **common)
            # the person does not accept DMs from us (or blocked us): a refusal by the person, so the message
            # fails without retry and nothing more goes until they write to us, which lifts it
            return ProviderError(PERMANENT, text, refused=REFUSED_BLOCK, **common)
        return ProviderError(PERMANENT, text, **common)


# --- the SDK and its events ---------------------------------------------------------------------------


def chat_xdk_module():
    if chat_xdk is None:
        raise ProviderError(PERMANENT, "X Chat needs X's SDK: install the Python package chatxdk", code="config")
    return chat_xdk


def canonical_conversation(value):
    """``low:high`` of a one-to-one conversation id given as ``A:B`` or ``A-B`` in either order."""
    match = CONVERSATION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise MalformedError("conversation_id is not a one-to-one X Chat conversation")
    low, high = sorted((match.group(1), match.group(2)), key=int)
    return f"{low}:{high}"


def path_conversation(conversation):
    """A conversation id as a URL path takes it (``low-high``)."""
    return conversation.replace(":", "-")


def _version_number(value):
    """Key versions are millisecond timestamps held as strings: compared as numbers."""
    text = str(value or "")
    return int(text) if text.isdigit() else -1


def _sdk_reason(error):
    """The SDK's reason in one line, without its repeated cause."""
    return str(error).split("\ncaused by:")[0].strip()[:300] or type(error).__name__


def event_content(event, conversation):
    """What a decrypted X Chat event says, for a message: ``{kind, content_type, text, media, reply_to,
    reaction_to_sequence, sequence_id, key_version}``; ``kind`` "message", "reaction", or the event's own type
    (a read receipt, a deletion, typing...: kept with the delivery, never applied)."""
    found = {"sequence_id": str(event.get("sequence_id") or "") or None,
             "key_version": str(event.get("key_version") or "") or None}
    if event.get("type") != "Message":
        return dict(found, kind=str(event.get("type") or "Unknown"))
    content = event.get("content") if isinstance(event.get("content"), dict) else {}
    kind = content.get("content_type")
    if kind == "Reaction":
        return dict(found, kind="reaction", content_type=TEXT, text=str(content.get("emoji") or ""),
                    reaction_to_sequence=str(content.get("target_message_id") or "") or None)
    text = content.get("text") if isinstance(content.get("text"), str) else None
    preview = content.get("replying_to_preview") if isinstance(content.get("replying_to_preview"), dict) else {}
    reply_to = preview.get("replying_to_message_id") if event.get("reply_preview_validation", "Valid") == "Valid" \
        else None
    found.update(kind="message", content_type=TEXT if text else OTHER, text=text, reply_to=reply_to or None)
    files = [attachment["media"] for attachment in content.get("attachments") or [] if isinstance(attachment, dict)
             and isinstance(attachment.get("media"), dict) and isinstance(attachment["media"].get("media_hash_key"), str)]
    if files:
        media = files[0]
        found["content_type"] = MEDIA_TYPES.get(str(media.get("type") or "").upper(), DOCUMENT)
        found["media"] = Media(id="|".join([conversation, media["media_hash_key"], found["key_version"] or ""]),
                               filename=_text(media.get("filename")),
                               file_size=media.get("filesize_bytes") if isinstance(
                                   media.get("filesize_bytes"), int) else None)
        # a message holds one file here: the others are named, never dropped unsaid
        found["more_media"] = [_text(media.get("filename")) or "" for media in files[1:]]
    return found


def _hmac_base64(secret, message):
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _user_id(value):
    """An X user id, checked before it goes into a URL path."""
    value = str(value or "").strip()
    if not USER_ID_RE.fullmatch(value):
        raise ProviderError(PERMANENT, "not an X user id", code="invalid_recipient")
    return value


def _text(value):
    return value if isinstance(value, str) and value else None


def _rate_limit_reset(response):
    """Seconds until ``x-rate-limit-reset`` (epoch seconds), else the ``Retry-After`` header, else None."""
    reset = (response.headers.get("x-rate-limit-reset") or "").strip()
    if reset.isascii() and reset.isdigit() and len(reset) <= 12:
        return max(0, int(reset) - int(time.time()))
    return _http.retry_after(response)


def _error_text(body, status):
    """X's own words: a v2 problem (``title``, ``detail``) or v1.1 ``errors[].message``."""
    detail, title = _text(body.get("detail")), _text(body.get("title"))
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = detail or _text(first.get("message")) or _text(first.get("detail")) or title
    return f"X error {status}: {message}" if message else f"X API answered HTTP {status}"


# --- webhook parsing --------------------------------------------------------------------------------


def _ms_to_utc(value):
    """Aware UTC datetime of X's ``created_at_msec`` (milliseconds since the epoch, as a string)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError("created_at_msec is not milliseconds since the epoch")
    try:
        return datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedError("created_at_msec is out of range") from None


def _unknown_event(raw):
    return Event(kind=UNKNOWN, dedup_key=stable_key("unknown:", raw), raw=raw if isinstance(raw, dict) else {"value": raw})
