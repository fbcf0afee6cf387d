"""Local fake Graph API of one Facebook Page (Messenger) or Instagram professional account, and the webhook
payloads Meta posts for it (shared/PROVIDERS.md section 3).

:class:`FakeMeta` serves, under ``/<version>/`` and with the token as ``?access_token=`` (or a Bearer header):

- ``POST /<page_id>/messages``: the Send API. Text under 2000 characters, or an attachment by
  ``attachment_id`` or ``url``; ``messaging_type`` RESPONSE / UPDATE / MESSAGE_TAG (with ``tag``). The 24-hour
  window of each person runs from the last inbound time a script set (``set_last_inbound``; a person with
  none set is inside it): outside it only a ``MESSAGE_TAG`` goes, ``HUMAN_AGENT`` up to 7 days and only when
  ``human_agent`` is allowed, else error 10 / subcode 2018278. ``unavailable(psid)``: error 551.
  Each accepted send also queues its echo (``echoes``: messaging items for a test to post as a webhook).
- ``POST /<page_id>/message_attachments``: multipart ``message`` (JSON) + ``filedata`` -> ``{"attachment_id"}``
  (``platform=instagram`` required on Instagram). ``fail_next`` scripts hit uploads as well as sends.
- ``GET /<psid>?fields=...``: a profile added with ``add_profile``; ``GET /<page_id>?fields=name,username``.
- ``GET /cdn/<name>``: files added with ``add_cdn_file`` (no token: Meta's attachment URLs are CDN links).

Admin endpoints (besides the common ones): ``/_fake/set_last_inbound {"psid", "timestamp"?, "hours_ago"?}``,
``/_fake/unavailable {"psid"}``, ``/_fake/add_profile {...}``, ``/_fake/add_cdn_file {"name",
"content_base64", "mime_type"}``, ``/_fake/allow_human_agent {"allowed"}``.
"""
import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid

from . import FakeServer, _reply, body_bytes, wa_signature

DEMO_PAGE_ID = "100000000000101"
DEMO_IG_ACCOUNT_ID = "17841400000000101"
DEMO_META_TOKEN = "demo-meta-page-token"
DEMO_APP_ID = "1517776481860111"

#: the app id Meta's own inbox (Business Suite) stamps on the echoes of what a person typed there
PAGE_INBOX_APP_ID = "263902037430900"

WINDOW_HOURS = 24
HUMAN_AGENT_HOURS = 168
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TAGS = ("HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE")
ATTACHMENT_TYPES = ("image", "video", "audio", "file")


def meta_error_body(code, message, subcode=None, error_type="OAuthException"):
    """A Graph API error envelope, for ``fail_next``."""
    error = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AFakeTraceId"
    return {"error": error}


WINDOW_ERROR = ("(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
                "https://developers.facebook.com/docs/messenger-platform/policy-overview")
UNAVAILABLE_ERROR = "(#551) This person isn't available right now."


class FakeMeta(FakeServer):
    """Fake Graph API of one Page (``platform="messenger"``) or Instagram account (``"instagram"``)."""

    admin_actions = FakeServer.admin_actions + (
        "set_last_inbound", "unavailable", "add_profile", "add_cdn_file", "allow_human_agent")

    def __init__(self, platform="messenger", page_id=None, access_token=DEMO_META_TOKEN, api_version="v21.0",
                 port=0, host="127.0.0.1", page_name="Demo Page", username="demo_page", human_agent=True,
                 app_id=DEMO_APP_ID, app_secret=None):
        if platform not in ("messenger", "instagram"):
            raise ValueError("platform must be 'messenger' or 'instagram'")
        self.platform = platform
        self.page_id = page_id or (DEMO_PAGE_ID if platform == "messenger" else DEMO_IG_ACCOUNT_ID)
        self.access_token = access_token
        self.api_version = api_version
        self.page_name = page_name
        self.username = username
        self.app_id = app_id
        # the app's secret checks ``appsecret_proof`` (None: not checked); the app's webhook (``app_webhook``:
        # callback URL and fields) is read with the app token "<app id>|<app secret>"
        self.app_secret = app_secret
        self._initial_human_agent = human_agent
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.human_agent = self._initial_human_agent
        self.last_inbound = {}
        self.unavailable_people = set()
        self.profiles = {}
        self.attachments = {}
        self.cdn = {}
        self.echoes = []
        self.app_webhook = None
        # the fields this account sends to the app (GET /<page id>/subscribed_apps); None: the app is not subscribed
        self.subscribed_fields = (
            ["messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes"]
            if self.platform == "messenger" else ["messages", "messaging_postbacks", "messaging_seen"])
        self.token_info = {"expires_at": 0, "scopes": ["pages_messaging", "pages_show_list",
                                                       "instagram_basic", "instagram_manage_messages"]}

    # --- scripts ------------------------------------------------------------------------------------

    def set_last_inbound(self, psid, timestamp=None, hours_ago=None):
        """When ``psid`` last wrote (epoch seconds; or ``hours_ago``; default now): the window runs from it."""
        when = time.time() - float(hours_ago) * 3600 if hours_ago is not None else (
            time.time() if timestamp is None else float(timestamp))
        with self._lock:
            self.last_inbound[str(psid)] = when

    def unavailable(self, psid):
        """Sends to ``psid`` answer error 551 ("This person isn't available right now")."""
        with self._lock:
            self.unavailable_people.add(str(psid))

    def allow_human_agent(self, allowed=True):
        with self._lock:
            self.human_agent = bool(allowed)

    def add_profile(self, psid, first_name=None, last_name=None, name=None, username=None, profile_pic=None):
        profile = {"first_name": first_name, "last_name": last_name, "name": name, "username": username,
                   "profile_pic": profile_pic}
        with self._lock:
            self.profiles[str(psid)] = {k: v for k, v in profile.items() if v is not None}

    def add_cdn_file(self, name, content=None, mime_type="application/octet-stream", content_base64=None):
        """A file served at ``cdn_url(name)`` without any token; returns that URL."""
        if content_base64 is not None:
            content = base64.b64decode(content_base64)
        content = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            self.cdn[name] = {"content": content, "mime_type": mime_type}
        return self.cdn_url(name)

    def cdn_url(self, name):
        return f"{self.url}/cdn/{urllib.parse.quote(name)}?_nc_cat=1&oh=fakesignature"

    def inbound(self, psid, text="hello", mid=None, timestamp=None, **fields):
        """The webhook payload of one message ``psid`` writes now; opens its window on this fake."""
        self.set_last_inbound(psid, timestamp=timestamp)
        item = message_item(psid, self.page_id, text=text, mid=mid, timestamp=timestamp and timestamp * 1000,
                            **fields)
        return payload([item], platform=self.platform, page_id=self.page_id)

    # --- routes -------------------------------------------------------------------------------------

    def route(self, request):
        path = urllib.parse.unquote(request.path)
        if request.method == "GET" and path.startswith("/cdn/"):
            return self._cdn(path.removeprefix("/cdn/"))
        parts = path.strip("/").split("/")
        if parts[-2:] == [self.app_id, "subscriptions"]:
            return self._app_subscriptions(request)
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        proof = request.query.get("appsecret_proof")
        if proof is not None and self.app_secret and not hmac.compare_digest(proof, hmac.new(
                self.app_secret.encode(), self.access_token.encode(), hashlib.sha256).hexdigest()):
            return self._error(400, 100, "Invalid appsecret_proof provided in the API argument")
        if re.fullmatch(r"v\d+\.\d+", parts[0]):
            if parts[0] != self.api_version:
                return self._error(400, 100, f"Unknown API version: {parts[0]}")
            parts = parts[1:]
        method = request.method
        if method == "POST" and parts == [self.page_id, "messages"]:
            return self._send(request)
        if method == "POST" and parts == [self.page_id, "message_attachments"]:
            return self._upload(request)
        if method == "GET" and parts == [self.page_id, "subscribed_apps"]:
            apps = [] if self.subscribed_fields is None else [
                {"category": "Business", "link": "https://www.example.com", "name": "Demo App", "id": self.app_id,
                 "subscribed_fields": list(self.subscribed_fields)}]
            return _reply(200, {"data": apps})
        if method == "GET" and parts == ["debug_token"]:
            valid = request.query.get("input_token") == self.access_token
            return _reply(200, {"data": {
                "app_id": self.app_id, "type": "PAGE", "application": "Demo App", "is_valid": valid,
                "profile_id": self.page_id, **({"expires_at": self.token_info["expires_at"],
                                                "scopes": list(self.token_info["scopes"])} if valid else {})}})
        if method == "GET" and parts == [self.page_id]:
            return self._fields(request, {"id": self.page_id, "name": self.page_name, "username": self.username})
        if method == "GET" and len(parts) == 1 and parts[0] in self.profiles:
            return self._fields(request, {"id": parts[0], **self.profiles[parts[0]]})
        return self._error(400, 100, f"Unsupported {method.lower()} request. Object with ID '{'/'.join(parts)}' "
                           "does not exist, cannot be loaded due to missing permissions, or does not support "
                           "this operation.", subcode=33)

    def _app_subscriptions(self, request):
        """GET /<app id>/subscriptions with the app token: the app's webhooks, per object."""
        token = request.query.get("access_token") or ""
        if not self.app_secret or not hmac.compare_digest(token, f"{self.app_id}|{self.app_secret}"):
            return self._error(400, 190, "Invalid OAuth access token signature.")
        data = []
        if self.app_webhook:
            data.append({"object": "page" if self.platform == "messenger" else "instagram", "active": True,
                         "callback_url": self.app_webhook["callback_url"],
                         "fields": [{"name": name, "version": self.api_version}
                                    for name in self.app_webhook.get("fields", [])]})
        return _reply(200, {"data": data})

    def _authorized(self, request):
        given = request.headers.get("authorization") or ""
        token = given.removeprefix("Bearer ") if given.startswith("Bearer ") else request.query.get("access_token")
        return bool(token) and hmac.compare_digest(token.encode(), self.access_token.encode())

    def _error(self, http_status, code, message, subcode=None):
        return _reply(http_status, meta_error_body(code, message, subcode=subcode),
                      headers={"WWW-Authenticate": "OAuth"} if http_status == 401 else None)

    def _fields(self, request, info):
        fields = [f for f in request.query.get("fields", "").split(",") if f] or list(info)
        return _reply(200, {**{f: info[f] for f in fields if f in info}, "id": info["id"]})

    def _cdn(self, name):
        stored = self.cdn.get(name)
        if stored is None:
            return _reply(404, "Not Found")
        return _reply(200, stored["content"], content_type=stored["mime_type"])

    def _send(self, request):
        failure = self._scripted_failure()
        if failure:
            return failure
        body = request.json
        problem = _send_problem(body, self.attachments)
        if problem:
            return self._error(400, 100, f"(#100) {problem}")
        psid, tag = body["recipient"]["id"], body.get("tag")
        with self._lock:
            if psid in self.unavailable_people:
                return self._error(400, 551, UNAVAILABLE_ERROR, subcode=1545041)
            refusal = self._window_refusal(psid, body["messaging_type"], tag)
            if refusal:
                return refusal
            mid = f"m_FAKE{self._next_id()}{uuid.uuid4().hex[:8]}"
            message = body["message"]
            self._accept(mid, psid, "text" if "text" in message else "attachment", message.get("text"), body)
            self.echoes.append(echo_item(psid, self.page_id, mid, text=message.get("text"), app_id=self.app_id,
                                         attachment=message.get("attachment"), metadata=message.get("metadata")))
        return _reply(200, {"recipient_id": psid, "message_id": mid})

    def _window_refusal(self, psid, messaging_type, tag):
        """The error of a send outside what the person's window allows, or None. Called under the lock."""
        last = self.last_inbound.get(psid)
        if last is None:
            return None
        age_hours = (time.time() - last) / 3600
        if messaging_type != "MESSAGE_TAG" and age_hours < WINDOW_HOURS:
            return None
        if messaging_type == "MESSAGE_TAG" and tag == "HUMAN_AGENT":
            if not self.human_agent:
                return self._error(400, 10, "(#10) Application does not have the capability to make this API "
                                   "call: the HUMAN_AGENT tag needs the Human Agent permission", subcode=2018065)
            if age_hours < HUMAN_AGENT_HOURS:
                return None
        elif messaging_type == "MESSAGE_TAG":
            return None
        return self._error(400, 10, WINDOW_ERROR, subcode=2018278)

    def _upload(self, request):
        failure = self._scripted_failure()  # an upload is the first call of a document send
        if failure:
            return failure
        upload = request.files.get("filedata")
        try:
            message = json.loads(request.form.get("message") or "null")
        except ValueError:
            message = None
        attachment = message.get("attachment") if isinstance(message, dict) else None
        kind = attachment.get("type") if isinstance(attachment, dict) else None
        if kind not in ATTACHMENT_TYPES or upload is None:
            return self._error(400, 100, "(#100) message.attachment.type and filedata are required")
        if self.platform == "instagram" and request.form.get("platform") != "instagram":
            return self._error(400, 100, "(#100) platform=instagram is required for Instagram attachments")
        attachment_id = str(700000000000000 + self._next_id())
        with self._lock:
            self.attachments[attachment_id] = {"type": kind, "filename": upload.filename,
                                               "content_type": upload.content_type, "content": upload.content}
        return _reply(200, {"attachment_id": attachment_id})


def _send_problem(body, attachments):
    """What the Send API would object to in a /messages body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str) or not recipient["id"].isdigit():
        return "param recipient[id] must be a valid id"
    messaging_type = body.get("messaging_type")
    if messaging_type not in MESSAGING_TYPES:
        return "param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
    tag = body.get("tag")
    if (messaging_type == "MESSAGE_TAG") != (tag is not None) or tag is not None and tag not in TAGS:
        return "param tag is required with messaging_type MESSAGE_TAG (and only then) and must be a known tag"
    message = body.get("message")
    if not isinstance(message, dict) or ("text" in message) == ("attachment" in message):
        return "param message must have exactly one of text or attachment"
    if "metadata" in message and not (isinstance(message["metadata"], str) and len(message["metadata"]) <= 1000):
        return "param message[metadata] must be a string of at most 1000 characters"
    if "text" in message:
        text = message["text"]
        if not isinstance(text, str) or not text.strip():
            return "param message[text] must be a non-empty UTF-8 encoded string"
        if len(text) >= 2000:
            return "param message[text] has to be less than 2000 chars"
        return None
    attachment = message["attachment"]
    payload_ = attachment.get("payload") if isinstance(attachment, dict) else None
    if not isinstance(payload_, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
        return "param message[attachment] needs a type (image, video, audio, file) and a payload"
    if "attachment_id" in payload_:
        if payload_["attachment_id"] not in attachments:
            return f"Invalid attachment_id: {payload_['attachment_id']}"
    elif not (isinstance(payload_.get("url"), str) and payload_["url"].startswith(("http://", "https://"))):
        return "param message[attachment][payload] needs an attachment_id or a url"
    return None


# --- webhook payload builders -----------------------------------------------------------------------


def _ms(timestamp_ms):
    return int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)


def _mid():
    return f"m_IN{uuid.uuid4().hex}"


def message_item(psid, page_id, text=None, mid=None, timestamp=None, attachments=(), quick_reply=None,
                 reply_to=None, referral=None):
    """One ``messaging`` item of a message ``psid`` sent to the page (``timestamp`` in milliseconds);
    ``attachments``: (type, url) pairs."""
    message = {"mid": mid or _mid()}
    if text is not None:
        message["text"] = text
    if quick_reply is not None:
        message["quick_reply"] = {"payload": quick_reply}
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    if attachments:
        message["attachments"] = [{"type": kind, "payload": {"url": url}} for kind, url in attachments]
    if referral:
        message["referral"] = {"ref": referral, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _ms(timestamp), "message": message}


def echo_item(psid, page_id, mid=None, text=None, app_id=PAGE_INBOX_APP_ID, timestamp=None, attachment=None,
              metadata=None):
    """The echo of a message the page sent to ``psid`` (``app_id``: the app that sent it; Meta's own inbox
    by default, i.e. a colleague typed it there)."""
    message = {"is_echo": True, "app_id": int(app_id) if str(app_id).isdigit() else app_id, "mid": mid or _mid()}
    if metadata is not None:
        message["metadata"] = metadata
    if text is not None:
        message["text"] = text
    if isinstance(attachment, dict):
        message["attachments"] = [{"type": attachment.get("type"), "payload": {
            "url": (attachment.get("payload") or {}).get("url") or "https://cdn.example.invalid/echo"}}]
    return {"sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": _ms(timestamp), "message": message}


def postback_item(psid, page_id, title, payload_=None, mid=None, ref=None, timestamp=None):
    """A button (Get Started, persistent menu, template button) pressed; ``ref``: the m.me link's reference."""
    postback = {"mid": mid or _mid(), "title": title, "payload": payload_ if payload_ is not None else title.upper()}
    if ref:
        postback["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _ms(timestamp), "postback": postback}


def referral_item(psid, page_id, ref, source="SHORTLINK", timestamp=None):
    """A person already in the thread opened an m.me / ig.me link with ``?ref=``."""
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _ms(timestamp),
            "referral": {"ref": ref, "source": source, "type": "OPEN_THREAD"}}


def delivery_item(psid, page_id, watermark, mids=None, timestamp=None):
    """Messages we sent to ``psid`` were delivered: every one up to ``watermark`` (ms), ``mids`` one by one."""
    delivery = {"watermark": int(watermark)}
    if mids is not None:
        delivery["mids"] = list(mids)
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _ms(timestamp), "delivery": delivery}


def read_item(psid, page_id, watermark=None, mid=None, timestamp=None):
    """``psid`` read our messages: up to ``watermark`` (Messenger), or up to message ``mid`` (Instagram's
    ``messaging_seen``)."""
    read = {"watermark": int(watermark)} if watermark is not None else {"mid": mid}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _ms(timestamp), "read": read}


def payload(items, platform="messenger", page_id=None, time_ms=None):
    """A webhook envelope with one entry carrying ``items``."""
    page_id = page_id or (DEMO_PAGE_ID if platform == "messenger" else DEMO_IG_ACCOUNT_ID)
    return {"object": "page" if platform == "messenger" else "instagram",
            "entry": [{"id": page_id, "time": _ms(time_ms), "messaging": list(items)}]}


def batch(*payloads):
    """One envelope carrying the entries of several payloads (Meta batches deliveries)."""
    return {"object": payloads[0]["object"], "entry": [entry for p in payloads for entry in p["entry"]]}


def signed(payload_dict, app_secret):
    """(body bytes, headers) of a delivery as Meta posts it."""
    body = body_bytes(payload_dict)
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": wa_signature(body, app_secret)}
