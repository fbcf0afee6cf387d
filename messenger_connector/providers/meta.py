"""Facebook Messenger and Instagram messaging (Graph webhooks, Send API): webhook parsing and outbound calls.

Both platforms speak the same protocol: a webhook envelope ``object: "page"`` (Messenger) or ``"instagram"``
whose entries carry ``messaging`` items (a message, an echo of our own, a postback, a referral, a delivery or a
read), and a Send API ``POST /{ver}/{PAGE_ID}/messages?access_token=...``. For Instagram the account id is the
Instagram professional account ID (what its webhooks carry in ``entry.id``). The handshake and the signature
are WhatsApp's (``_meta.MetaWebhook``).

Meta timestamps are milliseconds; a ``watermark`` says every message we sent to the person up to then was
delivered or read (Event.watermark), ``mids`` name them one by one (one STATUS each).
"""
import datetime
import json
import posixpath
import re
import urllib.parse

from . import _http, _meta
from ._inbound import get_dict, get_dicts, get_number, get_str, load_object, stable_key
from .base import (
    AUDIO, BUTTON, DOCUMENT, ECHO, IMAGE, LOCATION, MESSAGE, OTHER, PERMANENT, RETRYABLE, STATUS, STICKER, TEXT,
    UNKNOWN, VIDEO, WINDOW_CLOSED, DownloadedMedia, Event, Location, MalformedError, Media, Profile, ProviderError,
    SendResult,
)
from .base import CHECK_WRONG, Finding, unreachable_finding

#: PROVIDERS.md: a text must stay under 2000 characters
MAX_TEXT = 1999
#: Meta's limit of an uploaded attachment
MAX_ATTACHMENT = 25 * _http.MEGABYTE

#: a Graph node id that goes into a URL path (page id, PSID, IGSID): digits only, nothing that could change it
NODE_ID_RE = re.compile(r"[0-9]{1,32}")

#: attachment type -> content type; others (fallback, share, story_mention, reel, template...) are OTHER
ATTACHMENT_TYPES = {"image": IMAGE, "video": VIDEO, "audio": AUDIO, "file": DOCUMENT, "sticker": STICKER}

#: the outbound attachment type of a MIME type (everything else goes as a file)
UPLOAD_TYPES = (("image/", "image"), ("video/", "video"), ("audio/", "audio"))

#: Graph error codes (PROVIDERS.md): 10 with subcode 2018278 is the closed window; 4 and 613 are rate limits,
#: 1 and 2 temporary failures; 190 an invalid token; 551 "this person isn't available right now" fails that
#: message without saying the person refused us; 100 an invalid parameter
WINDOW_CODE, WINDOW_SUBCODE = 10, 2018278
RETRYABLE_CODES = frozenset({1, 2, 4, 613})
TOKEN_CODE = 190

#: ``metadata`` of the caption sent ahead of a document: Meta echoes it back, and that echo is part of the
#: document message (stored once, under the attachment's id), not a message of its own
CAPTION_METADATA = "messenger_connector:caption"

#: Meta messaging timestamps are milliseconds; an epoch below this is taken as seconds (the dashboard's test
#: notifications send seconds): 10^11 s is the year 5138, 10^11 ms is 1973
MILLISECONDS_FROM = 10 ** 11


class MetaMessagingProvider(_meta.MetaWebhook, _http.HttpProvider):
    """One Facebook Page (Messenger) or Instagram professional account.

    Config: ``page_id`` (the Page ID, or the Instagram professional account ID), ``access_token`` (the Page
    token), ``app_secret`` (webhook signatures), ``verify_token`` (GET handshake), ``api_version`` (default
    "v21.0"), ``human_agent`` (bool: the app has the Human Agent permission, so a human reply may go with the
    ``HUMAN_AGENT`` tag up to 7 days after the person's last message).
    """

    #: the webhook envelope's ``object``
    webhook_object = None
    #: fields asked for a person's profile
    profile_fields = None
    #: fields asked for the account itself (test_connection)
    account_fields = None
    #: the platform named in an attachment upload, when the endpoint serves more than one
    upload_platform = None

    #: the platform's name in error messages
    label = "Meta"
    default_base_url = "https://graph.facebook.com"
    window_hours = 24
    human_window_hours = 168
    human_tag = "HUMAN_AGENT"
    has_receipts = True
    has_profiles = True
    echo_author = "Meta"
    secret_keys = ("access_token", "app_secret", "verify_token")
    max_media_bytes = MAX_ATTACHMENT

    def __init__(self, config):
        super().__init__(config)
        self.api_version = _meta.api_version(self.config)
        self.page_id = self.config.get("page_id")

    # --- webhook side -------------------------------------------------------------------------------

    def parse(self, body):
        envelope = load_object(body)
        if envelope.get("object") != self.webhook_object:
            raise MalformedError(f"not a {self.label} webhook (object {self.webhook_object!r})")
        events = []
        for entry in get_dicts(envelope, "entry", required=True):
            entry_id = get_str(entry, "id")
            items = get_dicts(entry, "messaging")
            events += [event for item in items for event in _item_events(item, entry_id)]
            # standby (another app controls the thread), changes (feed, comments, dashboard tests): kept whole
            others = [*get_dicts(entry, "standby"), *get_dicts(entry, "changes")]
            events += [_unknown_event(other, entry_id) for other in others]
            if not items and not others:
                events.append(_unknown_event(entry, entry_id))
        return events

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        if not isinstance(text, str) or not text.strip():
            raise ProviderError(PERMANENT, "the text is empty", code="empty")
        _http.check_length(text, MAX_TEXT, "the text")
        return self._send(to, {"text": text}, tag)

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        """Upload the file (``/message_attachments``), then send it by its attachment id. Meta attachments have
        no caption: a caption goes first as a text message of its own (marked, so that its echo is not taken for
        a message of its own), its id in ``raw["caption_id"]``."""
        _http.check_size(content, MAX_ATTACHMENT, "the document")
        _http.check_length(caption, MAX_TEXT, "the caption")
        recipient = self._node(to, "recipient")
        kind = next((kind for prefix, kind in UPLOAD_TYPES if (mime_type or "").startswith(prefix)), "file")
        data = {"message": _json({"attachment": {"type": kind, "payload": {"is_reusable": False}}})}
        if self.upload_platform:
            data["platform"] = self.upload_platform
        upload = self.http.json(
            "POST", self._url(self._account(), "message_attachments"), params=self._token(), data=data,
            files={"filedata": (filename or "file", content, mime_type or "application/octet-stream")},
        )
        attachment_id = upload.get("attachment_id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise ProviderError(PERMANENT, "the attachment upload answered without an attachment_id",
                                code="bad_response")
        caption_id = None
        if caption and caption.strip():
            caption_id = self._send(recipient, {"text": caption, "metadata": CAPTION_METADATA}, tag).external_id
        result = self._send(recipient, {"attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}},
                            tag)
        result.raw = {**(result.raw or {}), "attachment_id": attachment_id, "caption_id": caption_id}
        return result

    def download_media(self, media):
        """Inbound attachments are direct CDN URLs: fetched without any credential, within the size limit."""
        url = media.url if media else None
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise ProviderError(PERMANENT, "no attachment URL to download", code="no_media")
        content, content_type = self.http.download(url, self.max_media_bytes)
        filename = media.filename or posixpath.basename(urllib.parse.urlsplit(url).path) or None
        mime_type = media.mime_type or (content_type or "").partition(";")[0].strip() or None
        return DownloadedMedia(content, mime_type=mime_type, filename=filename)

    def fetch_profile(self, external_user_id):
        info = self.http.json("GET", self._url(self._node(external_user_id, "person")),
                              params={**self._token(), "fields": self.profile_fields})
        return self._profile(info)

    def test_connection(self):
        info = self.http.json("GET", self._url(self._account()),
                              params={**self._token(), "fields": self.account_fields})
        return self._describe(info)

    # --- set-up checks ------------------------------------------------------------------------------

    #: the permissions of the Page token that messaging needs, and the webhook fields we process
    required_scopes = ()
    required_fields = ()

    def health_checks(self, webhook_url):
        """The Page token (it opens the account; with ``appsecret_proof`` a wrong App Secret is refused; debug_token:
        expiry, permissions, app), the app's webhook (callback URL, fields) and the app's subscription to the
        account (``subscribed_apps``: which fields this Page sends to the app)."""
        secret = self.config.get("app_secret") or ""
        token = self.config.get("access_token") or ""
        params = {**self._token(), "fields": self.account_fields}
        if secret:
            params["appsecret_proof"] = _meta.appsecret_proof(token, secret)
        try:
            info = self.http.json("GET", self._url(self._account()), params=params)
        except ProviderError as error:
            if secret and "appsecret_proof" in (error.message or ""):
                return [Finding("secret_wrong", CHECK_WRONG)]
            return [unreachable_finding(error)]
        findings = [Finding("token_valid", params={"account": self._describe(info)})]
        if not secret:
            findings.append(Finding("secret_missing", CHECK_WRONG))
        token_findings, app_id = _meta.token_findings(self, self._url("debug_token"), token, self.required_scopes)
        findings += token_findings
        if app_id and secret:
            findings += _meta.app_webhook_findings(self, self._url(app_id, "subscriptions"), app_id, secret,
                                                   webhook_url, self.webhook_object, self.required_fields)
        try:
            answer = self.http.json("GET", self._url(self._account(), "subscribed_apps"), params=self._token())
            apps = get_dicts(answer, "data")
        except ProviderError as error:
            return findings + [unreachable_finding(error)]
        except MalformedError as error:
            return findings + [Finding("platform_error", CHECK_WRONG, {"reason": str(error)})]
        app = next((item for item in apps if app_id and str(item.get("id")) == app_id), None) or (
            apps[0] if apps and not app_id else None)
        if not app:
            findings.append(Finding("app_not_subscribed", CHECK_WRONG))
            return findings
        subscribed = app.get("subscribed_fields") if isinstance(app.get("subscribed_fields"), list) else []
        missing = [field for field in self.required_fields if field not in subscribed]
        if missing:
            findings.append(Finding("page_field_missing", CHECK_WRONG, {
                "field": ", ".join(missing), "fields": ", ".join(str(f) for f in subscribed)}))
        else:
            findings.append(Finding("app_subscribed", params={"fields": ", ".join(str(f) for f in subscribed)}))
        return findings

    # --- helpers ------------------------------------------------------------------------------------

    def _profile(self, info):
        raise NotImplementedError

    def _describe(self, info):
        raise NotImplementedError

    def _url(self, *parts):
        return "/".join([self.base_url, self.api_version, *parts])

    def _token(self):
        return {"access_token": self.config.get("access_token") or ""}

    def _account(self):
        if not isinstance(self.page_id, str) or not NODE_ID_RE.fullmatch(self.page_id):
            raise ProviderError(PERMANENT, "no valid page ID configured", code="config")
        return self.page_id

    @staticmethod
    def _node(value, what):
        value = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if not NODE_ID_RE.fullmatch(value):
            raise ProviderError(PERMANENT, f"not a valid {what} id", code="invalid_recipient")
        return value

    def _send(self, to, message, tag):
        payload = {"recipient": {"id": self._node(to, "recipient")}, "messaging_type": "RESPONSE",
                   "message": message}
        if tag:
            payload.update(messaging_type="MESSAGE_TAG", tag=tag)
        answer = self.http.json("POST", self._url(self._account(), "messages"), params=self._token(), json=payload)
        message_id = answer.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise ProviderError(PERMANENT, "the send answered without a message id", code="bad_response")
        return SendResult(message_id, raw=answer)

    def _classify(self, response):
        status = response.status_code
        error = _meta.graph_error(response)
        code, subcode = _meta.int_field(error, "code"), _meta.int_field(error, "error_subcode")
        common = {"code": status if code is None else code, "http_status": status}
        text = _error_text(self.label, error, status)
        if code == TOKEN_CODE:
            return ProviderError(PERMANENT, f"{self.label} access token is invalid or expired (error 190)", **common)
        if code == WINDOW_CODE and subcode == WINDOW_SUBCODE:
            return ProviderError(WINDOW_CLOSED, text, **common)
        if code in RETRYABLE_CODES or status == 429 or status >= 500:
            return ProviderError(RETRYABLE, text, retry_after=_http.retry_after(response), **common)
        return ProviderError(PERMANENT, text, **common)


class MessengerProvider(MetaMessagingProvider):
    """A Facebook Page on Messenger; people are known by their page-scoped id (PSID)."""

    name = "messenger"
    icon = "fa fa-facebook-official"
    label = "Messenger"
    webhook_object = "page"
    address_kind = "psid"
    profile_fields = "first_name,last_name,profile_pic"
    account_fields = "name"
    required_scopes = ("pages_messaging",)
    required_fields = ("messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes")

    def _profile(self, info):
        name = " ".join(filter(None, (_text(info, "first_name"), _text(info, "last_name"))))
        return Profile(name=name or None, picture_url=_text(info, "profile_pic"))

    def _describe(self, info):
        name = _text(info, "name")
        return f"{name} (page {self.page_id})" if name else f"page {self.page_id}"


class InstagramProvider(MetaMessagingProvider):
    """An Instagram professional account; people are known by their Instagram-scoped id (IGSID).

    Instagram sends no delivery receipts, only reads (``messaging_seen``): has_receipts stays True, a read
    moves the message straight from sent to read.
    """

    name = "instagram"
    icon = "fa fa-instagram"
    label = "Instagram"
    webhook_object = "instagram"
    address_kind = "igsid"
    profile_fields = "name,username,profile_pic"
    account_fields = "username"
    required_scopes = ("instagram_manage_messages",)
    required_fields = ("messages", "messaging_postbacks", "messaging_seen")
    upload_platform = "instagram"

    def _profile(self, info):
        username = _text(info, "username")
        return Profile(name=_text(info, "name") or username, username=username,
                       picture_url=_text(info, "profile_pic"))

    def _describe(self, info):
        username = _text(info, "username")
        return f"@{username}" if username else f"Instagram account {self.page_id}"


def _json(value):
    return json.dumps(value, separators=(",", ":"))


def _text(info, key):
    value = info.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _error_text(label, error, status):
    message = error.get("message")
    if not isinstance(message, str) or not message:
        return f"{label} API answered HTTP {status}"
    subcode = _meta.int_field(error, "error_subcode")
    code = f"{error.get('code')}/{subcode}" if subcode is not None else f"{error.get('code')}"
    return f"{label} error {code}: {message}"


# --- webhook parsing --------------------------------------------------------------------------------


def _when(value):
    """Aware UTC datetime of a Meta timestamp (milliseconds; seconds below MILLISECONDS_FROM), or None."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError("a timestamp is not an epoch")
    seconds = value / 1000 if value >= MILLISECONDS_FROM else value
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedError("a timestamp is out of range") from None


def _optional_id(container, key):
    """An id that may be absent (None); present, it must be one: an empty one (or one of NUL characters and
    blanks, which cannot be stored) is malformed, never stored as an empty id."""
    return get_str(container, key, required=True) if container.get(key) is not None else None


def _party(item, key):
    """The id of ``sender`` / ``recipient``, or None when the party has none (a chat plugin's ``user_ref``)."""
    return _optional_id(get_dict(item, key, required=True), "id")


def _item_events(item, entry_id):
    """The events of one ``messaging`` item."""
    sender, recipient = _party(item, "sender"), _party(item, "recipient")
    timestamp = _when(item.get("timestamp"))
    message = get_dict(item, "message")
    if message.get("is_echo") is True and message.get("metadata") == CAPTION_METADATA:
        events = []  # the caption of a document we sent: kept (UNKNOWN), the document message holds it
        account = sender
    elif message.get("is_echo") is True:
        # our page wrote: the person is the recipient
        events = _message_events(message, ECHO, recipient, timestamp) if recipient else []
        account = sender
    else:
        events = _person_events(item, message, sender, timestamp) if sender else []
        account = recipient
    if not events:
        events = [_unknown_event(item, entry_id)]
    for event in events:
        event.account_ref = account or entry_id
        event.raw = event.raw if event.raw is not None else item
    return events


def _person_events(item, message, sender, timestamp):
    if "message" in item:
        # an unsent (deleted) message is kept as UNKNOWN: the message it deletes stays on record
        return [] if message.get("is_deleted") is True else _message_events(message, MESSAGE, sender, timestamp)
    if "postback" in item:
        return [_postback_event(get_dict(item, "postback", required=True), sender, timestamp)]
    if "referral" in item:
        # a person opened the thread through a link with a reference (m.me/<page>?ref=JOB-12, ig.me): it
        # counts as the person writing; one without a reference (an ad's) is kept as UNKNOWN
        ref = get_str(get_dict(item, "referral", required=True), "ref")
        return [] if not ref else [Event(kind=MESSAGE, external_user_id=sender, content_type=OTHER, referral=ref, timestamp=timestamp,
                      dedup_key=stable_key("referral:", item))]
    if "delivery" in item:
        delivery = get_dict(item, "delivery", required=True)
        return _receipt_events(delivery, "delivered", sender, timestamp)
    if "read" in item:
        return _receipt_events(get_dict(item, "read", required=True), "read", sender, timestamp)
    return []


def _message_events(message, kind, person, timestamp):
    """One event per message; a message with several attachments gives one more per further attachment
    (external id "<mid>#<n>"), so that each file is kept."""
    mid = get_str(message, "mid", required=True)
    text = get_str(message, "text")
    quick_reply = get_dict(message, "quick_reply")
    common = {"kind": kind, "external_user_id": person, "timestamp": timestamp,
              "reply_to": get_str(get_dict(message, "reply_to"), "mid"),
              "referral": get_str(get_dict(message, "referral"), "ref")}
    attachments = get_dicts(message, "attachments")
    contents = [_attachment_content(attachment) for attachment in attachments] or [{}]
    events = []
    for index, content in enumerate(contents):
        external_id = mid if index == 0 else f"{mid}#{index + 1}"
        event = Event(external_id=external_id, dedup_key=f"msg:{external_id}", **common, **content)
        if index == 0:
            if quick_reply:
                event.content_type, event.payload = BUTTON, get_str(quick_reply, "payload")
            if text is not None:
                event.text = text
            event.content_type = event.content_type or TEXT
        events.append(event)
    if message.get("is_unsupported") is True:
        events[0].content_type = OTHER
    return events


def _attachment_content(attachment):
    kind = get_str(attachment, "type")
    payload = attachment.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    url = get_str(payload, "url")
    if kind == "location":
        coordinates = get_dict(payload, "coordinates")
        if "lat" in coordinates:
            location = Location(latitude=get_number(coordinates, "lat", required=True),
                                longitude=get_number(coordinates, "long", required=True),
                                name=get_str(attachment, "title"), url=url)
            return {"content_type": LOCATION, "location": location,
                    "text": location.name or f"{location.latitude}, {location.longitude}"}
    if kind in ATTACHMENT_TYPES and url:
        return {"content_type": ATTACHMENT_TYPES[kind], "media": Media(url=url)}
    # a shared post, reel, link (fallback), story mention...: its title or link as the text
    return {"content_type": OTHER, "text": get_str(attachment, "title") or url}


def _postback_event(postback, sender, timestamp):
    mid = _optional_id(postback, "mid")
    return Event(
        kind=MESSAGE, external_user_id=sender, external_id=mid, timestamp=timestamp,
        dedup_key=f"msg:{mid}" if mid else stable_key("postback:", {"sender": sender, "postback": postback,
                                                                     "timestamp": str(timestamp)}),
        content_type=BUTTON, text=get_str(postback, "title"), payload=get_str(postback, "payload"),
        referral=get_str(get_dict(postback, "referral"), "ref"),
    )


def _receipt_events(receipt, status, person, timestamp):
    """One STATUS per named message id, and one for the watermark (every earlier message we sent)."""
    mids = receipt.get("mids")
    if mids is not None and not (isinstance(mids, list) and all(
            isinstance(mid, str) and mid.replace("\x00", "").strip() for mid in mids)):
        raise MalformedError("'mids' is not a list of message ids")
    mids = list(mids or [])
    mid = _optional_id(receipt, "mid")  # Instagram's messaging_seen names the last message read
    if mid:
        mids.append(mid)
    events = [Event(kind=STATUS, status=status, external_id=mid, external_user_id=person, timestamp=timestamp,
                    dedup_key=f"status:{mid}:{status}") for mid in mids]
    raw_watermark = receipt.get("watermark")
    watermark = _when(raw_watermark)
    if watermark is not None:
        events.append(Event(kind=STATUS, status=status, external_user_id=person, watermark=watermark,
                            timestamp=timestamp or watermark, dedup_key=f"watermark:{person}:{status}:{raw_watermark}"))
    return events


def _unknown_event(raw, entry_id):
    return Event(kind=UNKNOWN, dedup_key=stable_key("unknown:", raw), raw=raw, account_ref=entry_id)
