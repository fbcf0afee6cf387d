"""Registry and helpers shared by the providers (_http, _inbound)."""
import ast
import datetime
import http.server
import pathlib
import sys
import threading

import pytest

from messenger_connector import providers
from messenger_connector.providers import (
    PERMANENT, RETRYABLE, MalformedError, ProviderError, TelegramProvider, WhatsAppProvider, _http, _inbound,
    get_provider,
)

PROVIDERS_DIR = pathlib.Path(providers.__file__).parent


# --- registry and purity ----------------------------------------------------------------------------


def test_registry():
    # the platforms of the provider layer itself (a test may register one of its own)
    assert {"whatsapp": WhatsAppProvider, "telegram": TelegramProvider}.items() <= providers.PROVIDERS.items()
    provider = get_provider("telegram", {"bot_token": "1:x"})
    assert isinstance(provider, TelegramProvider) and provider.base_url == "https://api.telegram.org"
    assert get_provider("whatsapp", None).base_url == "https://graph.facebook.com"
    assert get_provider("whatsapp", {"base_url": "http://h:1/", "timeout": 3}).base_url == "http://h:1"


@pytest.mark.parametrize("name", ["nosuchplatform", "", None, "WhatsApp", ["whatsapp"]])
def test_unknown_provider(name):
    with pytest.raises(ValueError):
        get_provider(name, {})


def test_public_names_exported():
    for name in providers.__all__:
        assert hasattr(providers, name), name


def test_providers_never_import_odoo():
    assert "odoo" not in sys.modules
    for path in PROVIDERS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            assert not any(n == "odoo" or n.startswith(("odoo.", "messenger_connector")) for n in names), path


# --- _inbound ---------------------------------------------------------------------------------------


def test_header_value():
    assert _inbound.header_value({"X-A": "1"}, "x-a") == "1"
    assert _inbound.header_value({"x-a": "1"}, "X-A") == "1"
    assert _inbound.header_value({}, "x-a") is None
    assert _inbound.header_value(None, "x-a") is None


def test_secret_equals():
    assert _inbound.secret_equals("abc", "abc")
    assert _inbound.secret_equals("ünï", "ünï")
    for given, expected in (("abc", "abd"), ("", ""), (None, None), ("abc", None), (b"abc", "abc"), ("ab", "abc")):
        assert not _inbound.secret_equals(given, expected)


def test_to_utc():
    expected = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    assert _inbound.to_utc("1700000000") == _inbound.to_utc(1700000000) == expected
    assert _inbound.to_utc(None) is None
    for bad in ("-1", "1e9", "", 1.5, True, [], "9" * 40, 10 ** 20):
        with pytest.raises(MalformedError):
            _inbound.to_utc(bad)


def test_stable_key_ignores_key_order():
    assert _inbound.stable_key("u:", {"a": 1, "b": [1, {"c": "é"}]}) == _inbound.stable_key(
        "u:", {"b": [1, {"c": "é"}], "a": 1})
    assert _inbound.stable_key("u:", {"a": 1}) != _inbound.stable_key("u:", {"a": 2})


# --- _http ------------------------------------------------------------------------------------------


class _Body(http.server.BaseHTTPRequestHandler):
    """GET /<size>[/length]: ``size`` bytes, with a Content-Length header only when asked."""

    def do_GET(self):
        size, _sep, length = self.path.strip("/").partition("/")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", size)
        self.end_headers()
        try:
            for _chunk in range(int(size) // 1000):
                self.wfile.write(b"x" * 1000)
        except ConnectionError:
            pass  # the client stopped reading

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def body_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Body)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client():
    return _http.HttpClient(5, classify=lambda response: ProviderError(PERMANENT, "unexpected"))


@pytest.mark.parametrize("announced", [False, True])
def test_download_limit(body_server, announced):
    suffix = "/length" if announced else ""
    content, content_type = _client().download(f"{body_server}/5000{suffix}", limit=5000)
    assert (len(content), content_type) == (5000, "application/octet-stream")
    with pytest.raises(ProviderError) as info:
        _client().download(f"{body_server}/5000000{suffix}", limit=4999)
    assert (info.value.kind, info.value.code) == (PERMANENT, "too_large")


def test_network_error_message_has_no_url():
    with pytest.raises(ProviderError) as info:
        _http.HttpClient(0.5, classify=None).request("GET", "http://127.0.0.1:1/bot123:SECRET/getMe")
    assert info.value.kind == RETRYABLE and "SECRET" not in repr(info.value) and info.value.__cause__ is None


class _Response:
    def __init__(self, headers):
        self.headers = headers


@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None), ("12", 12), (" 7 ", 7), ("-3", None), ("1.5", None), ("²", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0), ("Fri, 01 Jan 9999 00:00:00 GMT", "future"),
])
def test_retry_after(header, expected):
    value = _http.retry_after(_Response({"Retry-After": header} if header is not None else {}))
    if expected == "future":
        assert value > 10 ** 9
    else:
        assert value == expected


def test_check_helpers():
    _http.check_length(None, 1, "x")
    _http.check_length("a", 1, "x")
    with pytest.raises(ProviderError):
        _http.check_length("ab", 1, "x")
    with pytest.raises(ProviderError):
        _http.check_size(b"ab", 1)
