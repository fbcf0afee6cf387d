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
        from odoo.addons.messenger_connector.providers import fakes
        self.receive(self.tg_account, fakes.tg_update(9001, text="hi", chat_id=424242, first_name="Greta",
                                                       username="greta_g"))
        conversation = self.conversation(self.tg_account, "424242")
        self.assertEqual(conversation.partner_id.name, "Greta")
        self.assertEqual(conversation.username, "greta_g")
        # the same person on a second bot of the company is the same contact
        other_bot = self.tg_account.copy({"name": "TG 2", "tg_bot_token": "999:other"})
        self.receive(other_bot, fakes.tg_update(1, text="hello again", chat_id=424242, first_name="Greta"))
        self.assertEqual(self.conversation(other_bot, "424242").partner_id, conversation.partner_id)
