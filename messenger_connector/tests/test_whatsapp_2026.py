import datetime
import json
import logging

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged

from .common import WA_PHONE_ID, WA_SECRET, MessengerCase, fakes

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
NEW_BSUID = "US.24817305912873645029"
NUMBER = "16505551234"
SENDER_LOGGER = "odoo.addons.messenger_connector.models.messenger_message"


@tagged("post_install", "-at_install")
class TestWhatsApp2026(MessengerCase, HttpCase):
    """People with usernames (known by a business-scoped user id, BSUID), through the webhook route and the
    sender against the fake WhatsApp."""

    def post(self, payload):
        body = json.dumps(payload).encode()
        answer = self.url_open(f"/messenger/webhook/{self.wa_account.webhook_key}", data=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, WA_SECRET)})
        self.assertEqual(answer.status_code, 200, answer.text)
        self.process()

    def write_as_username(self, text, wamid, user_id=BSUID, wa_id=None, name="Sheena Nelson",
                          username="realsheenanelson", parent_user_id=PARENT):
        self.post(fakes.wa_user_text_payload(user_id, text, wamid=wamid, name=name, username=username, wa_id=wa_id,
                                             parent_user_id=parent_user_id, phone_number_id=WA_PHONE_ID))
        return self.env["messenger.conversation"].search([("account_id", "=", self.wa_account.id),
                                                          ("alias_ids.value", "=", user_id)])

    def last_request(self):
        return [r for r in self.fake_wa.requests if r.path.endswith("/messages")][-1].json

    def status(self, *statuses, **kw):
        self.post(fakes.wa_user_status_payload(list(statuses), phone_number_id=WA_PHONE_ID, **kw))

    # --- 1 + 2: one person, any id; answers by recipient; statuses by recipient_user_id -------------------

    def test_bsuid_only_person_answered_by_recipient_then_shows_number(self):
        partners_before = self.env["res.partner"].search_count([])
        conversation = self.write_as_username("Does it come in another color?", "wamid.U1")
        self.assertEqual(len(conversation), 1)
        self.assertEqual(conversation.external_user_id, BSUID)
        self.assertFalse(conversation.phone)
        self.assertEqual(conversation.username, "realsheenanelson")
        self.assertEqual(conversation.partner_id.name, "Sheena Nelson")
        self.assertFalse(conversation.partner_id.mobile)
        self.assertEqual(sorted(conversation.alias_ids.mapped("kind")), ["bsuid", "parent_bsuid"])
        self.assertEqual(conversation.messenger_message_ids.body, "Does it come in another color?")

        # the answer goes to "recipient" (a BSUID in "to" would be dropped by Meta without a word)
        conversation.action_send_text("Yes, in blue.")
        self.send_queued()
        reply = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(reply.state, "sent")
        request = self.last_request()
        self.assertEqual(request["recipient"], BSUID)
        self.assertNotIn("to", request)
        self.assertFalse(self.fake_wa.dropped)

        # a status addressed by recipient_user_id only, with its per-message pricing
        self.status(fakes.wa_user_status(reply.external_id, "delivered", user_id=BSUID, pricing_category="service",
                                         pricing_type="free_customer_service"), user_id=BSUID)
        self.assertEqual(reply.state, "delivered")
        self.assertEqual((reply.pricing_category, reply.pricing_type), ("service", "free_customer_service"))

        # later the number becomes visible: the same conversation and contact, the number filled in
        again = self.write_as_username("My number is visible now", "wamid.U2", wa_id=NUMBER)
        self.assertEqual(again, conversation)
        self.assertEqual(conversation.phone, f"+{NUMBER}")
        self.assertEqual(conversation.partner_id.mobile, f"+{NUMBER}")
        self.assertEqual(conversation.external_user_id, BSUID, "the first key never changes")
        self.assertFalse(conversation.needs_review)
        # a webhook that carries the number only finds the same person
        self.post(fakes.wa_text_payload(NUMBER, "by number", wamid="wamid.U3", phone_number_id=WA_PHONE_ID))
        self.assertEqual(len(conversation.messenger_message_ids.filtered(lambda m: m.direction == "in")), 3)
        self.assertFalse(self.conversation(self.wa_account, NUMBER))
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before + 1)
        # with the number known, messages go to "to"
        conversation.action_send_text("Thanks")
        self.send_queued()
        request = self.last_request()
        self.assertEqual(request["to"], NUMBER)
        self.assertNotIn("recipient", request)

    def test_number_conversation_learns_bsuid_from_status(self):
        self.post(fakes.wa_text_payload(NUMBER, "hello", wamid="wamid.N1", phone_number_id=WA_PHONE_ID))
        conversation = self.conversation(self.wa_account, NUMBER)
        conversation.action_send_text("Hi")
        self.send_queued()
        reply = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(self.last_request()["to"], NUMBER)
        self.status(fakes.wa_user_status(reply.external_id, "read", user_id=BSUID, wa_id=NUMBER), user_id=BSUID,
                    wa_id=NUMBER)
        self.assertEqual(reply.state, "read")
        self.assertIn(BSUID, conversation.alias_ids.mapped("value"))
        # the person hides their number: their BSUID-only message lands in the same chat
        self.assertEqual(self.write_as_username("hidden now", "wamid.N2"), conversation)

    def test_bsuid_never_matched_across_accounts(self):
        other = self.wa_account.copy({"name": "Other portfolio", "wa_phone_number_id": "100000000000002",
                                      "wa_app_secret": WA_SECRET})
        mine = self.write_as_username("hi", "wamid.P1")
        self.receive(other, fakes.wa_user_text_payload(BSUID, "hi there", wamid="wamid.P2", name="Sheena Nelson",
                                                       phone_number_id="100000000000002"))
        theirs = self.env["messenger.conversation"].search([("account_id", "=", other.id)])
        self.assertEqual(theirs.external_user_id, BSUID)
        self.assertNotEqual(theirs.partner_id, mine.partner_id, "a BSUID belongs to one business portfolio")

    def test_number_of_another_contact_is_flagged_not_merged(self):
        known = self.env["res.partner"].create({"name": "Known Person", "mobile": f"+{NUMBER}"})
        conversation = self.write_as_username("hi", "wamid.C1")
        partner = conversation.partner_id
        self.assertNotEqual(partner, known)
        self.write_as_username("now with number", "wamid.C2", wa_id=NUMBER)
        self.assertEqual(conversation.partner_id, partner, "never merged on its own")
        self.assertFalse(partner.mobile)
        self.assertTrue(conversation.needs_review)
        self.assertIn("Known Person", conversation.review_reason)
        self.assertEqual(known.mobile, f"+{NUMBER}")

    def test_username_search_and_access(self):
        conversation = self.write_as_username("hi", "wamid.S1")
        Conversation = self.env["messenger.conversation"].with_user(self.user_agent)
        self.assertEqual(Conversation.search([("number_search", "ilike", "realsheena")]), conversation)
        self.assertEqual(Conversation.search([("number_search", "ilike", "@realsheenanelson")]), conversation)
        aliases = self.env["messenger.conversation.alias"].with_user(self.user_agent).search(
            [("conversation_id", "=", conversation.id)])
        self.assertEqual(len(aliases), 2)
        with self.assertRaises(AccessError):
            self.env["messenger.conversation.alias"].with_user(self.user_agent).create({
                "account_id": self.wa_account.id, "conversation_id": conversation.id, "kind": "number",
                "value": "4915112345678"})
        with self.assertRaises(AccessError):
            aliases[0].with_user(self.user_manager).write({"value": "US.999"})
        # the account's team only: a Messenger user outside it reads neither the chat nor its ids
        self.wa_account.user_ids = self.user_manager
        self.env.invalidate_all()
        self.assertFalse(Conversation.search([("id", "=", conversation.id)]))
        self.assertFalse(self.env["messenger.conversation.alias"].with_user(self.user_agent).search(
            [("conversation_id", "=", conversation.id)]))

    def test_authentication_template_refused_for_bsuid_only(self):
        self.env["messenger.template"].sudo().create({
            "name": "login_code", "language": "en_US", "account_id": self.wa_account.id, "status": "approved",
            "category": "authentication", "body": "Your code is {{1}}"})
        conversation = self.write_as_username("hi", "wamid.A1")
        with self.assertRaisesRegex(UserError, "131062"):
            conversation.action_send_template("login_code", "en_US", ["123456"])
        self.assertFalse(conversation.messenger_message_ids.filtered(lambda m: m.direction == "out"))

    # --- 3: identity changes ---------------------------------------------------------------------------

    def test_bsuid_change_same_conversation_no_chat_message(self):
        conversation = self.write_as_username("hi", "wamid.I1")
        messages_before = conversation.messenger_message_ids
        change = fakes.wa_user_id_change(BSUID, NEW_BSUID, wamid="wamid.SYS1", previous_parent_user_id=PARENT,
                                         parent_user_id="US.ENT.22815799212886844831", phone_number_id=WA_PHONE_ID)
        self.post(change)
        self.post(change)  # redelivered: nothing more
        self.assertEqual(conversation.messenger_message_ids, messages_before, "no chat message")
        self.assertFalse(self.env["messenger.message"].search([("external_id", "=", "wamid.SYS1")]))
        self.assertIn(NEW_BSUID, conversation.alias_ids.mapped("value"))
        self.assertIn(BSUID, conversation.alias_ids.mapped("value"), "old ids stay")
        self.assertEqual(self.write_as_username("new id", "wamid.I2", user_id=NEW_BSUID, parent_user_id=None),
                         conversation)
        # answers go to the current BSUID: the old one no longer reaches the person
        conversation.action_send_text("Got it")
        self.send_queued()
        self.assertEqual(self.last_request()["recipient"], NEW_BSUID)
        self.assertEqual(self.write_as_username("late old id", "wamid.I3"), conversation)
        self.assertEqual(self.env["messenger.conversation"].search_count(
            [("account_id", "=", self.wa_account.id)]), 1)

    def test_number_change_moves_the_number(self):
        self.post(fakes.wa_user_text_payload(BSUID, "hi", wamid="wamid.M1", wa_id=NUMBER, name="Pablo",
                                             phone_number_id=WA_PHONE_ID))
        conversation = self.conversation(self.wa_account, NUMBER)
        self.assertEqual(conversation.partner_id.mobile, f"+{NUMBER}")
        self.post(fakes.wa_number_change(NUMBER, "12195555358", BSUID, NEW_BSUID, wamid="wamid.SYS2",
                                         phone_number_id=WA_PHONE_ID))
        self.assertEqual(conversation.phone, "+12195555358")
        self.assertEqual(conversation.partner_id.mobile, "+12195555358")
        self.assertEqual(len(conversation.messenger_message_ids), 1, "no chat message")
        self.post(fakes.wa_text_payload("12195555358", "new number", wamid="wamid.M2", phone_number_id=WA_PHONE_ID))
        self.assertEqual(len(conversation.messenger_message_ids), 2)

    # --- 4: Request Contact Info -----------------------------------------------------------------------

    def test_request_contact_info_and_the_reply(self):
        conversation = self.write_as_username("hi", "wamid.R1")
        header = conversation._discuss_infos()[0]
        self.assertTrue(header["asks_contact_info"])
        self.assertEqual(header["username"], "realsheenanelson")
        conversation.action_request_contact_info()
        self.send_queued()
        request = self.last_request()
        self.assertEqual(request["recipient"], BSUID)
        self.assertEqual(request["type"], "interactive")
        self.assertEqual(request["interactive"]["type"], "request_contact_info")
        # a contact card the person forwards by hand is no answer
        self.post(fakes.wa_contact_info_reply(BSUID, "4915112345678", origin="other", wamid="wamid.R2",
                                              card_name="A Friend", phone_number_id=WA_PHONE_ID))
        self.assertFalse(conversation.phone)
        self.assertIn("A Friend", conversation.messenger_message_ids.mapped("body")[0])
        self.post(fakes.wa_contact_info_reply(BSUID, NUMBER, wamid="wamid.R3", phone_number_id=WA_PHONE_ID))
        self.assertEqual(conversation.phone, f"+{NUMBER}")
        self.assertEqual(conversation.partner_id.mobile, f"+{NUMBER}")
        self.assertFalse(conversation._discuss_infos()[0]["asks_contact_info"])
        with self.assertRaises(UserError):
            conversation.action_request_contact_info()  # known now

    def test_request_contact_info_outside_the_window_uses_a_template(self):
        with freeze_time(fields.Datetime.now() - datetime.timedelta(days=2)):
            conversation = self.write_as_username("hi", "wamid.T1")
        with self.assertRaisesRegex(UserError, "Request Contact Info"):
            conversation.action_request_contact_info()
        self.env["messenger.template"].sudo().create({
            "name": "share_number", "language": "en_US", "account_id": self.wa_account.id, "status": "approved",
            "category": "utility", "body": "May we have your number?",
            "buttons": [{"type": "REQUEST_CONTACT_INFO", "text": "Share Contact Info"}]})
        conversation.action_request_contact_info()
        self.send_queued()
        request = self.last_request()
        self.assertEqual((request["type"], request["template"]["name"]), ("template", "share_number"))
        self.assertEqual(request["recipient"], BSUID)

    # --- 5: marketing preferences -----------------------------------------------------------------------

    def test_stop_and_resume_by_bsuid_into_the_consent_log(self):
        conversation = self.write_as_username("hi", "wamid.K1")
        self.post(fakes.wa_preference_payload(None, "stop", user_id=BSUID, phone_number_id=WA_PHONE_ID))
        Consent = self.env["messenger.consent"]
        stop = Consent.search([("identity", "=", BSUID), ("purpose", "=", "marketing")], limit=1)
        self.assertEqual((stop.action, stop.source), ("opt_out", "platform"))
        self.assertIn("User requested to stop marketing messages", stop.evidence)
        self.assertEqual(conversation.consent_marketing, "opt_out")
        conversation.action_send_text("Your order shipped")  # service messages are unaffected
        self.post(fakes.wa_preference_payload(None, "resume", user_id=BSUID, phone_number_id=WA_PHONE_ID))
        conversation.invalidate_recordset()
        self.assertEqual(conversation.consent_marketing, "opt_in")
        self.assertEqual(Consent.search([("identity", "=", BSUID), ("purpose", "=", "marketing")]).mapped("action"),
                         ["opt_in", "opt_out"])
        self.assertEqual(self.env["messenger.conversation"].search_count([("account_id", "=", self.wa_account.id)]), 1)

    # --- 6: errors and limits --------------------------------------------------------------------------

    def test_held_back_marketing_no_resend_for_a_day_and_no_opt_out(self):
        conversation = self.write_as_username("hi", "wamid.H1")
        conversation.with_context(messenger_purpose="marketing").action_send_template("promo", "en_US")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.status(fakes.wa_user_status(message.external_id, "failed", user_id=BSUID, error_code=131049,
                                         error_title="This message was not delivered to maintain healthy ecosystem "
                                                     "engagement."))
        self.assertEqual((message.state, message.error_code), ("failed", "131049"))
        self.assertNotEqual(conversation.consent_marketing, "opt_out", "Meta's choice, not the person's")
        self.send_queued()
        self.assertEqual(message.state, "failed", "no automatic resend")
        with self.assertRaisesRegex(UserError, "not the person's opt-out"):
            message.action_retry()
        with freeze_time(fields.Datetime.now() + datetime.timedelta(hours=25)):
            message.action_retry()
        self.assertEqual(message.state, "queued")

    def test_held_back_answered_at_once_fails_without_retry(self):
        conversation = self.write_as_username("hi", "wamid.H2")
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131049, "(#131049) This message was not delivered"))
        conversation.action_send_text("offer")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.state, message.error_code, message.next_attempt_at), ("failed", "131049", False))
        self.assertNotEqual(conversation.consent_marketing, "opt_out")

    def test_marketing_opt_out_error_is_the_persons_refusal(self):
        conversation = self.write_as_username("hi", "wamid.H3")
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131050, "(#131050) User has stopped marketing"))
        conversation.with_context(messenger_purpose="marketing").action_send_text("offer")
        self.send_queued()
        self.assertEqual(conversation.consent_marketing, "opt_out")

    def test_pair_rate_retries_this_person_after_4_power_n_seconds(self):
        first = self.write_as_username("hi", "wamid.Q1")
        other = self.write_as_username("hello", "wamid.Q2", user_id="DE.1122334455", name="Other", username="other",
                                       parent_user_id=None)
        first.action_send_text("one")
        other.action_send_text("two")
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131056, "(#131056) Pair rate limit hit"))
        pauses = []
        handler = logging.Handler()
        handler.emit = lambda record: pauses.append(record.getMessage()) if "paused" in record.msg else None
        logger = logging.getLogger(SENDER_LOGGER)
        logger.addHandler(handler)
        level = logger.level
        logger.setLevel(logging.INFO)
        try:
            self.send_queued()
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        self.assertFalse(pauses, "the account is not slowed down")
        message = first.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(other.messenger_message_ids.filtered(lambda m: m.direction == "out").state, "sent")
        first_call = [r.json for r in self.fake_wa.requests if r.path.endswith("/messages")][0]
        self.assertEqual(first_call["recipient"], BSUID, "the person's message was refused first")
        # after 1 s it may already have gone again within the same run (a slow machine): either way it waited
        self.assertIn((message.state, message.error_code, message.attempts),
                      [("queued", "131056", 1), ("sent", False, 2)])
        message.sudo().write({"state": "queued", "attempts": 0, "next_attempt_at": False})
        delays = []
        for _attempt in range(3):
            before = fields.Datetime.now()
            self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131056, "(#131056) Pair rate limit hit"))
            message.sudo().write({"next_attempt_at": False})
            message.sudo()._send_one()
            delays.append((message.next_attempt_at - before).total_seconds())
        for delay, expected in zip(delays, (1, 4, 16)):  # 4^n seconds (a second may pass during the call)
            self.assertTrue(expected <= delay <= expected + 1, (delays, expected))

    def test_pair_rate_reported_by_a_status_is_sent_again(self):
        conversation = self.write_as_username("hi", "wamid.Q3")
        conversation.action_send_text("one more")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        first_id = message.external_id
        self.status(fakes.wa_user_status(first_id, "failed", user_id=BSUID, error_code=131056,
                                         error_title="(Business Account, Consumer Account) pair rate limit hit"))
        self.assertEqual((message.state, message.error_code), ("queued", "131056"))
        self.assertTrue(message.next_attempt_at)
        message.sudo().write({"next_attempt_at": False})
        self.send_queued()
        self.assertEqual(message.state, "sent")
        self.assertNotEqual(message.external_id, first_id)
        self.assertEqual(len(self.fake_wa.sent), 2)

    def test_maintenance_waits_a_minute(self):
        conversation = self.write_as_username("hi", "wamid.W1")
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131057, "(#131057) Business account in maintenance"))
        conversation.action_send_text("hello")
        before = fields.Datetime.now()
        message = self.env["messenger.message"].search([("conversation_id", "=", conversation.id),
                                                        ("direction", "=", "out")])
        message.sudo()._send_one()
        self.assertEqual(message.state, "queued")
        self.assertGreaterEqual((message.next_attempt_at - before).total_seconds(), 59)

    # --- 7: pricing shown in the chat ------------------------------------------------------------------

    def test_pricing_stored_and_shown(self):
        conversation = self.write_as_username("hi", "wamid.G1")
        conversation.action_send_text("Here is our catalogue")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertFalse(message._discuss_state()["pricing"])
        self.status(fakes.wa_user_status(message.external_id, "sent", user_id=BSUID, pricing_category="marketing",
                                         pricing_type="regular"), user_id=BSUID)
        self.assertEqual((message.pricing_category, message.pricing_type), ("marketing", "regular"))
        pricing = message._discuss_state()["pricing"]
        self.assertTrue(pricing["billed"])
        self.assertEqual(pricing["label"], "Billed · marketing")
        self.status(fakes.wa_user_status(message.external_id, "read", user_id=BSUID, pricing_category="service",
                                         pricing_type="free_customer_service"), user_id=BSUID)
        pricing = message._discuss_state()["pricing"]
        self.assertFalse(pricing["billed"])
        self.assertEqual(pricing["label"], "Free: service window · service")

    # --- erasure: every id of the person goes ------------------------------------------------------------

    def test_anonymization_removes_every_id_of_the_person(self):
        self.post(fakes.wa_text_payload(NUMBER, "first by number", wamid="wamid.E1", phone_number_id=WA_PHONE_ID))
        conversation = self.conversation(self.wa_account, NUMBER)
        # a later delivery names the person by their BSUID only
        self.assertEqual(self.write_as_username("hidden number", "wamid.E2", wa_id=NUMBER), conversation)
        self.post(fakes.wa_preference_payload(None, "stop", user_id=BSUID, phone_number_id=WA_PHONE_ID))
        by_bsuid = self.env["messenger.event"].search([("body", "like", "User requested to stop")])
        self.assertTrue(by_bsuid)
        conversation._retention_remove()
        self.assertTrue(conversation.anonymized)
        self.assertFalse(conversation.alias_ids)
        self.assertFalse(self.env["messenger.conversation.alias"].search([("value", "in", [BSUID, PARENT, NUMBER])]))
        self.assertNotIn(BSUID, by_bsuid.body or "")
        # the person writes again: a new start, not the anonymized chat
        again = self.write_as_username("back again", "wamid.E3")
        self.assertNotEqual(again, conversation)

    def test_writing_from_a_lead_by_number_continues_the_username_chat(self):
        """A salesperson writes from a lead with the person's number: the chat first keyed on their BSUID is the
        one that continues, no second chat with the same person."""
        conversation = self.write_as_username("hi", "wamid.L1", wa_id=NUMBER)
        self.assertEqual(conversation.external_user_id, NUMBER)  # the number was visible from the start
        self.write_as_username("hidden", "wamid.L2", user_id=NEW_BSUID, parent_user_id=None)
        first = self.env["messenger.conversation"].search([("alias_ids.value", "=", NEW_BSUID)])
        self.post(fakes.wa_user_text_payload(NEW_BSUID, "now my number", wamid="wamid.L3", wa_id="4915112345678",
                                             name="Other Person", phone_number_id=WA_PHONE_ID))
        self.assertEqual(first.phone, "+4915112345678")
        partner = self.env["res.partner"].create({"name": "Lead Person", "mobile": "+49 151 12345678"})
        lead = self.env["crm.lead"].create({"name": "Quote", "partner_id": partner.id, "phone": "+49 151 12345678"})
        action = lead.action_messenger_send()
        wizard = Form(self.env["messenger.compose"].with_context(**action["context"]))
        wizard.account_id = self.wa_account
        wizard.body = "Here is your quote"
        wizard = wizard.save()
        self.assertEqual(wizard.conversation_id, first)
        wizard.action_send()
        self.assertEqual(self.env["messenger.conversation"].search_count([("account_id", "=", self.wa_account.id)]), 2)

    def test_group_messages_stay_out_of_the_senders_chat(self):
        message = fakes.wa_user_message(BSUID, "text", {"body": "hi group"}, wamid="wamid.GR1", wa_id=NUMBER)
        message["group_id"] = "120363025246125486"
        self.post(fakes.wa_payload(messages=[message], phone_number_id=WA_PHONE_ID))
        self.assertFalse(self.env["messenger.message"].search([("external_id", "=", "wamid.GR1")]))
        event = self.env["messenger.event"].search([("body", "like", "wamid.GR1")])
        self.assertEqual(event.state, "done", "kept as it came")

    def test_first_messages_by_bsuid_and_by_number_processed_together_one_contact(self):
        """Deliveries that name one new person by different ids, applied in one group: one chat, one contact."""
        partners_before = self.env["res.partner"].search_count([])
        payloads = [
            fakes.wa_user_text_payload(BSUID, "one", wamid="wamid.B1", name="Sheena", phone_number_id=WA_PHONE_ID),
            fakes.wa_user_text_payload(BSUID, "two", wamid="wamid.B2", name="Sheena", wa_id=NUMBER,
                                       phone_number_id=WA_PHONE_ID),
            fakes.wa_text_payload(NUMBER, "three", wamid="wamid.B3", name="Sheena", phone_number_id=WA_PHONE_ID),
        ]
        for payload in payloads:
            body = json.dumps(payload).encode()
            answer = self.url_open(f"/messenger/webhook/{self.wa_account.webhook_key}", data=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, WA_SECRET)})
            self.assertEqual(answer.status_code, 200)
        self.process()
        conversations = self.env["messenger.conversation"].search([("account_id", "=", self.wa_account.id)])
        self.assertEqual(len(conversations), 1)
        self.assertEqual(conversations.external_user_id, BSUID)
        self.assertEqual(sorted(conversations.messenger_message_ids.mapped("external_id")),
                         ["wamid.B1", "wamid.B2", "wamid.B3"])
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before + 1)
        self.assertEqual(conversations.partner_id.mobile, f"+{NUMBER}")

    def test_split_identity_flagged_once(self):
        """A person who wrote by number and, separately, by BSUID has two chats; a message naming both ids flags
        one for review, once: a chat marked reviewed is not flagged again by every later message."""
        self.post(fakes.wa_text_payload(NUMBER, "by number", wamid="wamid.X1", phone_number_id=WA_PHONE_ID))
        by_number = self.conversation(self.wa_account, NUMBER)
        by_bsuid = self.write_as_username("by username", "wamid.X2", parent_user_id=None)
        self.assertNotEqual(by_number, by_bsuid)
        self.write_as_username("both", "wamid.X3", wa_id=NUMBER, parent_user_id=None)
        flagged = (by_number | by_bsuid).filtered("needs_review")
        self.assertEqual(len(flagged), 1)
        self.assertEqual(len(self.env["messenger.conversation"].search([("account_id", "=", self.wa_account.id)])), 2)
        flagged.action_mark_reviewed()
        self.write_as_username("both again", "wamid.X4", wa_id=NUMBER, parent_user_id=None)
        self.assertFalse((by_number | by_bsuid).filtered("needs_review"))
