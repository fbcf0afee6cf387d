"""Ping: the smallest platform there can be, written the way a new platform's provider module is.

Webhook: POST of ``{"messages": [{"id", "from", "name", "text", "time"}]}`` with the shared secret in the
``X-Ping-Token`` header. Send: ``POST {base}/send`` ``{"to", "text"}`` -> ``{"id"}``. No window, no templates.
Pure Python, like every provider module.
"""
import datetime
import hashlib

from odoo.addons.messenger_connector.providers import _http
from odoo.addons.messenger_connector.providers._inbound import (
    as_bytes, get_dicts, get_str, header_value, load_object, secret_equals,
)
from odoo.addons.messenger_connector.providers.base import (
    MESSAGE, PERMANENT, RETRYABLE, TEXT, AuthError, Event, MalformedError, ProviderError, SendResult,
)
from odoo.addons.messenger_connector.providers import register_provider


@register_provider
class PingProvider(_http.HttpProvider):
    name = "ping"
    default_base_url = "http://127.0.0.1:9"
    address_kind = "user_id"
    secret_keys = ("token",)

    def authenticate(self, headers, body, params=None):
        if not self.config.get("token") or not secret_equals(header_value(headers, "X-Ping-Token"),
                                                             self.config["token"]):
            raise AuthError("wrong or missing X-Ping-Token")

    def delivery_key(self, body):
        return "sha256:" + hashlib.sha256(as_bytes(body)).hexdigest()

    def parse(self, body):
        envelope = load_object(body)
        events = []
        for item in get_dicts(envelope, "messages", required=True):
            message_id, sender = get_str(item, "id", required=True), get_str(item, "from", required=True)
            events.append(Event(
                MESSAGE, external_user_id=sender, external_id=message_id, dedup_key=message_id,
                timestamp=datetime.datetime.now(datetime.timezone.utc), profile_name=get_str(item, "name"),
                content_type=TEXT, text=get_str(item, "text"), raw=item))
        if not events:
            raise MalformedError("no messages")
        return events

    def send_text(self, to, text, reply_to=None, tag=None):
        answer = self.http.json("POST", f"{self.base_url}/send", json={"to": to, "text": text},
                                headers={"X-Ping-Token": self.config.get("token") or ""})
        if not isinstance(answer.get("id"), str):
            raise ProviderError(PERMANENT, "the platform answered without a message id", code="bad_response")
        return SendResult(answer["id"], raw=answer)

    def test_connection(self):
        return "Ping"

    def _classify(self, response):
        kind = RETRYABLE if response.status_code == 429 or response.status_code >= 500 else PERMANENT
        return ProviderError(kind, f"Ping answered {response.status_code}", code=str(response.status_code),
                             http_status=response.status_code)
