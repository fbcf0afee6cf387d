"""WeChat Official Accounts (subscription and service accounts): webhook authentication, decryption and
parsing, outbound calls.

One webhook POST carries one message or event. The access token is not fetched here on each call: a new
token invalidates the previous one, so one token per account is kept and shared on the Odoo side. It comes in
the config, as ``access_token`` and/or ``token_source`` (a callable giving the shared token, or a new one
in place of a stale one, fetched with :meth:`WeChatProvider.fetch_access_token`): after an error of
:data:`TOKEN_ERROR_CODES` the call is tried once more with the token ``token_source`` gives.
"""
import hashlib
import json
import mimetypes
import re
import time
import urllib.parse
import uuid

from . import _http
from . import _wechat_crypto as crypto
from ._inbound import as_bytes, secret_equals, stable_key, to_utc
from ._xml import parse_document
from .base import (
    AUDIO, BLOCK, CALLBACK, IMAGE, LOCATION, MESSAGE, OPT_IN, OTHER, PERMANENT, REFUSED_BLOCK, RETRYABLE, STATUS,
    TEXT, UNKNOWN, VIDEO, WINDOW_CLOSED, AuthError, DownloadedMedia, Event, Location, MalformedError, Media,
    Profile, ProviderError, SendResult,
)

ENCRYPTIONS = ("plain", "compatible", "safe")
#: a delivery whose body the signature does not cover (plain mode, a clear body in compatible mode) is accepted
#: this many seconds around its timestamp, its nonce once (see replay_nonce): a captured signature cannot be
#: replayed later, nor with another body
REPLAY_WINDOW_SECONDS = 300
ACCOUNT_TYPES = ("subscription", "service")

#: a token that is not (or no longer) the valid one: fetch a new one and try once more
TOKEN_ERROR_CODES = frozenset({"40001", "40014", "42001"})
BUSY_CODE = -1
#: 45015: the 48-hour window is over, or the person unfollowed. 45047: the person's quota of customer-service
#: messages since their last interaction is used up; it comes back when they interact again, not with time,
#: so (as for the window) waiting does not help and only a template message may go: WINDOW_CLOSED.
WINDOW_CODES = {
    45015: "the 48-hour customer-service window is over, or the person unfollowed the account",
    45047: "the person's quota of customer-service messages since their last interaction is used up; more may "
           "go once they write again, or as a template message",
}
PERMANENT_CODES = {
    40003: "invalid OpenID: not a follower of this account",
    40007: "invalid media_id (temporary media is kept 3 days)",
    40164: "the calling IP address is not on the account's IP whitelist",
    43004: "the person does not follow the account",
    48001: "the account is not authorized for this API (template messages need a service account)",
}
#: 45009: the account's daily call quota of this API is used up
RETRYABLE_CODES = {BUSY_CODE: "WeChat is busy", 45009: "the daily API call quota is used up"}
UNFOLLOWED_CODE = 43004

OPENID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: OpenIDs and message ids as WeChat makes them: never anything that could not be a key
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: a delivery key longer than this (an event with a long key, e.g. a VIEW URL) is replaced by its hash: keys are
#: indexed, and an index entry has a size limit
MAX_KEY = 160
MEDIA_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
QR_SCENE_PREFIX = "qrscene_"
MAX_SCENE = 64
MAX_IMAGE = 10 * _http.MEGABYTE
VOICE_TYPES = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}
MEDIA_KINDS = {"image": IMAGE, "voice": AUDIO, "video": VIDEO, "shortvideo": VIDEO}
DEFAULT_MEDIA_TYPES = {"image": "image/jpeg", "video": "video/mp4", "shortvideo": "video/mp4"}


def is_token_error(error):
    """Whether a ProviderError says the access token is invalid or expired (refresh, then retry once)."""
    return isinstance(error, ProviderError) and error.code in TOKEN_ERROR_CODES


class WeChatProvider(_http.HttpProvider):
    """One WeChat Official Account.

    Config: ``app_id``, ``app_secret``, ``token`` (the signature token typed in the dashboard),
    ``encoding_aes_key`` (43 characters), ``encryption`` ("plain", "compatible", "safe"), ``account_type``
    ("subscription", "service"), ``original_id`` (the account's ``gh_...`` id, the ``ToUserName`` of every
    delivery), ``access_token`` (the account's current token, kept on the Odoo side), ``token_source``
    (callable(stale token or None) -> token).
    """

    name = "wechat"
    icon = "fa fa-weixin"
    default_base_url = "https://api.weixin.qq.com"
    qr_image_url = "https://mp.weixin.qq.com/cgi-bin/showqrcode"
    window_hours = 48
    has_receipts = False
    has_templates = True  # service accounts only: send_template refuses for a subscription account
    address_kind = "openid"
    has_verify_token = True
    has_profiles = True  # user/info: the language always, the nickname where WeChat still gives it
    acknowledgement = "success"
    secret_keys = ("app_secret", "token", "encoding_aes_key", "access_token")
    max_media_bytes = 10 * _http.MEGABYTE
    token_error_codes = TOKEN_ERROR_CODES

    def __init__(self, config):
        super().__init__(config)
        self.app_id = self.config.get("app_id") or ""
        self.original_id = self.config.get("original_id") or ""
        encryption = self.config.get("encryption") or "plain"
        self.encryption = encryption if encryption in ENCRYPTIONS else "safe"  # an unknown mode: the strictest
        self.account_type = self.config.get("account_type") or "subscription"

    # --- webhook side -------------------------------------------------------------------------------

    def handshake(self, params):
        """WeChat's GET check: ``echostr`` returned unchanged once ``signature`` is right (in every mode)."""
        params = params or {}
        self._check_signature(params.get("signature"), params)
        echostr = params.get("echostr")
        if not isinstance(echostr, str) or not echostr:
            raise AuthError("no echostr")
        return echostr

    def authenticate(self, headers, body, params=None):
        self._open(body, params or {})

    def parse(self, body):
        return [_event(self._open(body))]

    def delivery_key(self, body):
        """The key of the one message or event a delivery carries: WeChat's retries of it (also re-encrypted
        with another random prefix) are stored once."""
        return self.parse(body)[0].dedup_key

    def message_fields(self, body):
        """The fields of the message a stored delivery carries, decrypted (e.g. to find a person's deliveries
        for a data-subject request: an encrypted body names nobody in clear)."""
        return self._open(body)

    def _open(self, body, params=None):
        """The fields of the message a delivery carries, decrypted where it is encrypted.

        ``params`` (the request's query): check the signatures too (a delivery being received); None: the
        stored body of a delivery received before, whose decryption and app id are still checked.
        """
        body = as_bytes(body)
        checking = params is not None
        if checking and self.encryption == "plain":
            # refused before the body is even parsed: the signature does not depend on it
            self._check_signature(params.get("signature"), params)
            self._check_fresh(params)
        outer = parse_document(body, self.max_body_size)
        encrypted = outer.get("Encrypt")
        if self.encryption == "safe" or self.encryption == "compatible" and encrypted is not None:
            fields = self._decrypt(outer, params if checking else None)
        else:
            if checking and self.encryption == "compatible":
                self._check_signature(params.get("signature"), params)
                self._check_fresh(params)
            fields = outer
        if not self.original_id or not secret_equals(_text(fields, "ToUserName"), self.original_id):
            raise AuthError("ToUserName is not this account's original id")
        return fields

    def _check_signature(self, given, params, *extra):
        token = self.config.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError("no signature token configured: every request is refused")
        timestamp, nonce = _param(params, "timestamp"), _param(params, "nonce")
        if timestamp is None or nonce is None or not crypto.signature_matches(given, token, timestamp, nonce, *extra):
            raise AuthError("signature mismatch")

    def _check_fresh(self, params, now=None):
        """A delivery whose body is not signed: refused outside the replay window around its timestamp."""
        try:
            timestamp = int(_param(params, "timestamp") or "")
        except ValueError:
            raise AuthError("timestamp is not a number") from None
        now = time.time() if now is None else now
        if abs(now - timestamp) > REPLAY_WINDOW_SECONDS:
            raise AuthError("timestamp outside the replay window")

    def replay_nonce(self, body, params=None):
        """The nonce of a delivery whose body the signature does not cover: the plain mode's, and the
        compatible mode's when the body came in clear (the encrypted one's msg_signature covers it)."""
        if self.encryption == "safe" or not params:
            return None
        if self.encryption == "compatible" and \
                parse_document(as_bytes(body), self.max_body_size).get("Encrypt") is not None:
            return None
        return _param(params, "nonce")

    def _decrypt(self, outer, params):
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted.strip():
            raise AuthError("no Encrypt in an encrypted delivery")
        encrypted = encrypted.strip()
        if params is not None:
            self._check_signature(_param(params, "msg_signature"), params, encrypted)
        try:
            message = crypto.decrypt(self._key(), encrypted, self.app_id)
        except crypto.DecryptError as error:
            raise AuthError(f"Encrypt refused: {error}") from None
        fields = parse_document(message, self.max_body_size)
        outer_to = outer.get("ToUserName")
        if outer_to is not None and outer_to != fields.get("ToUserName"):
            raise AuthError("the clear ToUserName differs from the encrypted one")
        return fields

    def _key(self):
        try:
            return crypto.aes_key(self.config.get("encoding_aes_key"))
        except ValueError:
            raise AuthError("no valid EncodingAESKey configured: every encrypted delivery is refused") from None

    # --- passive replies and encryption (the answer to a delivery may be a message) ------------------

    def text_reply(self, openid, text, create_time=None):
        """The XML of a passive text reply to ``openid`` (before any encryption)."""
        return _xml_document({
            "ToUserName": openid, "FromUserName": self.original_id,
            "CreateTime": int(time.time()) if create_time is None else int(create_time),
            "MsgType": "text", "Content": text,
        })

    def encrypt_reply(self, xml, timestamp=None, nonce=None):
        """The encrypted envelope of a reply ``xml`` (safe and compatible modes), signed with msg_signature."""
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or uuid.uuid4().hex[:10]
        encrypted = crypto.encrypt(self._key(), xml, self.app_id)
        signature = crypto.signature(self.config.get("token") or "", timestamp, nonce, encrypted)
        return (f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt><MsgSignature>{_cdata(signature)}</MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>")

    def reply(self, openid, text):
        """A passive text reply as the account's mode asks (encrypted unless plain)."""
        xml = self.text_reply(openid, text)
        return xml if self.encryption == "plain" else self.encrypt_reply(xml)

    # --- access token -------------------------------------------------------------------------------

    def fetch_access_token(self):
        """A new access token: ``(token, expires_in seconds)``. It invalidates the previous one at once."""
        try:
            answer = self._api("GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.app_id,
                "secret": self.config.get("app_secret") or ""}, with_token=False)
        except ProviderError as error:
            if error.retryable:
                raise
            # here 40001 means a wrong app secret, not a token to refresh
            raise ProviderError(PERMANENT, f"WeChat refused the app id or secret ({error.message})",
                                code=error.code, http_status=error.http_status) from None
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ProviderError(PERMANENT, "the token answer has no access_token or expires_in", code="bad_response")
        return token, expires_in

    # --- set-up checks ------------------------------------------------------------------------------

    def health_checks(self, webhook_url):
        """The AppID and AppSecret (``/cgi-bin/stable_token``, which never supersedes the token the workers
        share), the IP whitelist (``getcallbackip`` with the account's token) and the server configuration,
        which WeChat does not show: its Token and EncodingAESKey are checked by hand (a failed server test shows
        as a refused verification on the account)."""
        from .base import CHECK_MANUAL, CHECK_WRONG, Finding, unreachable_finding
        try:
            answer = self._api("POST", "/cgi-bin/stable_token", payload={
                "grant_type": "client_credential", "appid": self.app_id,
                "secret": self.config.get("app_secret") or "", "force_refresh": False}, with_token=False)
        except ProviderError as error:
            if error.code in ("40013", "40125", "40001"):
                return [Finding("credentials_wrong", CHECK_WRONG, {"code": error.code})]
            if error.code == "40164":
                return [Finding("ip_not_whitelisted", CHECK_WRONG)]
            return [unreachable_finding(error)]
        findings = [Finding("credentials_ok", params={"app_id": self.app_id})]
        token = answer.get("access_token")
        try:
            self._call("GET", "/cgi-bin/getcallbackip", {"access_token": token}, None, None)
        except ProviderError as error:
            findings.append(Finding("ip_not_whitelisted", CHECK_WRONG) if error.code == "40164"
                            else unreachable_finding(error))
        else:
            findings.append(Finding("ip_ok"))
        findings.append(Finding("server_manual", CHECK_MANUAL, {"url": webhook_url}))
        return findings

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        if not isinstance(text, str) or not text.strip():
            raise ProviderError(PERMANENT, "an empty text cannot be sent", code="empty")
        answer = self._api("POST", "/cgi-bin/message/custom/send",
                           payload={"touser": _openid(to), "msgtype": "text", "text": {"content": text}})
        return SendResult(_local_id(), raw=answer)

    def send_image(self, to, media_id):
        """A customer-service image message of an uploaded ``media_id``."""
        answer = self._api("POST", "/cgi-bin/message/custom/send",
                           payload={"touser": _openid(to), "msgtype": "image", "image": {"media_id": media_id}})
        return SendResult(_local_id(), raw=answer)

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        """Images only: customer-service messages carry no other files. The caption goes first as a text, so
        that a failure of the image never leaves a duplicate image behind when the whole send is retried."""
        if not (mime_type or "").startswith("image/"):
            raise ProviderError(PERMANENT, "WeChat customer-service messages carry images, not other files",
                                code="unsupported")
        _http.check_size(content, MAX_IMAGE, "the image")
        openid = _openid(to)
        media_id = self.upload_media(content, filename, mime_type, "image")
        if caption and caption.strip():
            self.send_text(openid, caption)
        return self.send_image(openid, media_id)

    def upload_media(self, content, filename, mime_type, media_type="image"):
        """Upload temporary media (kept 3 days); its ``media_id``."""
        answer = self._api("POST", "/cgi-bin/media/upload", params={"type": media_type},
                           files={"media": (filename or "media", content, mime_type)})
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise ProviderError(PERMANENT, "the media upload answered without a media_id", code="bad_response")
        return media_id

    def send_template(self, to, name, language, params=None, url=None):
        """A template message (service accounts): ``name`` is the template id, ``language`` is not used by
        WeChat, ``params`` the keyword data: a dict (keyword -> value, or -> {"value", "color"}) or a list
        (keyword1, keyword2, ...). Its final state arrives as TEMPLATESENDJOBFINISH with this msgid."""
        if self.account_type != "service":
            raise ProviderError(PERMANENT, "template messages are for WeChat service accounts", code="unsupported")
        if not isinstance(name, str) or not name.strip():
            raise ProviderError(PERMANENT, "no template id", code="invalid_params")
        payload = {"touser": _openid(to), "template_id": name.strip(), "data": _template_data(params)}
        if url:
            payload["url"] = url
        answer = self._api("POST", "/cgi-bin/message/template/send", payload=payload)
        msgid = answer.get("msgid")
        if isinstance(msgid, bool) or not isinstance(msgid, (int, str)) or msgid == "":
            raise ProviderError(PERMANENT, "the template send answered without a msgid", code="bad_response")
        return SendResult(str(msgid), raw=answer)

    def send_mass(self, text=None, media_id=None, tag_id=None, to_all=False, openids=None, client_msg_id=None):
        """A broadcast of a text (or an uploaded image ``media_id``) to a tag, to all followers (``to_all``),
        or to a list of at least two OpenIDs. ``client_msg_id`` makes a retried call no second broadcast
        (WeChat refuses a second one with the same id within 24 hours). Returns the answer (``msg_id``,
        ``msg_data_id``)."""
        if (text is None) == (media_id is None):
            raise ProviderError(PERMANENT, "a broadcast carries a text or an image", code="invalid_params")
        content = {"msgtype": "text", "text": {"content": text}} if text is not None else {
            "msgtype": "image", "images": {"media_ids": [media_id]}}
        if openids is not None:
            if tag_id is not None or to_all:
                raise ProviderError(PERMANENT, "a broadcast goes to a tag or to OpenIDs, not both",
                                    code="invalid_params")
            openids = [_openid(openid) for openid in openids]
            if len(openids) < 2:
                raise ProviderError(PERMANENT, "a broadcast to OpenIDs needs at least two of them",
                                    code="too_few")
            path, payload = "/cgi-bin/message/mass/send", {"touser": openids, **content}
        else:
            if tag_id is None and not to_all:
                raise ProviderError(PERMANENT, "a broadcast needs a tag, all followers, or OpenIDs",
                                    code="invalid_params")
            target = {"is_to_all": True} if to_all else {"is_to_all": False, "tag_id": int(tag_id)}
            path, payload = "/cgi-bin/message/mass/sendall", {"filter": target, **content}
        if content["msgtype"] == "image":
            payload["send_ignore_reprint"] = 0
        if client_msg_id:
            payload["clientmsgid"] = str(client_msg_id)[:64]
        return self._api("POST", path, payload=payload)

    def create_qr(self, scene):
        """A permanent parametric QR code of a scene string (e.g. "JOB-12"): ``{"ticket", "url",
        "image_url"}``. Scanning it by a follower sends SCAN, by someone else subscribe with "qrscene_<scene>"."""
        if not isinstance(scene, str) or not 1 <= len(scene) <= MAX_SCENE:
            raise ProviderError(PERMANENT, f"a QR scene has 1 to {MAX_SCENE} characters", code="invalid_params")
        answer = self._api("POST", "/cgi-bin/qrcode/create", payload={
            "action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}})
        ticket = answer.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise ProviderError(PERMANENT, "the QR code answer has no ticket", code="bad_response")
        return {"ticket": ticket, "url": answer.get("url") if isinstance(answer.get("url"), str) else None,
                "image_url": f"{self.qr_image_url}?ticket={urllib.parse.quote(ticket, safe='')}"}

    def download_media(self, media):
        media_id = getattr(media, "id", None)
        if not isinstance(media_id, str) or not MEDIA_ID_RE.fullmatch(media_id):
            raise ProviderError(PERMANENT, "no valid WeChat media_id to download", code="no_media")
        content, content_type = self._with_token(lambda: self._media_get(media_id))
        mime_type = (media.mime_type or (content_type or "").partition(";")[0].strip()
                     or "application/octet-stream")
        filename = media.filename or f"{media_id}{mimetypes.guess_extension(mime_type) or ''}"
        return DownloadedMedia(content, mime_type=mime_type, filename=filename)

    def _media_get(self, media_id):
        content, content_type = self.http.download(
            self._url("/cgi-bin/media/get"), self.max_media_bytes, params={**self._token(), "media_id": media_id})
        if _looks_json(content, content_type):
            # an error, or a video, which media/get answers with a link to download
            answer = _json_object(content)
            self._check(answer)
            link = answer.get("video_url") or answer.get("down_url")
            if not isinstance(link, str) or not link.startswith(("https://", "http://")):
                raise ProviderError(PERMANENT, "the media answer has no content", code="bad_response")
            content, content_type = self.http.download(link, self.max_media_bytes)
        return content, content_type

    def fetch_profile(self, external_user_id):
        """Nickname, language, picture and UnionID as ``user/info`` gives them (since 2021 WeChat gives no
        nickname nor picture to most accounts: those fields then stay empty)."""
        info = self._api("GET", "/cgi-bin/user/info", params={"openid": _openid(external_user_id), "lang": "en"})

        def text(key):
            value = info.get(key)
            return value.strip() or None if isinstance(value, str) else None

        return Profile(name=text("nickname"), language=text("language"), picture_url=text("headimgurl"),
                       union_id=text("unionid"))

    def test_connection(self):
        """Asks WeChat something harmless with the current token (never a new token: that would invalidate
        the one the other workers use)."""
        answer = self._api("GET", "/cgi-bin/getcallbackip")
        if not isinstance(answer.get("ip_list"), list):
            raise ProviderError(PERMANENT, "unexpected answer to getcallbackip", code="bad_response")
        return f"WeChat {self.account_type} account {self.original_id or self.app_id}"

    # --- helpers ------------------------------------------------------------------------------------

    def _url(self, path):
        return self.base_url + path

    def _token(self):
        token = self.config.get("access_token")
        if not token and callable(self.config.get("token_source")):
            token = self.config["access_token"] = self.config["token_source"](None)
        if not isinstance(token, str) or not token:
            raise ProviderError(RETRYABLE, "no WeChat access token yet", code="no_token")
        return {"access_token": token}

    def _with_token(self, call):
        """``call()``; after a token error, once more with the token ``token_source`` gives instead of the stale
        one (config ``token_source``: callable(stale token or None) -> token, e.g. the account's shared store)."""
        try:
            return call()
        except ProviderError as error:
            source = self.config.get("token_source")
            if not is_token_error(error) or not callable(source):
                raise
            self.config["access_token"] = source(self.config.get("access_token"))
            return call()

    def _api(self, method, path, params=None, payload=None, files=None, with_token=True):
        """Call one API method; return its JSON answer, or raise the classified error of its ``errcode``."""
        if with_token:
            return self._with_token(lambda: self._call(method, path, {**self._token(), **(params or {})}, payload,
                                                       files))
        return self._call(method, path, params or {}, payload, files)

    def _call(self, method, path, query, payload, files):
        kwargs = {"params": query}
        if payload is not None:
            # UTF-8 as is: WeChat shows \\u escapes of some APIs literally
            kwargs["data"] = json.dumps(payload, ensure_ascii=False).encode()
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        if files:
            kwargs["files"] = files
        answer = self.http.json(method, self._url(path), **kwargs)
        self._check(answer)
        return answer

    def _check(self, answer):
        code = answer.get("errcode")
        if code in (None, 0, "0"):
            return
        raise self._scrub(_classify_code(code, answer.get("errmsg")))

    def _scrub(self, error):
        message = error.message or ""
        for key in self.secret_keys:
            secret = self.config.get(key)
            if isinstance(secret, str) and secret:
                message = message.replace(secret, "***")
        error.message = message
        error.args = (message,)
        return error

    def _classify(self, response):
        status = response.status_code
        body = _http.error_body(response)
        if body.get("errcode") not in (None, 0):
            return _classify_code(body.get("errcode"), body.get("errmsg"), http_status=status)
        if status == 429 or status >= 500:
            return ProviderError(RETRYABLE, f"WeChat API answered HTTP {status}", code=status,
                                 retry_after=_http.retry_after(response), http_status=status)
        return ProviderError(PERMANENT, f"WeChat API answered HTTP {status}", code=status, http_status=status)


# --- errors ----------------------------------------------------------------------------------------


def _classify_code(code, errmsg, http_status=None):
    try:
        code = int(code)
    except (TypeError, ValueError):
        return ProviderError(PERMANENT, "WeChat answered an error without a code", code="bad_response",
                             http_status=http_status)
    detail = errmsg if isinstance(errmsg, str) and errmsg else "no message"
    common = {"code": code, "http_status": http_status}
    if str(code) in TOKEN_ERROR_CODES:
        return ProviderError(RETRYABLE, f"WeChat error {code}: the access token is invalid or expired ({detail})",
                             **common)
    if code in WINDOW_CODES:
        return ProviderError(WINDOW_CLOSED, f"WeChat error {code}: {WINDOW_CODES[code]} ({detail})", **common)
    if code in RETRYABLE_CODES:
        return ProviderError(RETRYABLE, f"WeChat error {code}: {RETRYABLE_CODES[code]} ({detail})", **common)
    reason = PERMANENT_CODES.get(code)
    return ProviderError(PERMANENT, f"WeChat error {code}: {reason} ({detail})" if reason else
                         f"WeChat error {code}: {detail}", refused=REFUSED_BLOCK if code == UNFOLLOWED_CODE else None,
                         **common)


def _looks_json(content, content_type):
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind in ("application/json", "text/plain") and content[:1] == b"{"


def _json_object(content):
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(PERMANENT, "unexpected media answer", code="bad_response")
    return value


# --- outbound helpers ------------------------------------------------------------------------------


def _openid(to):
    openid = str(to or "").strip()
    if not OPENID_RE.fullmatch(openid):
        raise ProviderError(PERMANENT, "not a WeChat OpenID", code="invalid_openid")
    return openid


def _local_id():
    """WeChat gives customer-service messages no id: ours, unique, so that the message can be found again."""
    return f"wc-cs-{uuid.uuid4().hex}"


def _template_data(params):
    if not params:
        return {}
    if isinstance(params, dict):
        items = params.items()
    elif isinstance(params, (list, tuple)):
        items = [(f"keyword{index}", value) for index, value in enumerate(params, 1)]
    else:
        raise ProviderError(PERMANENT, "template params are a dict or a list", code="invalid_params")
    data = {}
    for key, value in items:
        if isinstance(value, dict):
            if "value" not in value:
                raise ProviderError(PERMANENT, f"template keyword {key} has no value", code="invalid_params")
            data[str(key)] = {k: str(v) for k, v in value.items() if k in ("value", "color")}
        else:
            data[str(key)] = {"value": "" if value is None else str(value)}
    return data


def _cdata(text):
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_document(fields):
    parts = [f"<{key}>{value}</{key}>" if isinstance(value, int) else f"<{key}>{_cdata(value)}</{key}>"
             for key, value in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"


# --- webhook parsing --------------------------------------------------------------------------------


def _param(params, name):
    value = params.get(name) if params else None
    return value if isinstance(value, str) else None


def _text(fields, key, required=False):
    """A leaf's text (stripped of surrounding blanks where it is an id); MalformedError for a nested value."""
    value = fields.get(key)
    if isinstance(value, (dict, list)):
        raise MalformedError(f"{key} is not a text")
    if value is None or not value.replace("\x00", "").strip():
        if required:
            raise MalformedError(f"missing {key}")
        return None
    return value


def _id(fields, key, required=False):
    value = _text(fields, key, required)
    return None if value is None else value.strip()


def _identifier(fields, key, required=False):
    """An OpenID or message id: MalformedError for anything WeChat does not make."""
    value = _id(fields, key, required)
    if value is not None and not ID_RE.fullmatch(value):
        raise MalformedError(f"{key} is not an id")
    return value


def _bounded(key):
    if len(key) <= MAX_KEY:
        return key
    prefix = key.partition(":")[0]
    return f"{prefix}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _number(fields, key):
    value = _id(fields, key, required=True)
    try:
        number = float(value)
    except ValueError:
        raise MalformedError(f"{key} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise MalformedError(f"{key} is not a number")
    return number


def _event(fields):
    """The normalized Event of one delivery's fields."""
    msg_type = _id(fields, "MsgType", required=True)
    openid = _identifier(fields, "FromUserName", required=True)
    created = _id(fields, "CreateTime")
    common = {"external_user_id": openid, "timestamp": to_utc(created), "raw": fields}
    if msg_type == "event":
        return _platform_event(fields, created, common)
    msg_id = _identifier(fields, "MsgId")
    if not msg_id:
        return Event(kind=UNKNOWN, dedup_key=stable_key("unknown:", fields), **common)
    return Event(kind=MESSAGE, external_id=msg_id, dedup_key=f"msg:{msg_id}", **common,
                 **_message_content(msg_type, fields))


def _message_content(msg_type, fields):
    if msg_type == "text":
        return {"content_type": TEXT, "text": _text(fields, "Content") or ""}
    if msg_type in MEDIA_KINDS:
        mime_type = DEFAULT_MEDIA_TYPES.get(msg_type)
        if msg_type == "voice":
            mime_type = VOICE_TYPES.get((_id(fields, "Format") or "").lower(), "audio/amr")
        media = Media(id=_id(fields, "MediaId", required=True), url=_id(fields, "PicUrl"), mime_type=mime_type)
        # a voice message's speech recognition, where the account turned it on
        return {"content_type": MEDIA_KINDS[msg_type], "media": media, "text": _text(fields, "Recognition")}
    if msg_type == "location":
        location = Location(latitude=_number(fields, "Location_X"), longitude=_number(fields, "Location_Y"),
                            name=_text(fields, "Label"))
        return {"content_type": LOCATION, "location": location,
                "text": location.name or f"{location.latitude}, {location.longitude}"}
    if msg_type == "link":
        parts = [_text(fields, key) for key in ("Title", "Description", "Url")]
        return {"content_type": OTHER, "text": "\n".join(part for part in parts if part) or None,
                "payload": _id(fields, "Url")}
    return {"content_type": OTHER}


def _platform_event(fields, created, common):
    name = _id(fields, "Event", required=True)
    key = _id(fields, "EventKey") or ""
    # no MsgId on events: the person, the second, the event and its key identify one (WeChat's retries of it
    # carry the same values; the key keeps two menu clicks of the same second apart)
    dedup_key = _bounded(f"event:{common['external_user_id']}:{created}:{name}:{key}")
    if name == "subscribe":
        # following the account: the person asks for its service messages (the event is the evidence); from a
        # parametric QR code the key is "qrscene_<scene>"
        scene = key[len(QR_SCENE_PREFIX):] if key.startswith(QR_SCENE_PREFIX) else None
        return Event(kind=OPT_IN, dedup_key=dedup_key, payload=scene or None, referral=scene or None, **common)
    if name == "unsubscribe":
        # unfollowing ends everything at once (every later send fails with 45015) until the person follows
        # again: a block of the account (BLOCK), not an opt-out of one purpose (OPT_OUT is marketing only)
        return Event(kind=BLOCK, dedup_key=dedup_key, **common)
    if name == "SCAN":
        # a follower scanned a parametric QR code: its scene ("JOB-<id>") is the reference
        return Event(kind=MESSAGE, content_type=CALLBACK, external_id=dedup_key, dedup_key=dedup_key,
                     payload=key or None, referral=key or None, **common)
    if name in ("CLICK", "VIEW"):
        # a menu item (CLICK: its key; VIEW: its URL) as a button press, for the routing rules' payloads
        return Event(kind=MESSAGE, content_type=CALLBACK, external_id=dedup_key, dedup_key=dedup_key,
                     text=key or None, payload=key or None, **common)
    if name == "TEMPLATESENDJOBFINISH":
        return _template_status(fields, common)
    if name == "MASSSENDJOBFINISH":
        # the final counts of a broadcast: no message of a person, kept (raw) for the broadcast it reports on
        msg_id = _identifier(fields, "MsgID", required=True)
        return Event(kind=UNKNOWN, external_id=msg_id, dedup_key=_bounded(f"mass:{msg_id}:{_id(fields, 'Status')}"),
                     **common)
    return Event(kind=UNKNOWN, dedup_key=dedup_key, **common)


def _template_status(fields, common):
    """The final state of a template message: Status "success", "failed:user block" (the person turned the
    account's notifications off: a refusal), "failed: system failed"."""
    msg_id = _identifier(fields, "MsgID", required=True)
    status = (_id(fields, "Status") or "").strip()
    dedup_key = _bounded(f"template:{msg_id}:{status}")
    if status == "success":
        return Event(kind=STATUS, external_id=msg_id, status="delivered", dedup_key=dedup_key, **common)
    if status.startswith("failed"):
        reason = status.partition(":")[2].strip() or "failed"
        blocked = "block" in reason
        return Event(kind=STATUS, external_id=msg_id, status="failed", dedup_key=dedup_key,
                     error_code=reason.replace(" ", "_"), error_message=f"WeChat template message {status}",
                     error_kind=PERMANENT, refused=REFUSED_BLOCK if blocked else None, **common)
    return Event(kind=UNKNOWN, dedup_key=dedup_key, **common)

