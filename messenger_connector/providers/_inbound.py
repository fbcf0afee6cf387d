"""Webhook-side helpers shared by the providers: headers, secrets, and strictly typed JSON reading.

Every reader raises :class:`MalformedError` for a value of the wrong type, so that a body which is not
what the platform sends never escapes as a TypeError, KeyError or AttributeError.
"""
import datetime
import hashlib
import hmac
import json
import re

from .base import MalformedError


def header_value(headers, name):
    """Value of header ``name`` looked up case-insensitively (plain dict or werkzeug Headers)."""
    if not headers:
        return None
    name = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def secret_equals(given, expected):
    """Constant-time comparison of two secrets; False when either is missing or not text."""
    if not isinstance(given, str) or not isinstance(expected, str) or not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def as_bytes(body):
    """The raw body as bytes (a str is taken as its UTF-8 encoding)."""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise MalformedError("the body is not bytes")


#: a JSON escape of a UTF-16 surrogate: valid JSON, but alone (not as a pair) it is no character of any text
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def load_object(body):
    """Decode a UTF-8 JSON body that must be an object. A lone surrogate (``"\\ud800"``, which no text can
    store) is read as U+FFFD, the replacement character, so that an accepted delivery can be processed."""
    try:
        text = body if isinstance(body, str) else as_bytes(body).decode("utf-8")
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedError("the body is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise MalformedError("the body is not a JSON object")
    if SURROGATE_ESCAPE.search(text):
        value = _without_lone_surrogates(value)
    return value


def _without_lone_surrogates(value):
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


def stable_key(prefix, value):
    """``prefix`` + sha256 of the canonical JSON of ``value``: the same object always gives the same key."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return prefix + hashlib.sha256(canonical.encode()).hexdigest()


# --- typed readers ----------------------------------------------------------------------------------


def _get(container, key, types, required):
    value = container.get(key)
    if value is None:
        if required:
            raise MalformedError(f"missing {key!r}")
        return None
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise MalformedError(f"{key!r} has the wrong type")
    # NUL characters cannot be stored (PostgreSQL text): an id made of them and blanks is an empty id
    if required and isinstance(value, str) and not value.replace("\x00", "").strip():
        raise MalformedError(f"{key!r} is empty")
    return value


def get_str(container, key, required=False):
    return _get(container, key, (str,), required)


def get_int(container, key, required=False):
    return _get(container, key, (int,), required)


def get_number(container, key, required=False):
    value = _get(container, key, (int, float), required)
    return None if value is None else float(value)


def get_dict(container, key, required=False):
    """The object at ``key``, {} when absent."""
    return _get(container, key, (dict,), required) or {}


def get_dicts(container, key, required=False):
    """The list of objects at ``key``, [] when absent."""
    values = _get(container, key, (list,), required) or []
    if not all(isinstance(value, dict) for value in values):
        raise MalformedError(f"{key!r} holds something else than objects")
    return values


def to_utc(value):
    """Aware UTC datetime of an epoch given as int or digit string; None when absent."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError("a timestamp is not an epoch")
    try:
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedError("a timestamp is out of range") from None
