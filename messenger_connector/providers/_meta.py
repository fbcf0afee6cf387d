"""What every Meta platform (WhatsApp Cloud API, Messenger, Instagram) shares on the webhook side and in its
Graph API answers: the GET ``hub.*`` handshake, the ``X-Hub-Signature-256`` check over the raw body, the
delivery key, and the Graph error envelope. One code path, so a fix to one platform's check fixes all three.
"""
import hashlib
import hmac
import re

from ._http import error_body
from ._inbound import as_bytes, header_value, secret_equals
from .base import AuthError

SIGNATURE_RE = re.compile(r"sha256=([0-9a-fA-F]{64})")

#: API version of the Graph calls when the account names none
DEFAULT_API_VERSION = "v21.0"


class MetaWebhook:
    """Mixin of a Meta provider: config ``verify_token`` (GET handshake) and ``app_secret`` (POST signatures)."""

    has_verify_token = True

    def handshake(self, params):
        params = params or {}
        if params.get("hub.mode") != "subscribe" or not secret_equals(
                params.get("hub.verify_token"), self.config.get("verify_token")):
            raise AuthError("verify token mismatch")
        challenge = params.get("hub.challenge")
        if not isinstance(challenge, str):
            raise AuthError("no hub.challenge")
        return challenge

    def authenticate(self, headers, body, params=None):
        secret = self.config.get("app_secret")
        if not secret:
            raise AuthError("no app secret configured: every POST is refused")
        signature = header_value(headers, "X-Hub-Signature-256")
        match = SIGNATURE_RE.fullmatch(signature) if isinstance(signature, str) else None
        if not match:
            raise AuthError("missing or malformed X-Hub-Signature-256")
        # over the bytes received: Meta signs its escaped-unicode form, a re-serialization would differ
        expected = hmac.new(secret.encode(), as_bytes(body), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(1).lower()):
            raise AuthError("signature mismatch")

    def delivery_key(self, body):
        # Meta gives a delivery no id of its own: a redelivery carries the same bytes
        return "sha256:" + hashlib.sha256(as_bytes(body)).hexdigest()


def api_version(config):
    """The Graph API version of an account's config, always with its leading "v"."""
    version = config.get("api_version") or DEFAULT_API_VERSION
    return version if version.startswith("v") else f"v{version}"


def graph_error(response):
    """The ``error`` object of a Graph error answer, {} when there is none."""
    error = error_body(response).get("error")
    return error if isinstance(error, dict) else {}


def int_field(error, key):
    """An integer field of a Graph error (``code``, ``error_subcode``), None when absent or not an integer."""
    value = error.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def appsecret_proof(access_token, app_secret):
    """The ``appsecret_proof`` of a Graph call: HMAC-SHA256 of the access token keyed by the App Secret (Meta
    refuses a call whose proof does not match the app's secret: how a wrong App Secret shows before a webhook)."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def token_findings(provider, url, token, required_scopes):
    """(findings, app id) of Graph's debug_token on the account's ``token``: valid, its expiry, its permissions,
    and the app it belongs to (whose webhook is checked next)."""
    from ._inbound import to_utc
    from .base import CHECK_MANUAL, CHECK_WRONG, Finding, ProviderError, unreachable_finding
    try:
        answer = provider.http.json("GET", url, params={"input_token": token, "access_token": token})
    except ProviderError as error:
        return [unreachable_finding(error)], None
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    app_id = str(data.get("app_id") or "") or None
    expires = data.get("expires_at")
    expiry = to_utc(expires) if isinstance(expires, int) and not isinstance(expires, bool) and expires > 0 else None
    facts = {"token_expires_at": expiry}
    scopes = data.get("scopes") if isinstance(data.get("scopes"), list) else []
    missing = [scope for scope in required_scopes if scope not in scopes]
    if data.get("is_valid") is False:
        return [Finding("token_invalid", CHECK_WRONG, {"reason": ""})], app_id
    if missing:
        return [Finding("token_scopes", CHECK_WRONG, {"missing": ", ".join(missing)}, facts)], app_id
    if expiry:
        return [Finding("token_expires", CHECK_MANUAL, {"at": expiry}, facts)], app_id
    return [Finding("token_permanent", facts=facts)], app_id


def app_webhook_findings(provider, url, app_id, secret, webhook_url, webhook_object, required_fields):
    """The app's webhook for ``webhook_object`` ("page", "instagram", "whatsapp_business_account"), read with the
    app token ``<app id>|<app secret>`` (a wrong App Secret is refused): its callback URL and subscribed fields."""
    from ._inbound import get_dicts
    from .base import CHECK_WRONG, Finding, MalformedError, ProviderError, unreachable_finding
    try:
        answer = provider.http.json("GET", url, params={"access_token": f"{app_id}|{secret}"})
    except ProviderError as error:
        if error.http_status in (400, 401, 403):
            return [Finding("secret_wrong", CHECK_WRONG)]
        return [unreachable_finding(error)]
    try:
        subscription = next((item for item in get_dicts(answer, "data") if item.get("object") == webhook_object),
                            None)
        fields = {item.get("name") for item in get_dicts(subscription or {}, "fields")}
    except MalformedError as error:
        return [Finding("platform_error", CHECK_WRONG, {"reason": str(error)})]
    if not subscription:
        return [Finding("webhook_missing", CHECK_WRONG)]
    findings = [Finding("secret_ok")]
    callback = subscription.get("callback_url") or ""
    if callback != webhook_url:
        findings.append(Finding("webhook_elsewhere", CHECK_WRONG, {"url": str(callback)}))
    else:
        findings.append(Finding("webhook_ok", params={"url": callback}))
    missing = [field for field in required_fields if field not in fields]
    if missing:
        findings.append(Finding("field_missing", CHECK_WRONG, {
            "field": ", ".join(missing), "fields": ", ".join(sorted(f for f in fields if f))}))
    else:
        findings.append(Finding("fields_ok", params={"fields": ", ".join(sorted(f for f in fields if f))}))
    return findings
