"""Telegram Bot API: webhook authentication and parsing, outbound calls.

One update is one event (``dedup_key`` "update:<update_id>"). ``edited_message`` becomes an UNKNOWN
event (raw kept): an edit is not a new message, and a MESSAGE would reuse the external id
"<chat_id>:<message_id>" of the original.
"""
import mimetypes
import posixpath
import re

from . import _http
from ._inbound import (
    get_dict, get_dicts, get_int, get_number, get_str, header_value, load_object, secret_equals, to_utc,
)
from .base import (
    AUDIO, BLOCK, CALLBACK, DOCUMENT, IMAGE, LOCATION, MESSAGE, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, STICKER,
    TEXT, UNBLOCK, UNKNOWN, VIDEO, AuthError, DownloadedMedia, Event, Location, MalformedError, Media, ProviderError,
    CHECK_MANUAL, CHECK_WRONG, SendResult, Finding, unreachable_finding,
)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOCUMENT = 50 * _http.MEGABYTE

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]

#: message field -> content type of the file kinds, in the order they are looked for (an animation
#: also carries a ``document``); photos are handled apart (a list of sizes)
FILE_TYPES = (
    ("video", VIDEO), ("video_note", VIDEO), ("voice", AUDIO), ("audio", AUDIO), ("document", DOCUMENT),
    ("sticker", STICKER),
)
MEMBER_KINDS = {"kicked": BLOCK, "member": UNBLOCK}

#: error descriptions meaning the chat is unreachable for good
#: answers that mean the person (or the chat's admins) refused us; "user is deactivated" and "chat not found"
#: say the chat cannot be reached, which fails the message and refuses nothing
BLOCKED_MARKERS = ("bot was blocked by the user", "bot was kicked")

CHAT_ID_RE = re.compile(r"-?\d+")


class TelegramProvider(_http.HttpProvider):
    """One Telegram bot. Config: ``bot_token``, ``secret_token`` (webhook secret)."""

    name = "telegram"
    icon = "fa fa-telegram"
    color = "#229ed9"
    default_base_url = "https://api.telegram.org"
    window_hours = None
    rate_limit = 30  # PROVIDERS.md: ~30 msg/s bulk per bot
    secret_keys = ("bot_token", "secret_token")
    address_kind = "chat_id"
    registers_webhook = True
    max_media_bytes = 20 * _http.MEGABYTE

    # --- webhook side -------------------------------------------------------------------------------

    def authenticate(self, headers, body, params=None):
        secret = self.config.get("secret_token")
        if not secret:
            raise AuthError("no secret token configured: every POST is refused")
        if not secret_equals(header_value(headers, "X-Telegram-Bot-Api-Secret-Token"), secret):
            raise AuthError("secret token mismatch")

    def delivery_key(self, body):
        return f"update:{_update_id(load_object(body))}"

    def parse(self, body):
        update = load_object(body)
        dedup_key = f"update:{_update_id(update)}"
        for key, make_event in (
                ("message", _message_event), ("callback_query", _callback_event),
                ("my_chat_member", _member_event)):
            if key in update:
                return [make_event(get_dict(update, key, required=True), dedup_key)]
        # edited_message, channel_post, ...: kept whole, the update's own object as raw
        key = next((key for key in update if key != "update_id"), None)
        raw = update[key] if isinstance(update.get(key), dict) else update
        return [Event(kind=UNKNOWN, dedup_key=dedup_key, raw=raw)]

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        _http.check_length(text, MAX_TEXT, "the text")
        payload = {"chat_id": _chat_id(to), "text": text}
        reply_id = _message_id(reply_to)
        if reply_id:
            payload["reply_parameters"] = {"message_id": reply_id, "allow_sending_without_reply": True}
        return _send_result(self._call("sendMessage", json=payload))

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        _http.check_length(caption, MAX_CAPTION, "the caption")
        _http.check_size(content, MAX_DOCUMENT, "the document")
        data = {"chat_id": str(to)}
        if caption:
            data["caption"] = caption
        result = self._call("sendDocument", data=data, files={"document": (filename, content, mime_type)})
        return _send_result(result)

    def download_media(self, media):
        if not media or not media.id:
            raise ProviderError(PERMANENT, "no Telegram file_id to download", code="no_media")
        info = self._call("getFile", json={"file_id": media.id})
        file_path = info.get("file_path") if isinstance(info, dict) else None
        if not isinstance(file_path, str) or not file_path:
            raise ProviderError(PERMANENT, "Telegram gave no file path for this file", code="bad_response")
        size = info.get("file_size")
        if isinstance(size, int) and size > self.max_media_bytes:
            raise _http.too_large(self.max_media_bytes)
        url = f"{self.base_url}/file/bot{self._token}/{file_path}"
        content, content_type = self.http.download(url, self.max_media_bytes)
        filename = media.filename or posixpath.basename(file_path)
        mime_type = media.mime_type or mimetypes.guess_type(filename)[0] or content_type
        return DownloadedMedia(content, mime_type=mime_type, filename=filename)

    def test_connection(self):
        me = self._call("getMe")
        username = me.get("username") if isinstance(me, dict) else None
        if not username:
            raise ProviderError(PERMANENT, "getMe answered without a username", code="bad_response")
        return f"@{username}"

    def register_webhook(self, url, secret=None):
        secret = secret or self.config.get("secret_token")
        if not secret:
            raise ProviderError(PERMANENT, "a secret token is required to register the webhook", code="config")
        return self._call("setWebhook", json={
            "url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES})

    def health_checks(self, webhook_url):
        """getMe (the token), getWebhookInfo (where Telegram sends updates, its last delivery error, the update
        kinds it sends); the secret token Telegram never shows: a refused delivery tells (the health panel)."""
        try:
            me = self._call("getMe")
        except ProviderError as error:
            return [unreachable_finding(error)]
        findings = [Finding("token_valid", params={"bot": f"@{me.get('username')}" if isinstance(me, dict) else ""})]
        try:
            info = self._call("getWebhookInfo")
        except ProviderError as error:
            return findings + [unreachable_finding(error)]
        info = info if isinstance(info, dict) else {}
        url = info.get("url") or ""
        if not url:
            findings.append(Finding("webhook_missing", CHECK_WRONG))
        elif url != webhook_url:
            findings.append(Finding("webhook_elsewhere", CHECK_WRONG, {"url": url}))
        else:
            findings.append(Finding("webhook_ok", params={"url": url}))
        if url and info.get("last_error_message"):
            findings.append(Finding("webhook_error", CHECK_WRONG, {
                "reason": str(info["last_error_message"]),
                "at": to_utc(info["last_error_date"]) if isinstance(info.get("last_error_date"), int) else None}))
        allowed = info.get("allowed_updates")
        missing = [kind for kind in ALLOWED_UPDATES if isinstance(allowed, list) and allowed and kind not in allowed]
        if url and missing:
            findings.append(Finding("updates_missing", CHECK_WRONG, {"missing": ", ".join(missing)}))
        pending = info.get("pending_update_count")
        if url and isinstance(pending, int) and pending:
            findings.append(Finding("updates_pending", CHECK_MANUAL, {"count": pending}))
        return findings

    def answer_callback(self, callback_query_id, text=None):
        payload = {"callback_query_id": callback_query_id}
        if text:
            payload["text"] = text
        return self._call("answerCallbackQuery", json=payload)

    # --- helpers ------------------------------------------------------------------------------------

    @property
    def _token(self):
        return self.config.get("bot_token") or ""

    def _call(self, method, **kwargs):
        """POST one Bot API method; return its ``result``."""
        answer = self.http.json("POST", f"{self.base_url}/bot{self._token}/{method}", **kwargs)
        if answer.get("ok") is not True:
            raise ProviderError(PERMANENT, f"Telegram {method} did not answer ok", code="bad_response")
        return answer.get("result")

    def _classify(self, response):
        status = response.status_code
        body = _http.error_body(response)
        code = body.get("error_code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else status
        description = body.get("description")
        if not isinstance(description, str) or not description:
            description = f"HTTP {status}"
        message = f"Telegram error {code}: {description}"
        if code == 429 or code >= 500 or status >= 500:
            parameters = body.get("parameters")
            wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
            if not isinstance(wait, int) or isinstance(wait, bool):
                wait = _http.retry_after(response)
            return ProviderError(RETRYABLE, message, code=code, retry_after=wait, http_status=status)
        blocked = any(marker in description.lower() for marker in BLOCKED_MARKERS)
        return ProviderError(PERMANENT, message, code=code, http_status=status,
                             refused=REFUSED_BLOCK if blocked else None)


def _chat_id(to):
    """A numeric chat id as int, anything else (e.g. "@channel") as given."""
    to = str(to).strip()
    return int(to) if CHAT_ID_RE.fullmatch(to) else to


def _message_id(reply_to):
    """Message id of "<chat_id>:<message_id>" (or of a bare message id); None when there is none."""
    message_id = str(reply_to or "").rpartition(":")[2]
    return int(message_id) if message_id.isascii() and message_id.isdigit() else None


def _send_result(message):
    """SendResult of a sent Message object: external id "<chat_id>:<message_id>"."""
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    message_id = message.get("message_id") if isinstance(message, dict) else None
    if chat_id is None or message_id is None:
        raise ProviderError(PERMANENT, "the send answered without a message id", code="bad_response")
    return SendResult(f"{chat_id}:{message_id}", raw=message)


# --- webhook parsing --------------------------------------------------------------------------------


def _update_id(update):
    update_id = update.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise MalformedError("no integer update_id")
    return update_id


def _person(user, chat):
    """profile_name and username of the sender (the chat's for a channel post)."""
    source = user or chat
    name = " ".join(filter(None, [get_str(source, "first_name"), get_str(source, "last_name")])).strip()
    return {
        "profile_name": name or get_str(chat, "title"),
        "username": get_str(source, "username"),
    }


def _message_event(message, dedup_key):
    chat = get_dict(message, "chat", required=True)
    chat_id = get_int(chat, "id", required=True)
    reply = get_dict(message, "reply_to_message")
    reply_id = get_int(reply, "message_id")
    return Event(
        kind=MESSAGE,
        external_user_id=str(chat_id),
        external_id=f"{chat_id}:{get_int(message, 'message_id', required=True)}",
        dedup_key=dedup_key,
        timestamp=to_utc(get_int(message, "date")),
        reply_to=None if reply_id is None else f"{chat_id}:{reply_id}",
        raw=message,
        **_person(get_dict(message, "from"), chat),
        **_message_content(message),
    )


def _message_content(message):
    """Event fields describing what a message carries."""
    caption = get_str(message, "caption")
    if "text" in message:
        text = get_str(message, "text")
        return {"content_type": TEXT, "text": text, "payload": _start_payload(text)}
    if "photo" in message:
        sizes = get_dicts(message, "photo", required=True)
        if not sizes:
            raise MalformedError("a photo without sizes")
        largest = sizes[-1]
        media = Media(id=get_str(largest, "file_id", required=True), mime_type="image/jpeg",
                      file_size=get_int(largest, "file_size"))
        return {"content_type": IMAGE, "media": media, "text": caption}
    for key, content_type in FILE_TYPES:
        if key in message:
            part = get_dict(message, key, required=True)
            media = Media(id=get_str(part, "file_id", required=True), mime_type=get_str(part, "mime_type"),
                          filename=get_str(part, "file_name"), file_size=get_int(part, "file_size"))
            return {"content_type": content_type, "media": media, "text": caption}
    if "location" in message:
        part = get_dict(message, "location", required=True)
        venue = get_dict(message, "venue")
        location = Location(
            latitude=get_number(part, "latitude", required=True),
            longitude=get_number(part, "longitude", required=True),
            name=get_str(venue, "title"), address=get_str(venue, "address"),
        )
        text = ", ".join(filter(None, [location.name, location.address]))
        return {"content_type": LOCATION, "location": location,
                "text": text or f"{location.latitude}, {location.longitude}"}
    return {"content_type": OTHER}


def _start_payload(text):
    """Payload of a deep link "/start <payload>" (also "/start@bot <payload>"), else None."""
    if not text:
        return None
    command, _sep, rest = text.partition(" ")
    if command == "/start" or command.startswith("/start@"):
        return rest.strip() or None
    return None


def _callback_event(query, dedup_key):
    query_id = get_str(query, "id", required=True)
    user = get_dict(query, "from")
    message = get_dict(query, "message")
    chat = get_dict(message, "chat")
    chat_id = get_int(chat, "id")
    user_id = chat_id if chat_id is not None else get_int(user, "id")
    if user_id is None:
        raise MalformedError("a callback query without chat nor sender")
    message_id = get_int(message, "message_id")
    data = get_str(query, "data")
    return Event(
        kind=MESSAGE,
        content_type=CALLBACK,
        external_user_id=str(user_id),
        external_id=f"cb:{query_id}",
        dedup_key=dedup_key,
        text=data,
        payload=data,
        callback_query_id=query_id,
        reply_to=None if chat_id is None or message_id is None else f"{chat_id}:{message_id}",
        raw=query,
        **_person(user, chat),
    )


def _member_event(member, dedup_key):
    chat = get_dict(member, "chat", required=True)
    status = get_str(get_dict(member, "new_chat_member"), "status")
    return Event(
        kind=MEMBER_KINDS.get(status, UNKNOWN),
        external_user_id=str(get_int(chat, "id", required=True)),
        dedup_key=dedup_key,
        timestamp=to_utc(get_int(member, "date")),
        raw=member,
        **_person(get_dict(member, "from"), chat),
    )
