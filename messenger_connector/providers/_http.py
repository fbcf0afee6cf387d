"""Outbound HTTP plumbing shared by the providers.

One place for what every platform call needs: a timeout on every request, network failures turned
into a classified :class:`ProviderError` whose message never carries a credential (a requests error
message contains the URL, and Telegram URLs contain the bot token), streamed downloads with a size
limit, and the ``Retry-After`` header.
"""
import datetime
import email.utils
import logging
import re

import requests

from .base import PERMANENT, RETRYABLE, Provider, ProviderError

CHUNK_SIZE = 64 * 1024
MEGABYTE = 1024 * 1024

#: requests failures that come from a bad configuration (URL, header value), not from the network
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidHeader,
    ValueError,  # e.g. http.client.InvalidURL, UnicodeEncodeError of a header value
)


#: a Telegram bot token in a URL path (``/bot<id>:<secret>/method``, ``/file/bot<id>:<secret>/path``)
BOT_TOKEN_IN_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
#: a token in a query string (Messenger and Instagram send ``?access_token=<page token>``, WeChat
#: ``access_token=...`` on every call and ``secret=<app secret>`` fetching a token)
ACCESS_TOKEN_IN_URL = re.compile(r"([?&](?:access_token|secret)=)[^&\s\"']+")


def redact_url_tokens(text):
    """``text`` without the tokens a platform URL may carry."""
    return ACCESS_TOKEN_IN_URL.sub(r"\1<token>", BOT_TOKEN_IN_URL.sub(r"\1<token>", text))


class RedactTokensFilter(logging.Filter):
    """Redacts tokens in URLs from log records: urllib3 logs every request's URL at DEBUG level."""

    def filter(self, record):
        message = record.getMessage()
        redacted = redact_url_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _redact_urllib3_logs():
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, RedactTokensFilter) for existing in logger.filters):
        logger.addFilter(RedactTokensFilter())


_redact_urllib3_logs()


def retry_after(response):
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    delta = when - datetime.datetime.now(datetime.timezone.utc)
    return max(0, int(delta.total_seconds()))


def error_body(response):
    """The JSON object of an error answer, or {} when the body is not a JSON object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def too_large(limit):
    return ProviderError(PERMANENT, f"media larger than the limit of {limit} bytes", code="too_large")


def check_length(value, limit, what):
    """Refuse, before any call, a text the platform would refuse."""
    if value is not None and len(value) > limit:
        raise ProviderError(PERMANENT, f"{what} is longer than {limit} characters", code="too_long")


def check_size(content, limit, what="file"):
    if len(content) > limit:
        raise ProviderError(PERMANENT, f"{what} is larger than {limit} bytes", code="too_large")


class HttpClient:
    """Calls one platform's API; every failure becomes a credential-free :class:`ProviderError`.

    :param timeout: seconds, passed to every request
    :param classify: ``callable(response) -> ProviderError`` for a non-2xx answer
    :param secrets: strings scrubbed from every error message, whatever their origin
    """

    def __init__(self, timeout, classify, secrets=()):
        self.timeout = timeout
        self.classify = classify
        self.secrets = tuple(s for s in secrets if s)

    def request(self, method, url, **kwargs):
        """Send one request; return the 2xx response or raise a classified ProviderError."""
        try:
            response = requests.request(method, url, timeout=self.timeout, **kwargs)
        except (requests.exceptions.RequestException, ValueError) as exc:
            # ``from None``: the chained exception would show the URL (and so the token) in tracebacks
            raise self._network_error(exc) from None
        if not 200 <= response.status_code < 300:
            with response:
                raise self._redact(self.classify(response))
        return response

    def json(self, method, url, **kwargs):
        """Send one request and return its JSON object."""
        with self.request(method, url, **kwargs) as response:
            try:
                body = response.json()
            except ValueError:
                body = None
        if not isinstance(body, dict):
            raise ProviderError(PERMANENT, f"unexpected answer (HTTP {response.status_code}, not a JSON object)",
                                code="bad_response", http_status=response.status_code)
        return body

    def download(self, url, limit, **kwargs):
        """GET ``url`` streamed; return ``(content, content_type)``, refusing more than ``limit`` bytes."""
        with self.request("GET", url, stream=True, **kwargs) as response:
            length = response.headers.get("Content-Length", "")
            if length.isascii() and length.isdigit() and int(length) > limit:
                raise too_large(limit)
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    size += len(chunk)
                    if size > limit:
                        raise too_large(limit)
                    chunks.append(chunk)
            except requests.exceptions.RequestException as exc:
                raise self._network_error(exc) from None
            return b"".join(chunks), response.headers.get("Content-Type")

    def _network_error(self, exc):
        name = type(exc).__name__
        if isinstance(exc, _CONFIG_ERRORS):
            return ProviderError(PERMANENT, f"invalid request, check the API URL and credentials: {name}",
                                 code="config")
        return ProviderError(RETRYABLE, f"network error: {name}", code="network")

    def _redact(self, error):
        message = error.message or ""
        for secret in self.secrets:
            message = message.replace(secret, "***")
        error.message = message
        error.args = (message,)
        return error


class HttpProvider(Provider):
    """A :class:`Provider` reached over HTTP: one :class:`HttpClient` and a media size limit.

    Subclasses set ``secret_keys`` (config keys never shown in an error), ``max_media_bytes`` (default
    download limit, overridden by the ``max_media_bytes`` config key) and implement ``_classify``.
    """

    secret_keys = ()
    max_media_bytes = 20 * MEGABYTE

    def __init__(self, config):
        super().__init__(config)
        self.max_media_bytes = int(self.config.get("max_media_bytes") or self.max_media_bytes)
        secrets = [self.config.get(key) for key in self.secret_keys]
        self.http = HttpClient(self.timeout, self._classify, secrets=[s for s in secrets if isinstance(s, str)])

    def _classify(self, response):
        """Turn a non-2xx answer into a ProviderError."""
        raise NotImplementedError
