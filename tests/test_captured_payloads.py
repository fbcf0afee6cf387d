"""The parsers on payloads as the platforms document them (tests/fixtures/), not as our fakes build them.

WhatsApp: the examples of Meta's "messages webhook reference" (text, image, failed status) and a delivery
batching two senders' messages and a status in two changes. Telegram: the sample updates of the Bot API's
webhook guide (a message whose chat has no ``type``, an edited message, a callback query from an inline
message, without ``message``) and a ``my_chat_member`` update as sent when a person blocks the bot. X Chat: a
``chat.received`` delivery in the shape of X's event-payloads sample.
"""
import datetime
import json
import pathlib

import pytest

from messenger_connector.providers import BLOCK, CALLBACK, IMAGE, MESSAGE, STATUS, TEXT, UNKNOWN, MalformedError

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
UTC = datetime.timezone.utc


def fixture(name):
    return (FIXTURES / name).read_bytes()


def test_fixtures_are_the_json_the_platforms_send():
    for path in FIXTURES.glob("*.json"):
        assert isinstance(json.loads(path.read_bytes()), dict), path.name


def test_whatsapp_text(wa):
    body = fixture("wa_text.json")
    (event,) = wa.parse(body)
    assert (event.kind, event.content_type) == (MESSAGE, TEXT)
    assert event.external_user_id == "16505551234"
    assert event.phone == "+16505551234"
    assert event.profile_name == "Sheena Nelson"
    assert event.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert event.text == "Does it come in another color?"
    assert event.timestamp == datetime.datetime.fromtimestamp(1749416383, UTC)
    assert event.account_ref == "106540352242922"
    assert wa.delivery_key(body)


def test_whatsapp_image(wa):
    (event,) = wa.parse(fixture("wa_image.json"))
    assert (event.kind, event.content_type) == (MESSAGE, IMAGE)
    assert event.text == "New arrivals!"
    assert event.media.id == "1003383421387256"
    assert event.media.mime_type == "image/jpeg"


def test_whatsapp_failed_status(wa):
    (event,) = wa.parse(fixture("wa_status_failed.json"))
    assert (event.kind, event.status) == (STATUS, "failed")
    assert event.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"
    assert event.error_code == "131049"
    assert "healthy ecosystem engagement" in event.error_message


def test_whatsapp_batched_delivery(wa):
    body = fixture("wa_batched.json")
    events = wa.parse(body)
    assert [(e.kind, e.external_user_id) for e in events] == [
        (MESSAGE, "16505551234"), (MESSAGE, "16315551181"), (STATUS, "16505551234")]
    assert [e.profile_name for e in events[:2]] == ["Sheena Nelson", "Pablo Morales"]
    assert events[2].status == "delivered"
    assert len({e.dedup_key for e in events}) == 3


def test_telegram_message_without_chat_type(tg):
    body = fixture("tg_message.json")
    (event,) = tg.parse(body)
    assert (event.kind, event.content_type) == (MESSAGE, TEXT)
    assert event.external_user_id == "1111111"
    assert event.text == "/start"
    assert event.username == "Test"
    assert tg.delivery_key(body) == "update:10000"


def test_telegram_edited_message(tg):
    (event,) = tg.parse(fixture("tg_edited_message.json"))
    assert event.kind == UNKNOWN, "an edit is kept on record, never a second message"
    assert tg.delivery_key(fixture("tg_edited_message.json")) == "update:10001"


def test_telegram_callback_query_of_an_inline_message(tg):
    try:
        events = tg.parse(fixture("tg_callback_query.json"))
    except MalformedError:
        pytest.fail("a callback query without its message (inline keyboard) is a valid update")
    (event,) = events
    assert (event.kind, event.content_type) == (MESSAGE, CALLBACK)
    assert event.external_user_id == "1111111"
    assert event.payload == "Data from button callback"
    assert event.callback_query_id == "4382bfdwdsb323b2d9"


def test_telegram_blocked_by_the_person(tg):
    (event,) = tg.parse(fixture("tg_my_chat_member.json"))
    assert (event.kind, event.external_user_id) == (BLOCK, "1111111")


def test_x_chat_received():
    """An X Chat ``chat.received`` delivery shaped as X's event-payloads sample (the sender first in
    ``conversation_id``), its encrypted event made with X's SDK."""
    from messenger_connector.providers import XProvider

    provider = XProvider({"consumer_secret": "s", "user_id": "1111111111111111111"})
    body = fixture("x_chat_received.json")
    (event,) = provider.parse(body)
    payload = json.loads(body)["data"]["payload"]
    assert (event.kind, event.external_user_id, event.external_id, event.account_ref) == (
        MESSAGE, "2222222222222222222", payload["id"], "1111111111111111111")
    assert event.timestamp == datetime.datetime.fromtimestamp(int(payload["created_at_msec"]) / 1000, UTC)
    assert provider.delivery_key(body) == "uuid:8511582263942905822"
