"""WhatsApp in 2026: business-scoped user ids (BSUID), usernames, identity changes, contact info requests,
per-message pricing, marketing preferences and the limits' error codes; webhook side and calls to the fake."""
import argparse
import json

import pytest

from messenger_connector.providers import (
    IDENTITY, MESSAGE, OPT_OUT, OTHER, PERMANENT, RETRYABLE, STATUS, UNKNOWN, MalformedError, ProviderError,
)
import messenger_fakes as fakes
import send_as_customer

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
NEW_BSUID = "US.24817305912873645029"
WA_ID = "16505551234"


def parse(provider, payload):
    return provider.parse(fakes.body_bytes(payload))


# --- webhooks ---------------------------------------------------------------------------------------


def test_message_of_a_username_without_visible_number(wa):
    """Meta's own sample: no ``from``, no ``wa_id``; the BSUID is the person's id, the username is shown."""
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson", "username": "realsheenanelson"},
                          "user_id": BSUID, "parent_user_id": PARENT}],
            "messages": [{"from_user_id": BSUID, "from_parent_user_id": PARENT,
                          "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                          "timestamp": "1749416383", "type": "text",
                          "text": {"body": "Does it come in another color?"}}]}}]}]}
    [event] = parse(wa, payload)
    assert event.kind == MESSAGE
    assert event.external_user_id == BSUID
    assert event.phone is None
    assert event.profile_name == "Sheena Nelson"
    assert event.username == "realsheenanelson"
    assert event.aliases == (("bsuid", BSUID), ("parent_bsuid", PARENT))
    assert event.text == "Does it come in another color?"


def test_message_with_number_and_bsuid_links_both(wa):
    [event] = parse(wa, fakes.wa_user_text_payload(BSUID, "hi", wa_id=WA_ID, name="Pablo"))
    assert event.external_user_id == WA_ID  # the number stays the first key where it is visible
    assert event.phone == f"+{WA_ID}"
    assert event.aliases == (("number", WA_ID), ("bsuid", BSUID))


def test_message_without_any_sender_is_refused(wa):
    payload = fakes.wa_user_text_payload(BSUID, "hi")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"]
    with pytest.raises(MalformedError):
        parse(wa, payload)


@pytest.mark.parametrize("user_id", ["US 1349", "<script>", "x" * 201])
def test_bsuid_that_cannot_be_one_is_refused(wa, user_id):
    with pytest.raises(MalformedError):
        parse(wa, fakes.wa_user_text_payload(user_id, "hi"))


def test_status_by_recipient_user_id_with_pricing(wa):
    status = fakes.wa_user_status("wamid.OUT1", "delivered", user_id=BSUID, parent_user_id=PARENT,
                                  pricing_category="marketing", pricing_type="regular")
    [event] = parse(wa, fakes.wa_user_status_payload([status], user_id=BSUID, username="pablomorales"))
    assert event.kind == STATUS
    assert event.external_id == "wamid.OUT1"
    assert event.external_user_id == BSUID
    assert event.aliases == (("bsuid", BSUID), ("parent_bsuid", PARENT))
    assert (event.pricing_category, event.pricing_type) == ("marketing", "regular")


def test_status_old_parent_field_name(wa):
    status = {"id": "wamid.OUT2", "status": "read", "timestamp": "1750030073", "recipient_user_id": BSUID,
              "parent_recipient_user_id": PARENT}
    [event] = parse(wa, fakes.wa_payload(statuses=[status]))
    assert ("parent_bsuid", PARENT) in event.aliases
    assert event.pricing_category is None


def test_user_changed_user_id_is_an_identity_event(wa):
    [event] = parse(wa, fakes.wa_user_id_change(BSUID, NEW_BSUID, wamid="wamid.SYS1", previous_parent_user_id=PARENT,
                                                parent_user_id="US.ENT.22815799212886844831"))
    assert event.kind == IDENTITY
    assert event.previous_aliases == (("bsuid", BSUID), ("parent_bsuid", PARENT))
    assert event.aliases == (("bsuid", NEW_BSUID), ("parent_bsuid", "US.ENT.22815799212886844831"))
    assert event.dedup_key == "msg:wamid.SYS1"
    assert event.text is None


def test_user_changed_number_is_an_identity_event(wa):
    [event] = parse(wa, fakes.wa_number_change(WA_ID, "12195555358", BSUID, NEW_BSUID, wamid="wamid.SYS2"))
    assert event.kind == IDENTITY
    assert event.previous_aliases == (("number", WA_ID), ("bsuid", BSUID))
    assert event.aliases == (("number", "12195555358"), ("bsuid", NEW_BSUID))
    assert event.phone == "+12195555358"


def test_withdrawn_user_id_update_field_is_read_defensively(wa):
    payload = fakes.wa_payload(field="user_id_update", value_extra={
        "user_id_update": [{"user_id": {"previous": BSUID, "current": NEW_BSUID}, "timestamp": "1786000000"}]})
    [event] = parse(wa, payload)
    assert event.kind == IDENTITY
    assert event.previous_aliases == (("bsuid", BSUID),)


@pytest.mark.parametrize("system", [{"type": "other_thing"}, {"body": "changed number"}])
def test_other_system_messages_are_kept_but_no_chat_message(wa, system):
    message = {"from": WA_ID, "id": "wamid.SYS3", "timestamp": "1786000000", "type": "system", "system": system}
    [event] = parse(wa, fakes.wa_payload(messages=[message]))
    assert event.kind == UNKNOWN
    assert event.raw == message


def test_contact_card_is_shown_as_text(wa):
    message = fakes.wa_message(WA_ID, "contacts", [{"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+1 555"}]}])
    [event] = parse(wa, fakes.wa_payload(messages=[message]))
    assert (event.kind, event.content_type, event.text, event.shared_phone) == (MESSAGE, OTHER, "Bob +1 555", None)


def test_contact_info_reply_gives_the_number_only_on_request(wa):
    [requested] = parse(wa, fakes.wa_contact_info_reply(BSUID, WA_ID))
    assert requested.kind == MESSAGE and requested.content_type == OTHER
    assert requested.shared_phone == f"+{WA_ID}"
    assert f"+{WA_ID}" in requested.text
    [forwarded] = parse(wa, fakes.wa_contact_info_reply(BSUID, WA_ID, origin="other", card_name="A Friend"))
    assert forwarded.shared_phone is None
    assert "A Friend" in forwarded.text


def test_preference_keyed_on_bsuid_without_number(wa):
    [event] = parse(wa, fakes.wa_preference_payload(None, "stop", user_id=BSUID))
    assert event.kind == OPT_OUT
    assert event.external_user_id == BSUID
    assert event.aliases == (("bsuid", BSUID),)
    assert event.raw["detail"] == "User requested to stop marketing messages"
    with pytest.raises(MalformedError):
        parse(wa, fakes.wa_preference_payload(None, "stop"))


# --- sending ----------------------------------------------------------------------------------------


def test_send_to_bsuid_uses_recipient(wa, wa_fake):
    result = wa.send_text(BSUID, "Hi")
    [request] = [r for r in wa_fake.requests if r.path.endswith("/messages")]
    assert request.json["recipient"] == BSUID
    assert "to" not in request.json
    assert wa_fake.sent[0]["id"] == result.external_id
    assert not wa_fake.dropped


def test_send_to_number_uses_to(wa, wa_fake):
    wa.send_text(f"+{WA_ID}", "Hi")
    [request] = [r for r in wa_fake.requests if r.path.endswith("/messages")]
    assert request.json["to"] == WA_ID
    assert "recipient" not in request.json


def test_fake_drops_a_bsuid_in_to_as_meta_does(wa_fake):
    import requests
    answer = requests.post(f"{wa_fake.url}/v21.0/{wa_fake.phone_number_id}/messages", timeout=5,
                           headers={"Authorization": f"Bearer {wa_fake.access_token}"},
                           json={"messaging_product": "whatsapp", "to": BSUID, "type": "text", "text": {"body": "x"}})
    assert answer.status_code == 200 and answer.json()["messages"][0]["id"]
    assert not wa_fake.sent
    assert wa_fake.dropped[0]["to"] == BSUID


def test_contact_request_interactive(wa, wa_fake):
    wa.send_contact_request(BSUID, "Please share your number")
    [request] = [r for r in wa_fake.requests if r.path.endswith("/messages")]
    assert request.json["type"] == "interactive"
    assert request.json["interactive"] == {"type": "request_contact_info", "body": {"text": "Please share your number"},
                                           "action": {"name": "request_contact_info"}}
    assert wa_fake.sent[0]["text"] == "Please share your number"


def test_authentication_template_to_bsuid_fails_with_131062(wa, wa_fake):
    wa_fake.add_template("login_code", "Your code is {{1}}", category="AUTHENTICATION")
    with pytest.raises(ProviderError) as caught:
        wa.send_template(BSUID, "login_code", "en_US", ["123456"])
    assert caught.value.code == "131062" and caught.value.kind == PERMANENT


# --- limits -----------------------------------------------------------------------------------------


def fail_with(wa, wa_fake, code, http_status=400, headers=None):
    wa_fake.fail_next(1, http_status, fakes.wa_error_body(code, f"(#{code}) error"), headers=headers)
    with pytest.raises(ProviderError) as caught:
        wa.send_text(WA_ID, "x")
    return caught.value


def test_pair_rate_is_retried_for_this_person_only(wa, wa_fake):
    error = fail_with(wa, wa_fake, 131056)
    assert error.kind == RETRYABLE and error.recipient_only and error.backoff_base == 4


def test_throughput_slows_the_whole_number(wa, wa_fake):
    error = fail_with(wa, wa_fake, 130429, http_status=429, headers={"Retry-After": "3"})
    assert error.kind == RETRYABLE and not error.recipient_only and error.retry_after == 3


def test_maintenance_waits_a_minute(wa, wa_fake):
    error = fail_with(wa, wa_fake, 131057)
    assert error.kind == RETRYABLE and error.retry_after >= 60


def test_held_back_marketing_is_no_refusal_and_waits_a_day(wa, wa_fake):
    error = fail_with(wa, wa_fake, 131049)
    assert error.kind == PERMANENT and error.refused is None
    assert type(wa).resend_wait("131049") == 24 * 3600
    assert type(wa).resend_wait("131026") is None


def test_marketing_stop_is_the_persons_refusal(wa, wa_fake):
    error = fail_with(wa, wa_fake, 131050)
    assert error.kind == PERMANENT and error.refused == "marketing"


def test_failed_status_classified_as_a_send_answer(wa):
    pair = fakes.wa_user_status("wamid.F1", "failed", user_id=BSUID, error_code=131056, error_title="Pair rate")
    held = fakes.wa_user_status("wamid.F2", "failed", user_id=BSUID, error_code=131049, error_title="Held back")
    first, second = parse(wa, fakes.wa_user_status_payload([pair, held]))
    error = type(wa).status_failure(first)
    assert error.kind == RETRYABLE and error.recipient_only and error.backoff_base == 4 and error.code == "131056"
    error = type(wa).status_failure(second)
    assert error.kind == PERMANENT and error.refused is None and error.code == "131049"


def test_a_number_alias_is_digits_only(wa):
    [event] = parse(wa, fakes.wa_user_text_payload(BSUID, "hi", wa_id="1650555\x001234"))
    assert event.aliases == (("bsuid", BSUID),)


def test_fake_reports_a_closed_window_by_recipient_user_id(wa, wa_fake):
    wa_fake.close_window(BSUID, mode="status")
    result = wa.send_text(BSUID, "late")
    [status] = wa_fake.statuses
    assert status["id"] == result.external_id and status["recipient_user_id"] == BSUID
    assert "recipient_id" not in status and status["errors"][0]["code"] == 131047


def test_send_as_customer_writes_as_a_username_user():
    args = argparse.Namespace(sender=BSUID, text="Hi", media=None, name="Sheena", username="sheena",
                              secret_value="s3cret")
    body, headers = send_as_customer.whatsapp_body(args, fakes.DEMO_WA_PHONE_NUMBER_ID, None)
    value = json.loads(body)["entry"][0]["changes"][0]["value"]
    assert value["messages"][0]["from_user_id"] == BSUID and "from" not in value["messages"][0]
    assert value["contacts"][0]["profile"]["username"] == "sheena"
    assert headers["X-Hub-Signature-256"] == fakes.wa_signature(body, "s3cret")


def test_group_message_is_kept_but_no_chat_message(wa):
    message = fakes.wa_user_message(BSUID, "text", {"body": "hi group"}, wa_id=WA_ID)
    message["group_id"] = "120363025246125486"
    [event] = parse(wa, fakes.wa_payload(messages=[message]))
    assert event.kind == UNKNOWN and event.raw == message


def test_bsuid_of_the_senders_contact_entry_is_linked(wa):
    payload = fakes.wa_payload(messages=[fakes.wa_message(WA_ID, "text", {"body": "hi"})],
                               contacts=[fakes.wa_user_contact(BSUID, "Pablo", wa_id=WA_ID)])
    [event] = parse(wa, payload)
    assert event.aliases == (("number", WA_ID), ("bsuid", BSUID))
