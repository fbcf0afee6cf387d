from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestCrm(MessengerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = new_test_user(cls.env, login="mc_sales", groups="base.group_user,sales_team.group_sale_salesman",
                                     name="Sally Sales")
        cls.customer = cls.env["res.partner"].create({"name": "Lea Lead", "mobile": "+32 470 10 20 30"})

    def lead(self, **vals):
        return self.env["crm.lead"].create(dict(
            {"name": "Tables", "partner_id": self.customer.id, "type": "opportunity", "user_id": self.salesman.id},
            **vals))

    def test_inbound_linked_to_open_lead_and_in_its_chatter(self):
        lead = self.lead()
        self.receive(self.wa_account, self.wa_text("32470102030", "About my tables order", "wamid.L1"))
        conversation = self.conversation(self.wa_account, "32470102030")
        self.assertEqual(conversation.partner_id, self.customer)
        self.assertEqual(conversation.lead_id, lead)
        self.assertFalse(conversation.needs_review)
        self.assertEqual(lead.messenger_conversation_count, 1)
        notes = self.env["mail.message"].search([("model", "=", "crm.lead"), ("res_id", "=", lead.id),
                                                 ("message_type", "=", "comment")])
        self.assertIn("About my tables order", notes.body)
        # the salesperson owning the lead sees the chat and can answer it
        conversation.with_user(self.salesman).action_send_text("Delivery on Friday")
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["text"], "Delivery on Friday")

    def test_several_open_leads_most_recent_and_flagged(self):
        older = self.lead(name="Older")
        newer = self.lead(name="Newer")
        self.env.cr.execute("UPDATE crm_lead SET write_date = now() - interval '2 days' WHERE id = %s", [older.id])
        won_stage = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        self.lead(name="Won", stage_id=won_stage.id)
        self.lead(name="Lost").action_set_lost()
        self.env.invalidate_all()
        self.receive(self.wa_account, self.wa_text("32470102030", "hi", "wamid.L2"))
        conversation = self.conversation(self.wa_account, "32470102030")
        self.assertEqual(conversation.lead_id, newer)
        self.assertTrue(conversation.needs_review)
        self.assertIn("2 open leads", conversation.review_reason)

    def test_won_or_lost_leads_are_not_linked(self):
        won_stage = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        self.lead(name="Won", stage_id=won_stage.id)
        self.receive(self.wa_account, self.wa_text("32470102030", "hi", "wamid.L3"))
        self.assertFalse(self.conversation(self.wa_account, "32470102030").lead_id)

    def test_create_lead_from_conversation(self):
        self.receive(self.wa_account, self.wa_text("4915200000001", "I need 40 chairs", "wamid.L4", name="Chris Chair"))
        conversation = self.conversation(self.wa_account, "4915200000001")
        team = self.env["crm.team"].create({"name": "Chat Sales"})
        self.wa_account.crm_team_id = team
        action = conversation.action_create_lead()
        lead = self.env["crm.lead"].browse(action["res_id"])
        self.assertEqual(conversation.lead_id, lead)
        self.assertEqual(lead.partner_id, conversation.partner_id)
        self.assertEqual(lead.team_id, team)
        self.assertEqual(lead.source_id, self.env.ref("messenger_connector.utm_source_whatsapp"))
        # the lead links to the chat instead of copying it (a copy would outlive retention and erasure)
        self.assertNotIn("I need 40 chairs", lead.description)
        self.assertIn(f"/odoo/messenger.conversation/{conversation.id}", lead.description)
        with self.assertRaises(UserError):
            conversation.action_create_lead()

    def compose(self, record, **values):
        action = record.action_messenger_send()
        form = Form(self.env["messenger.compose"].with_context(**action["context"]))
        for key, value in values.items():
            setattr(form, key, value)
        return form.save()

    def test_send_message_from_lead_continues_conversation(self):
        lead = self.lead()
        self.receive(self.wa_account, self.wa_text("32470102030", "hello", "wamid.L5"))
        wizard = self.compose(lead.with_user(self.salesman), body="Here is your quote")
        self.assertEqual(wizard.account_id, self.wa_account)
        self.assertEqual(wizard.conversation_id, self.conversation(self.wa_account, "32470102030"))
        wizard.action_send()
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["text"], "Here is your quote")

    def test_send_message_first_contact_needs_template(self):
        lead = self.lead(partner_id=self.env["res.partner"].create({"name": "New Nora"}).id, phone="+49 151 2345 6789")
        wizard = self.compose(lead, account_id=self.wa_account, mode="text", body="Hello Nora")
        self.assertFalse(wizard.conversation_id)
        with self.assertRaisesRegex(UserError, "reply window"):
            wizard.action_send()
        self.assertFalse(self.conversation(self.wa_account, "4915123456789"), "nothing left behind")
        wizard = self.compose(lead, account_id=self.wa_account, mode="template", template_name="intro",
                              template_language="de", template_params="Nora", purpose="marketing")
        with self.assertRaisesRegex(UserError, "No opt-in of New Nora"):
            wizard.action_send()
        wizard = self.compose(lead, account_id=self.wa_account, mode="template", template_name="intro",
                              template_language="de", template_params="Nora", purpose="marketing",
                              record_consent=True, consent_reason="Trade fair form, 12 May")
        wizard.action_send()
        self.send_queued()
        conversation = self.conversation(self.wa_account, "4915123456789")
        self.assertEqual(conversation.lead_id, lead)
        self.assertEqual(self.fake_wa.sent[-1]["to"], "4915123456789")
        self.assertEqual(self.fake_wa.sent[-1]["payload"]["template"]["name"], "intro")

    def test_send_message_telegram_needs_the_person_to_write_first(self):
        lead = self.lead()
        with self.assertRaisesRegex(UserError, "does not let a business start a chat"):
            self.compose(lead, account_id=self.tg_account, body="Hi").action_send()

    def test_one_history_per_person(self):
        self.receive(self.wa_account, self.wa_text("32470102030", "on WhatsApp", "wamid.L6"))
        self.receive(self.tg_account, fakes.tg_update(61, text="on Telegram", chat_id=610061, first_name="Lea"))
        tg_conversation = self.conversation(self.tg_account, "610061")
        tg_conversation.partner_id = self.customer  # an agent recognised her
        self.assertEqual(self.customer.messenger_conversation_count, 2)
        tg_conversation.action_send_text("Answer on Telegram")
        # the contact lists both chats (its Chats button and Messenger tab); their texts stay in the chats
        self.assertEqual(self.customer.messenger_conversation_ids,
                         tg_conversation | self.conversation(self.wa_account, "32470102030"))
        self.assertFalse(self.env["mail.message"].search([("model", "=", "res.partner"),
                                                          ("res_id", "=", self.customer.id),
                                                          ("message_type", "=", "comment")]))
