"""Local fake WeChat Official Account API, and builders of signed (and encrypted) webhook deliveries.

Follows shared PROVIDERS.md section 4. Every API answer is HTTP 200 with a JSON ``errcode`` (0: success),
as WeChat answers. Beyond the common scripts of :class:`FakeServer`:

- access token: ``GET /cgi-bin/token`` issues a new token and supersedes the previous one (used again it
  gets 40001); ``token_fetches`` counts the fetches; ``expire_token()`` makes the current one answer 42001;
  an unknown token gets 40014;
- customer-service messages: ``close_window(openid)`` / ``unfollow(openid)`` make sends answer 45015;
  ``cs_quota`` messages per person since their last ``interact(openid)``, then 45047;
- template messages (service accounts only, else 48001), mass sends (``mass_quota`` left, then 45028; a
  repeated ``clientmsgid`` 45065), permanent QR codes, media upload and download (``add_media``), user info
  (``add_follower``), ``getcallbackip``.

Admin endpoints (another process): ``POST /_fake/<action>`` with the keyword arguments as JSON for every
action of ``admin_actions``; ``GET /_fake/state`` (token fetches, current token, mass sends, QR codes).

Encryption here is the fake's own (with ``cryptography``): it imports nothing of the addon.
"""
import base64
import hashlib
import hmac
import os
import re
import struct
import threading
import time
import urllib.parse
import uuid

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import FakeServer, _reply

DEMO_WC_APP_ID = "wx0123456789abcdef"
DEMO_WC_APP_SECRET = "demowechatappsecret0123456789abc"
DEMO_WC_TOKEN = "demowechattoken"
DEMO_WC_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEMO_WC_ORIGINAL_ID = "gh_0123456789ab"
DEMO_WC_OPENID = "oDemo0penId0000000000000001"

OPENID_RE = re.compile(r"[A-Za-z0-9_-]{6,64}")
WINDOW_SECONDS = 48 * 3600
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45047: "out of response count limit",
    45065: "clientmsgid exist",
    47001: "data format error",
    48001: "api unauthorized",
    -1: "system error",
}


def wc_error_body(errcode, errmsg=None):
    """A WeChat error answer, for ``fail_next``."""
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error") + " rid: fake"}


def _error(errcode, errmsg=None):
    return _reply(200, wc_error_body(errcode, errmsg))


def _ok(**fields):
    return _reply(200, {"errcode": 0, "errmsg": "ok", **fields})


class FakeWeChat(FakeServer):
    """Fake WeChat API of one Official Account (``account_type`` "service" or "subscription")."""

    admin_actions = FakeServer.admin_actions + (
        "expire_token", "close_window", "open_window", "unfollow", "interact", "add_follower", "add_media",
        "set_quotas")
    send_paths = ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send",
                  "/cgi-bin/message/mass/sendall", "/cgi-bin/message/mass/send")

    def __init__(self, app_id=DEMO_WC_APP_ID, app_secret=DEMO_WC_APP_SECRET, account_type="service", port=0,
                 host="127.0.0.1", expires_in=7200, cs_quota=5, mass_quota=None, token_delay=0):
        self.app_id = app_id
        self.app_secret = app_secret
        self.account_type = account_type
        self.expires_in = expires_in
        self._initial = (cs_quota, mass_quota, token_delay)
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.cs_quota, self.mass_quota, self.token_delay = self._initial
        self.token_fetches = 0
        self.current_token = None
        self.stable_token = None     # the stable access token (/cgi-bin/stable_token)
        self.refused_ip = False      # True: WeChat refuses our IP (not on the account's IP whitelist, 40164)
        self._tokens = {}            # token -> "valid" | "superseded" | "expired"
        self._token_lock = threading.Lock()
        self.followers = {}          # openid -> user/info answer
        self.unfollowed = set()
        self.closed_windows = set()
        self.interactions = {}       # openid -> epoch of the last interaction
        self.cs_counts = {}          # openid -> customer-service messages since the last interaction
        self.media = {}
        self.mass_sends = []
        self._client_msg_ids = set()
        self.qr_codes = {}           # scene -> {"ticket", "url"}

    # --- scripts ------------------------------------------------------------------------------------

    def expire_token(self):
        with self._lock:
            if self.current_token:
                self._tokens[self.current_token] = "expired"

    def close_window(self, openid):
        with self._lock:
            self.closed_windows.add(openid)

    def open_window(self, openid):
        with self._lock:
            self.closed_windows.discard(openid)

    def unfollow(self, openid):
        with self._lock:
            self.unfollowed.add(openid)

    def interact(self, openid, at=None):
        """The person wrote, clicked, scanned or followed: a new window and a new quota."""
        with self._lock:
            self.interactions[openid] = time.time() if at is None else float(at)
            self.cs_counts[openid] = 0
            self.closed_windows.discard(openid)
            self.unfollowed.discard(openid)

    def add_follower(self, openid, nickname=None, language="zh_CN", unionid=None, headimgurl=None):
        info = {"subscribe": 1, "openid": openid, "language": language, "subscribe_time": int(time.time()),
                "nickname": nickname or "", "headimgurl": headimgurl or "", "remark": "", "groupid": 0,
                "tagid_list": [], "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": ""}
        if unionid:
            info["unionid"] = unionid
        with self._lock:
            self.followers[openid] = info
            self.unfollowed.discard(openid)

    def add_media(self, media_id, content=None, mime_type="image/jpeg", content_base64=None):
        if content_base64 is not None:
            content = base64.b64decode(content_base64)
        content = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            self.media[str(media_id)] = {"content": content, "mime_type": mime_type}

    def set_quotas(self, cs_quota=None, mass_quota=None):
        with self._lock:
            if cs_quota is not None:
                self.cs_quota = int(cs_quota)
            self.mass_quota = None if mass_quota is None else int(mass_quota)

    def state(self):
        with self._lock:
            return {"token_fetches": self.token_fetches, "current_token": self.current_token,
                    "mass_sends": list(self.mass_sends), "qr_codes": dict(self.qr_codes),
                    "cs_counts": dict(self.cs_counts)}

    # --- routes -------------------------------------------------------------------------------------

    def _admin(self, request):
        if request.method == "GET" and request.path == "/_fake/state":
            return _reply(200, self.state())
        return super()._admin(request)

    def route(self, request):
        path = request.path
        if path == "/cgi-bin/token" and request.method == "GET":
            return self._issue_token(request.query)
        if path == "/cgi-bin/stable_token" and request.method == "POST":
            return self._stable_token(request.json if isinstance(request.json, dict) else {})
        routes = {
            ("POST", "/cgi-bin/message/custom/send"): self._custom_send,
            ("POST", "/cgi-bin/message/template/send"): self._template_send,
            ("POST", "/cgi-bin/message/mass/sendall"): self._mass_send,
            ("POST", "/cgi-bin/message/mass/send"): self._mass_send,
            ("POST", "/cgi-bin/qrcode/create"): self._qr_create,
            ("POST", "/cgi-bin/media/upload"): self._media_upload,
            ("GET", "/cgi-bin/media/get"): self._media_get,
            ("GET", "/cgi-bin/user/info"): self._user_info,
            ("GET", "/cgi-bin/getcallbackip"): lambda _request: _ok(ip_list=["127.0.0.1"]),
        }
        handler = routes.get((request.method, path))
        if handler is None:
            return _reply(404, "<html><body>404 Not Found</body></html>", content_type="text/html")
        if self.refused_ip:
            return _error(40164, "invalid ip 127.0.0.1, not in whitelist")
        refusal = self._check_token(request.query.get("access_token"))
        if refusal:
            return refusal
        if path in self.send_paths:
            failure = self._scripted_failure()
            if failure:
                return failure
        if request.method == "POST" and path != "/cgi-bin/media/upload" and not isinstance(request.json, dict):
            return _error(44002 if not request.body else 47001)
        return handler(request)

    def _issue_token(self, query):
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if not hmac.compare_digest(query.get("appid", "").encode(), self.app_id.encode()):
            return _error(40013)
        if not hmac.compare_digest(query.get("secret", "").encode(), self.app_secret.encode()):
            return _error(40125)
        with self._token_lock:  # one at a time, as WeChat: the later fetch supersedes the earlier one
            if self.token_delay:
                time.sleep(self.token_delay)
            with self._lock:
                self.token_fetches += 1
                for token, state in self._tokens.items():
                    if state == "valid":
                        self._tokens[token] = "superseded"
                token = f"FAKEWCTOKEN{self.token_fetches}_{uuid.uuid4().hex}"
                self._tokens[token] = "valid"
                self.current_token = token
        return _reply(200, {"access_token": token, "expires_in": self.expires_in})

    def _stable_token(self, body):
        """The stable access token: checked like /cgi-bin/token, but it never supersedes the current token
        (without force_refresh)."""
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if self.refused_ip:
            return _error(40164, "invalid ip 127.0.0.1, not in whitelist")
        if not hmac.compare_digest(str(body.get("appid", "")).encode(), self.app_id.encode()):
            return _error(40013)
        if not hmac.compare_digest(str(body.get("secret", "")).encode(), self.app_secret.encode()):
            return _error(40125)
        with self._lock:
            token = self.stable_token = self.stable_token or f"FAKEWCSTABLE_{uuid.uuid4().hex}"
            self._tokens.setdefault(token, "valid")
        return _reply(200, {"access_token": token, "expires_in": self.expires_in})

    def _check_token(self, token):
        if not token:
            return _error(41001)
        with self._lock:
            state = self._tokens.get(token)
        if state is None:
            return _error(40014)
        if state == "superseded":
            return _error(40001)
        if state == "expired":
            return _error(42001)
        return None

    def _follower_problem(self, openid):
        if not isinstance(openid, str) or not OPENID_RE.fullmatch(openid):
            return _error(40003)
        return None

    def _custom_send(self, request):
        payload = request.json
        openid, msg_type = payload.get("touser"), payload.get("msgtype")
        problem = self._follower_problem(openid)
        if problem:
            return problem
        part = payload.get(msg_type) if isinstance(msg_type, str) else None
        if msg_type not in ("text", "image") or not isinstance(part, dict):
            return _error(40008, "invalid message type")
        if msg_type == "text" and not (isinstance(part.get("content"), str) and part["content"].strip()):
            return _error(44003, "empty news data")
        if msg_type == "image" and part.get("media_id") not in self.media:
            return _error(40007)
        with self._lock:
            last = self.interactions.get(openid)
            if openid in self.unfollowed or openid in self.closed_windows or (
                    last is not None and time.time() - last > WINDOW_SECONDS):
                return _error(45015)
            if self.cs_counts.get(openid, 0) >= self.cs_quota:
                return _error(45047)
            self.cs_counts[openid] = self.cs_counts.get(openid, 0) + 1
            message_id = f"cs{self._next_id()}"
            self._accept(message_id, openid, msg_type, part.get("content"), payload)
        return _ok()

    def _template_send(self, request):
        if self.account_type != "service":
            return _error(48001)
        payload = request.json
        openid = payload.get("touser")
        problem = self._follower_problem(openid)
        if problem:
            return problem
        if openid in self.unfollowed:
            return _error(43004)
        data = payload.get("data", {})
        if not isinstance(payload.get("template_id"), str) or not payload["template_id"] or not isinstance(
                data, dict) or not all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            return _error(40037, "invalid template_id or data")
        msgid = 2000000000 + self._next_id()
        self._accept(str(msgid), openid, "template", payload["template_id"], payload)
        return _ok(msgid=msgid)

    def _mass_send(self, request):
        payload = request.json
        msg_type = payload.get("msgtype")
        if msg_type not in ("text", "image", "mpnews", "voice", "mpvideo", "wxcard"):
            return _error(40008, "invalid message type")
        if request.path.endswith("/send"):
            openids = payload.get("touser")
            if not isinstance(openids, list) or len(openids) < 2:
                return _error(40130)
            if not all(isinstance(o, str) and OPENID_RE.fullmatch(o) for o in openids):
                return _error(40003)
            target = {"touser": openids}
        else:
            target = payload.get("filter")
            if not isinstance(target, dict) or not isinstance(target.get("is_to_all"), bool) or (
                    not target["is_to_all"] and not isinstance(target.get("tag_id"), int)):
                return _error(47001)
        with self._lock:
            client_msg_id = payload.get("clientmsgid")
            if client_msg_id and client_msg_id in self._client_msg_ids:
                return _error(45065)
            if self.mass_quota is not None and self.mass_quota <= 0:
                return _error(45028)
            if self.mass_quota is not None:
                self.mass_quota -= 1
            if client_msg_id:
                self._client_msg_ids.add(client_msg_id)
            msg_id = 1000000000 + self._next_id()
            self.mass_sends.append({"msg_id": msg_id, "path": request.path, "target": target, "payload": payload})
        return _reply(200, {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id,
                            "msg_data_id": 2000000000 + msg_id % 1000000})

    def _qr_create(self, request):
        payload = request.json
        scene = (payload.get("action_info") or {}).get("scene") if isinstance(
            payload.get("action_info"), dict) else None
        scene = scene if isinstance(scene, dict) else {}
        if payload.get("action_name") == "QR_LIMIT_STR_SCENE":
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                return _error(40097, "invalid args: scene_str")
        elif payload.get("action_name") in ("QR_LIMIT_SCENE", "QR_SCENE", "QR_STR_SCENE"):
            value = str(scene.get("scene_id", scene.get("scene_str")))
        else:
            return _error(40097, "invalid args: action_name")
        with self._lock:
            code = self.qr_codes.get(value)
            if code is None:
                digest = hashlib.sha256(f"{self.app_id}:{value}".encode()).hexdigest()
                code = {"ticket": "gQ" + base64.urlsafe_b64encode(digest.encode()[:30]).decode(),
                        "url": f"http://weixin.qq.com/q/{digest[:22]}"}
                self.qr_codes[value] = code
        return _reply(200, dict(code))

    def _media_upload(self, request):
        media_type = request.query.get("type")
        upload = request.files.get("media")
        if media_type not in ("image", "voice", "video", "thumb"):
            return _error(40004, "invalid media type")
        if upload is None or not upload.content:
            return _error(41005, "media data missing")
        media_id = f"FAKEMEDIA{self._next_id()}_{uuid.uuid4().hex[:8]}"
        self.add_media(media_id, upload.content, upload.content_type)
        return _reply(200, {"type": media_type, "media_id": media_id, "created_at": int(time.time())})

    def _media_get(self, request):
        media = self.media.get(request.query.get("media_id", ""))
        if media is None:
            return _reply(200, wc_error_body(40007), content_type="text/plain")
        if media["mime_type"].startswith("video/"):
            return _reply(200, {"video_url": f"{self.url}/_media/{request.query['media_id']}"})
        return _reply(200, media["content"], content_type=media["mime_type"])

    def _user_info(self, request):
        openid = request.query.get("openid")
        problem = self._follower_problem(openid)
        if problem:
            return problem
        with self._lock:
            if openid in self.unfollowed:
                return _reply(200, {"subscribe": 0, "openid": openid})
            info = self.followers.get(openid) or {"subscribe": 1, "openid": openid, "language": "zh_CN",
                                                  "nickname": "", "headimgurl": ""}
        return _reply(200, dict(info))

    def handle(self, request):
        # video content behind the link media/get answers (no token on that link, as on WeChat's CDN)
        if request.path.startswith("/_media/"):
            media = self.media.get(request.path.removeprefix("/_media/"))
            if media is None:
                return _reply(404, "Not Found")
            return _reply(200, media["content"], content_type=media["mime_type"])
        return super().handle(request)


# --- crypto of the deliveries (the fake's own) -----------------------------------------------------


def wc_signature(*parts):
    """WeChat's SHA-1 signature of the sorted parts (token, timestamp, nonce[, Encrypt])."""
    return hashlib.sha1("".join(sorted(str(part) for part in parts)).encode()).hexdigest()


def _key(aes_key):
    return base64.b64decode(aes_key + "=")


def wc_encrypt(message, aes_key=DEMO_WC_AES_KEY, app_id=DEMO_WC_APP_ID, prefix=None):
    """``Encrypt`` of ``message`` (bytes or str): AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes."""
    message = message.encode() if isinstance(message, str) else message
    key = _key(aes_key)
    plain = (prefix or os.urandom(16)) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16]), backend=default_backend()).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def wc_decrypt(encrypted, aes_key=DEMO_WC_AES_KEY):
    """(message bytes, app id) of an ``Encrypt`` value."""
    key = _key(aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16]), backend=default_backend()).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[:-plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20:20 + length], plain[20 + length:].decode()


# --- webhook payload builders -----------------------------------------------------------------------


def _cdata(value):
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def wc_xml(fields):
    """The XML bytes of a delivery's fields (numbers bare, texts in CDATA, dicts nested)."""
    def render(value):
        if isinstance(value, dict):
            return "".join(f"<{k}>{render(v)}</{k}>" for k, v in value.items())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return _cdata(value)
    return ("<xml>" + render(fields) + "</xml>").encode()


def _fields(openid, original_id, create_time, msg_type):
    return {"ToUserName": original_id, "FromUserName": openid,
            "CreateTime": int(time.time()) if create_time is None else int(create_time), "MsgType": msg_type}


def wc_message(openid=DEMO_WC_OPENID, msg_type="text", msg_id=None, original_id=DEMO_WC_ORIGINAL_ID,
               create_time=None, **extra):
    """The fields of an inbound message (``extra``: Content, PicUrl, MediaId, Format, Recognition, ...)."""
    fields = _fields(openid, original_id, create_time, msg_type)
    fields.update(extra)
    fields["MsgId"] = msg_id or int.from_bytes(os.urandom(7), "big")
    return fields


def wc_text(openid=DEMO_WC_OPENID, text="hello", msg_id=None, original_id=DEMO_WC_ORIGINAL_ID, create_time=None):
    return wc_message(openid, "text", msg_id, original_id, create_time, Content=text)


def wc_event(openid=DEMO_WC_OPENID, event="subscribe", event_key=None, original_id=DEMO_WC_ORIGINAL_ID,
             create_time=None, **extra):
    """The fields of an event (subscribe, unsubscribe, SCAN, CLICK, VIEW, TEMPLATESENDJOBFINISH, ...)."""
    fields = _fields(openid, original_id, create_time, "event")
    fields["Event"] = event
    if event_key is not None:
        fields["EventKey"] = event_key
    fields.update(extra)
    return fields


def wc_template_finish(msg_id, status="success", openid=DEMO_WC_OPENID, original_id=DEMO_WC_ORIGINAL_ID,
                       create_time=None):
    """The TEMPLATESENDJOBFINISH event of a template message (``status``: success, "failed:user block",
    "failed: system failed")."""
    return wc_event(openid, "TEMPLATESENDJOBFINISH", original_id=original_id, create_time=create_time,
                    MsgID=int(msg_id), Status=status)


def wc_mass_finish(msg_id, status="send success", total=2, filtered=2, sent=2, errors=0, openid=DEMO_WC_OPENID,
                   original_id=DEMO_WC_ORIGINAL_ID, create_time=None):
    """The MASSSENDJOBFINISH event of a broadcast (``status``: "send success", "send fail", "err(10001)", ...)."""
    return wc_event(openid, "MASSSENDJOBFINISH", original_id=original_id, create_time=create_time,
                    MsgID=int(msg_id), Status=status, TotalCount=total, FilterCount=filtered, SentCount=sent,
                    ErrorCount=errors)


def wc_delivery(fields, mode="plain", token=DEMO_WC_TOKEN, aes_key=DEMO_WC_AES_KEY, app_id=DEMO_WC_APP_ID,
                timestamp=None, nonce=None):
    """``(query params, body bytes)`` of a POST as WeChat sends it in ``mode`` (plain, compatible, safe).

    ``fields``: a dict of fields, or the XML bytes of the message itself.
    """
    xml = fields if isinstance(fields, (bytes, bytearray)) else wc_xml(fields)
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(int.from_bytes(os.urandom(4), "big"))
    params = {"signature": wc_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if isinstance(fields, dict) and fields.get("FromUserName"):
        params["openid"] = fields["FromUserName"]
    if mode == "plain":
        return params, bytes(xml)
    encrypted = wc_encrypt(bytes(xml), aes_key, app_id)
    params.update(encrypt_type="aes", msg_signature=wc_signature(token, timestamp, nonce, encrypted))
    to = fields.get("ToUserName") if isinstance(fields, dict) else None
    outer = {"ToUserName": to} if to else {}
    if mode == "compatible" and isinstance(fields, dict):
        outer = dict(fields)
    outer["Encrypt"] = encrypted
    return params, wc_xml(outer)


def wc_handshake(echostr="1234567890123456789", token=DEMO_WC_TOKEN, timestamp=None, nonce=None):
    """The query of WeChat's GET check of a server URL."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(int.from_bytes(os.urandom(4), "big"))
    return {"signature": wc_signature(token, timestamp, nonce), "echostr": echostr, "timestamp": timestamp,
            "nonce": nonce}


def wc_query(params):
    return urllib.parse.urlencode(params)
