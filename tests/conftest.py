"""Fixtures of the pure provider suite: no Odoo, real sockets against the local fakes."""
import pathlib
import socket
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import messenger_fakes as fakes  # noqa: E402
from messenger_fakes.provider_layer import import_providers  # noqa: E402

import_providers()
from messenger_connector.providers import TelegramProvider, WhatsAppProvider  # noqa: E402

# Odoo modules used by the Odoo suite only (scripts/test installs them): not pure tests
collect_ignore = ["odoo_addons"]

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
SECRET_TOKEN = "test-secret-token"


@pytest.fixture(scope="session")
def _wa_server():
    with fakes.FakeWhatsApp() as server:
        yield server


@pytest.fixture(scope="session")
def _tg_server():
    with fakes.FakeTelegram() as server:
        yield server


@pytest.fixture
def wa_fake(_wa_server):
    """The session's fake WhatsApp Cloud API, reset for each test."""
    _wa_server.reset()
    yield _wa_server
    _wa_server.reset()


@pytest.fixture
def tg_fake(_tg_server):
    """The session's fake Telegram Bot API, reset for each test."""
    _tg_server.reset()
    yield _tg_server
    _tg_server.reset()


@pytest.fixture
def make_wa(wa_fake):
    """Build a WhatsApp provider against the fake; keyword arguments override its config."""
    def make(**overrides):
        return WhatsAppProvider({
            "base_url": wa_fake.url,
            "phone_number_id": fakes.DEMO_WA_PHONE_NUMBER_ID,
            "access_token": fakes.DEMO_WA_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "timeout": 5,
            **overrides,
        })
    return make


@pytest.fixture
def make_tg(tg_fake):
    """Build a Telegram provider against the fake; keyword arguments override its config."""
    def make(**overrides):
        return TelegramProvider({"base_url": tg_fake.url, "bot_token": fakes.DEMO_TG_TOKEN,
                                 "secret_token": SECRET_TOKEN, "timeout": 5, **overrides})
    return make


@pytest.fixture
def wa(make_wa):
    return make_wa()


@pytest.fixture
def tg(make_tg):
    return make_tg()


@pytest.fixture
def dead_url():
    """The URL of a local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
