"""X (Twitter) Direct Messages: Account Activity API webhooks in, API v2 sends out.

Inbound, one app has one webhook URL for every account subscribed to it: ``for_user_id`` names ours
(``Event.account_ref``, so that a delivery for another account of the same app is routed, not mixed in).
A DM event whose sender is that account is our own DM coming back: an ECHO, addressed to its recipient.
"""
import base64
import datetime
import hashlib
import hmac
import json
import re
import time
import urllib.parse

from . import _http
from ._inbound import as_bytes, get_dict, get_dicts, get_str, header_value, load_object, stable_key
from .base import (
    BUTTON, ECHO, IMAGE, MESSAGE, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, STATUS, TEXT, UNKNOWN, VIDEO,
    AuthError, DownloadedMedia, Event, MalformedError, Media, Profile, ProviderError, SendResult,
)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: "sha256=" + the base64 of a 32-byte digest (43 characters and one "=" of padding)
SIGNATURE_RE = re.compile(r"sha256=([A-Za-z0-9+/]{43}=)")
#: an X user id (a snowflake as a decimal string): it goes into URL paths, so nothing else passes
USER_ID_RE = re.compile(r"[0-9]{1,20}")

MAX_CRC_TOKEN = 1024
MAX_TEXT = 10000  # X's limit of a DM's text

#: DM media kinds (a Tweet media entity's ``type``) -> content type
MEDIA_TYPES = {"photo": IMAGE, "video": VIDEO, "animated_gif": VIDEO}
#: hosts that serve DM media only to the account's token; anything else is fetched without it
MEDIA_AUTH_HOSTS = frozenset({"ton.twitter.com", "ton.x.com"})
#: top-level keys of a delivery that describe, not report, something
ENVELOPE_KEYS = frozenset({"for_user_id", "users", "apps", "user_has_blocked", "is_blocked_by"})
#: problem types of a 403 that concern our app or token (missing scope, project), not the person
APP_PROBLEMS = ("client-forbidden", "unsupported-authentication", "oauth1-permissions")


class XProvider(_http.HttpProvider):
    """One X account (a user subscribed to the app's Account Activity webhook).

    Config: ``user_id`` (the account's X user id), ``consumer_secret`` (the app's: CRC answers and
    webhook signatures), ``access_token`` (OAuth 2.0 user-context token with ``dm.write``).
    """

    name = "x"
    default_base_url = "https://api.x.com"
    window_hours = None  # no reply window: anyone who accepts DMs from us can be written to, consent decides
    # X counts DM sends per 15 minutes and 24 hours (429 with the reset time when over): one a second keeps
    # a burst from using the quarter-hour's quota at once
    rate_limit = 1
    has_receipts = False  # no delivery receipts; read receipts only from people who turned them on
    address_kind = "user_id"
    echo_author = "X"
    has_profiles = True  # GET /2/users/<id>: name, @username and picture
    secret_keys = ("consumer_secret", "access_token")
    handshake_content_type = "application/json"
    max_media_bytes = 20 * _http.MEGABYTE

    def __init__(self, config):
        super().__init__(config)
        user_id = self.config.get("user_id")
        # compared with the ids X gives as strings
        self.user_id = str(user_id).strip() or None if user_id not in (None, False) else None

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
        return "sha256:" + hashlib.sha256(as_bytes(body)).hexdigest()

    def parse(self, body):
        delivery = load_object(body)
        for_user_id = get_str(delivery, "for_user_id")
        reported = [key for key in delivery if key not in ENVELOPE_KEYS]
        if for_user_id is None and not any(key.endswith(("_events", "_event")) for key in reported):
            raise MalformedError("not an X Account Activity delivery")
        ours = for_user_id or self.user_id
        users = get_dict(delivery, "users")
        events = []
        for key in reported:
            if key == "direct_message_events":
                events += [_dm_event(item, ours, users) for item in get_dicts(delivery, key)]
            elif key == "direct_message_mark_read_events":
                events += [_read_event(item, ours) for item in get_dicts(delivery, key)]
            elif isinstance(delivery[key], list):
                # typing indicators, tweets, follows...: kept, never applied
                events += [_unknown_event(item) for item in delivery[key]]
            else:
                events.append(_unknown_event({key: delivery[key]}))
        if not events:
            events.append(_unknown_event(delivery))
        for event in events:
            event.account_ref = for_user_id
        return events

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        _http.check_length(text, MAX_TEXT, "the text")
        if not isinstance(text, str) or not text.strip():
            raise ProviderError(PERMANENT, "an X direct message needs a text", code="empty")
        answer = self.http.json("POST", self._url("2", "dm_conversations", "with", _user_id(to), "messages"),
                                headers=self._auth(), json={"text": text})
        data = answer.get("data")
        event_id = data.get("dm_event_id") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not event_id:
            raise ProviderError(PERMANENT, "the send answered without a dm_event_id", code="bad_response")
        return SendResult(event_id, raw=answer)

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        # X DMs carry images, GIFs and videos uploaded through the media API, and no other files: there is
        # no document to send
        raise ProviderError(PERMANENT, "X direct messages cannot carry documents: send the text, or a link",
                            code="unsupported")

    def download_media(self, media):
        url = media.url if media else None
        split = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if not split or split.scheme not in ("https", "http") or not split.netloc:
            raise ProviderError(PERMANENT, "no X media URL to download", code="no_media")
        # the token goes only to X's own hosts: a public CDN URL needs none
        api = urllib.parse.urlsplit(self.base_url)
        own = split.hostname in MEDIA_AUTH_HOSTS or (split.scheme, split.netloc) == (api.scheme, api.netloc)
        content, content_type = self.http.download(url, self.max_media_bytes, headers=self._auth() if own else None)
        return DownloadedMedia(content, mime_type=media.mime_type or content_type, filename=media.filename)

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

    # --- helpers ------------------------------------------------------------------------------------

    def _consumer_secret(self):
        secret = self.config.get("consumer_secret")
        if not isinstance(secret, str) or not secret:
            raise AuthError("no consumer secret configured: every request is refused")
        return secret

    def _url(self, *parts):
        return "/".join([self.base_url, *parts])

    def _auth(self):
        return {"Authorization": f"Bearer {self.config.get('access_token') or ''}"}

    def _user(self, user_id, params):
        answer = self.http.json("GET", self._url("2", "users", user_id), headers=self._auth(), params=params)
        data = answer.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ProviderError(PERMANENT, "X answered without the user", code="bad_response")
        return data

    def _classify(self, response):
        status = response.status_code
        body = _http.error_body(response)
        common = {"code": status, "http_status": status}
        text = _error_text(body, status)
        if status == 429 or status >= 500:
            return ProviderError(RETRYABLE, text, retry_after=_rate_limit_reset(response), **common)
        if status == 401:
            return ProviderError(PERMANENT, "X access token is invalid or expired (HTTP 401)", **common)
        if status == 403:
            problem = body.get("type") if isinstance(body.get("type"), str) else ""
            if any(name in problem for name in APP_PROBLEMS):
                return ProviderError(PERMANENT, f"{text}: check the app's access and the token's scopes", **common)
            # the person does not accept DMs from us (or blocked us): a refusal by the person, so the message
            # fails without retry and nothing more goes until they write to us, which lifts it
            return ProviderError(PERMANENT, text, refused=REFUSED_BLOCK, **common)
        return ProviderError(PERMANENT, text, **common)


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
    """Aware UTC datetime of X's ``created_timestamp`` (milliseconds since the epoch, as a string)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError("a created_timestamp is not milliseconds since the epoch")
    try:
        return datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedError("a created_timestamp is out of range") from None


def _person(users, user_id):
    """profile_name and username of ``user_id`` from the delivery's ``users`` (v1.1 or v2 field names)."""
    user = users.get(user_id) if user_id else None
    if not isinstance(user, dict):
        return {}
    return {"profile_name": get_str(user, "name"),
            "username": get_str(user, "screen_name") or get_str(user, "username")}


def _dm_event(item, ours, users):
    if get_str(item, "type") != "message_create":
        return _unknown_event(item)
    event_id = get_str(item, "id", required=True)
    create = get_dict(item, "message_create", required=True)
    sender = get_str(create, "sender_id", required=True)
    recipient = get_str(get_dict(create, "target"), "recipient_id")
    if ours and sender == ours:
        if not recipient:
            raise MalformedError("our own DM without a recipient")
        kind, person = ECHO, recipient
    else:
        kind, person = MESSAGE, sender
    return Event(
        kind=kind,
        external_user_id=person,
        external_id=event_id,
        dedup_key=f"dm:{event_id}",
        timestamp=_ms_to_utc(item.get("created_timestamp")),
        raw=item,
        **_person(users, person),
        **_message_content(get_dict(create, "message_data")),
    )


def _message_content(data):
    text = _expanded_text(data)
    attachment = get_dict(data, "attachment")
    if get_str(attachment, "type") == "media":
        media = get_dict(attachment, "media")
        kind = get_str(media, "type")
        url = _video_url(media) if kind in ("video", "animated_gif") else None
        found = Media(id=get_str(media, "id_str"), url=url or get_str(media, "media_url_https")
                      or get_str(media, "media_url"))
        # X appends the media's own t.co link to the text: the media is kept apart
        link = get_str(media, "url")
        if text and link and text.rstrip().endswith(link):
            text = text.rstrip().removesuffix(link).rstrip()
        return {"content_type": MEDIA_TYPES.get(kind, OTHER), "media": found, "text": text}
    reply = get_dict(data, "quick_reply_response")
    if reply:
        return {"content_type": BUTTON, "payload": get_str(reply, "metadata"), "text": text}
    if text is not None:
        return {"content_type": TEXT, "text": text}
    return {"content_type": OTHER}


def _expanded_text(data):
    """The DM's text with X's t.co links replaced by the URLs written (``entities.urls``): what the person (or
    we, for an echo of our own DM) typed, so that an echo matches the message it echoes."""
    text = get_str(data, "text")
    if not text:
        return text
    for entity in get_dicts(get_dict(data, "entities"), "urls"):
        short, expanded = entity.get("url"), entity.get("expanded_url")
        if isinstance(short, str) and short and isinstance(expanded, str) and expanded:
            text = text.replace(short, expanded)
    return text


def _video_url(media):
    """The URL of a video's best MP4 variant, or None."""
    variants = [v for v in get_dicts(get_dict(media, "video_info"), "variants")
                if v.get("content_type") == "video/mp4" and isinstance(v.get("url"), str)]
    best = max(variants, key=lambda v: v.get("bitrate") if isinstance(v.get("bitrate"), int) else 0, default=None)
    return best["url"] if best else None


def _read_event(item, ours):
    """A person read our DMs up to ``last_read_event_id``: every DM we sent them before the read is read.

    One that our own account marked read (a colleague in X's app), or a read of a conversation with someone
    else, says nothing about our messages.
    """
    reader = get_str(item, "sender_id", required=True)
    partner = get_str(get_dict(item, "target"), "recipient_id")
    last_read = get_str(item, "last_read_event_id")
    when = _ms_to_utc(item.get("created_timestamp"))
    if when is None or (ours and (reader == ours or (partner and partner != ours))):
        return _unknown_event(item)
    return Event(kind=STATUS, status="read", external_user_id=reader, watermark=when, timestamp=when,
                 dedup_key=f"read:{reader}:{last_read or item.get('created_timestamp')}", raw=item)


def _unknown_event(raw):
    return Event(kind=UNKNOWN, dedup_key=stable_key("unknown:", raw), raw=raw if isinstance(raw, dict) else {"value": raw})
