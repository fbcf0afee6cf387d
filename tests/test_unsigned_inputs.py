"""Deliveries that are accepted only when they can be trusted and processed: WeChat's unsigned bodies (plain and
compatible mode) within the replay window and with their nonce, JSON bodies with lone surrogates."""
import time

import pytest

from messenger_connector.providers import AuthError, WeChatProvider, WhatsAppProvider
from messenger_connector.providers._inbound import load_object
from messenger_connector.providers.wechat import REPLAY_WINDOW_SECONDS
from messenger_fakes import wechat as wf


def wechat(mode):
    return WeChatProvider({"app_id": wf.DEMO_WC_APP_ID, "app_secret": wf.DEMO_WC_APP_SECRET,
                           "token": wf.DEMO_WC_TOKEN, "encoding_aes_key": wf.DEMO_WC_AES_KEY, "encryption": mode,
                           "original_id": wf.DEMO_WC_ORIGINAL_ID})


@pytest.mark.parametrize("mode", ["plain", "compatible"])
def test_an_unsigned_body_is_accepted_within_the_replay_window_only(mode):
    provider = wechat(mode)
    now = int(time.time())
    for timestamp in (now, now - REPLAY_WINDOW_SECONDS + 5, now + 60):
        params, body = wf.wc_delivery(wf.wc_text(text="fresh"), mode="plain", timestamp=timestamp)
        provider.authenticate({}, body, params)
        assert provider.replay_nonce(body, params) == params["nonce"]
    for timestamp in (now - 30 * 86400, now - REPLAY_WINDOW_SECONDS - 5, now + 3600, "soon"):
        params, body = wf.wc_delivery(wf.wc_text(text="old"), mode="plain", timestamp=timestamp)
        with pytest.raises(AuthError):
            provider.authenticate({}, body, params)


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_an_encrypted_body_is_signed_and_needs_no_nonce(mode):
    params, body = wf.wc_delivery(wf.wc_text(text="sealed"), mode=mode)
    provider = wechat(mode)
    provider.authenticate({}, body, params)
    assert provider.replay_nonce(body, params) is None


def test_a_lone_surrogate_reads_as_the_replacement_character():
    body = b'{"a": "x\\ud800y", "b": ["\\ud83d\\ude00", "\\uDC00"], "\\udbff": 1}'
    assert load_object(body) == {"a": "x\ufffdy", "b": ["\U0001F600", "\ufffd"], "\ufffd": 1}
    assert load_object(b'{"a": "plain \\u00e9"}') == {"a": "plain \u00e9"}


def test_a_whatsapp_text_with_a_lone_surrogate_can_be_stored():
    body = (b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{'
            b'"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"100"},'
            b'"contacts":[{"profile":{"name":"Sam"},"wa_id":"32470000001"}],"messages":[{"from":"32470000001",'
            b'"id":"wamid.S","timestamp":"1732000000","type":"text","text":{"body":"ok \\ud800 done"}}]}}]}]}')
    (event,) = [e for e in WhatsAppProvider({"phone_number_id": "100"}).parse(body) if e.text]
    assert event.text == "ok \ufffd done"
    event.text.encode("utf-8")  # what PostgreSQL needs
