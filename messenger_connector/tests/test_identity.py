from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestIdentity(MessengerCase):

    def test_match_existing_partner_by_number_variants(self):
        Partner = self.env["res.partner"]
        variants = {
            "32470555001": {"mobile": "+32 470 55 50 01"},
            "32470555002": {"phone": "0032 470/55.50.02"},
            "32470555003": {"phone": "+32-470-555-003"},
            "32470555004": {"mobile": "+32470555004", "phone": "+32 2 000 00 00"},
        }
        for wa_id, vals in variants.items():
            partner = Partner.create(dict(vals, name=f"Known {wa_id}"))
            self.receive(self.wa_account, self.wa_text(wa_id, "hello", f"wamid.{wa_id}", name="Profile Name"))
            conversation = self.conversation(self.wa_account, wa_id)
            self.assertEqual(conversation.partner_id, partner, vals)
            self.assertFalse(conversation.needs_review)
            self.assertEqual(conversation.phone, f"+{wa_id}")

    def test_new_partner_from_profile(self):
        self.receive(self.wa_account, self.wa_text("5511987654321", "olá", "wamid.NEW", name="Ana Souza"))
        partner = self.conversation(self.wa_account, "5511987654321").partner_id
        self.assertEqual(partner.name, "Ana Souza")
        self.assertEqual(partner.mobile, "+5511987654321")
        self.assertEqual(partner.company_id, self.wa_account.company_id)
        # a second message does not create another partner
        self.receive(self.wa_account, self.wa_text("5511987654321", "oi", "wamid.NEW2", name="Ana Souza"))
        self.assertEqual(self.env["res.partner"].search_count([("name", "=", "Ana Souza")]), 1)

    def test_conversation_history_starts_with_the_first_message(self):
        """A conversation the person starts is made as Odoo's mail gateway makes a record from an incoming
        mail: no creation note before the message. The contact made for the person keeps Odoo's own."""
        self.receive(self.wa_account, self.wa_text("5511987650000", "primeira", "wamid.FIRST", name="Bia Lima"))
        conversation = self.conversation(self.wa_account, "5511987650000")
        history = self.env["mail.message"].search([
            ("model", "=", conversation._name), ("res_id", "=", conversation.id)])
        self.assertFalse(history, "the conversation's chatter keeps what happens to it; what is said is in its chat")
        chat = self.env["mail.message"].search([("model", "=", "discuss.channel"),
                                                ("res_id", "=", conversation.channel_id.id)])
        self.assertEqual(chat.mapped("message_type"), ["comment"])
        self.assertIn("primeira", chat.body)
        self.assertEqual(len(conversation.partner_id.message_ids.filtered(
            lambda m: m.message_type == "notification")), 1, "the contact's creation note, as Odoo logs it")

    def test_ambiguous_match_is_deterministic_and_flagged(self):
        Partner = self.env["res.partner"]
        company = Partner.create({"name": "Twins Ltd", "is_company": True, "phone": "+44 7700 900123"})
        first = Partner.create({"name": "Twin One", "mobile": "+447700900123"})
        Partner.create({"name": "Twin Two", "phone": "00447700900123"})
        self.receive(self.wa_account, self.wa_text("447700900123", "hi", "wamid.AMB", name="Twin"))
        conversation = self.conversation(self.wa_account, "447700900123")
        self.assertEqual(conversation.partner_id, first, "a person before a company, then the oldest")
        self.assertNotEqual(conversation.partner_id, company)
        self.assertTrue(conversation.needs_review)
        self.assertIn("3", conversation.review_reason)
        conversation.action_mark_reviewed()
        self.assertFalse(conversation.needs_review)

    def test_telegram_identity_is_the_chat(self):
        from .common import fakes
        self.receive(self.tg_account, fakes.tg_update(9001, text="hi", chat_id=424242, first_name="Greta",
                                                       username="greta_g"))
        conversation = self.conversation(self.tg_account, "424242")
        self.assertEqual(conversation.partner_id.name, "Greta")
        self.assertEqual(conversation.username, "greta_g")
        # the same person on a second bot of the company is the same contact
        other_bot = self.tg_account.copy({"name": "TG 2", "tg_bot_token": "999:other"})
        self.receive(other_bot, fakes.tg_update(1, text="hello again", chat_id=424242, first_name="Greta"))
        self.assertEqual(self.conversation(other_bot, "424242").partner_id, conversation.partner_id)

    def test_event_for_another_number_of_the_app(self):
        """One Meta app, one webhook URL, two numbers: each message goes to its own number's account."""
        from .common import fakes
        second = self.wa_account.copy({"name": "WA second number", "wa_phone_number_id": "100000000000002",
                                       "wa_app_secret": self.wa_account.wa_app_secret})
        payload = fakes.wa_batch(
            fakes.wa_text_payload("32470600001", "to first", wamid="wamid.R1", phone_number_id="100000000000001"),
            fakes.wa_text_payload("32470600002", "to second", wamid="wamid.R2", phone_number_id="100000000000002"),
            fakes.wa_text_payload("32470600003", "to a stranger", wamid="wamid.R3", phone_number_id="999"))
        self.receive(self.wa_account, payload)
        self.assertTrue(self.conversation(self.wa_account, "32470600001"))
        self.assertTrue(self.conversation(second, "32470600002"))
        self.assertFalse(self.conversation(self.wa_account, "32470600002"))
        event = self.env["messenger.event"].search([("body", "like", "wamid.R3")])
        self.assertEqual(event.state, "done")
        self.assertIn("another number (999)", event.info)
        self.assertFalse(self.messages(self.wa_account, external_id="wamid.R3"))
