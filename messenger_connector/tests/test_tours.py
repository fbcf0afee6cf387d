from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import MessengerCase, fakes

MESSENGER = "messenger_connector.group_messenger_user"
CONVERSATIONS = "/odoo/action-messenger_connector.action_messenger_conversation"


@tagged("post_install", "-at_install")
class TestTours(HttpCase, MessengerCase):
    """What agents, salespeople and managers do in the web client (tours in static/tests/tours)."""

    def tina(self):
        self.receive(self.wa_account, self.wa_text("4917055550009", "where is my order?", "wamid.TOUR1",
                                                   name="Tina Tour"))
        return self.conversation(self.wa_account, "4917055550009")

    def test_agent_replies_from_the_chatter(self):
        conversation = self.tina()
        self.start_tour(CONVERSATIONS, "messenger_chatter_reply", login=self.user_agent.login)
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.body, message.state, message.author_id),
                         ("It ships tomorrow, Tina.", "queued", self.user_agent))
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["payload"]["text"]["body"], "It ships tomorrow, Tina.")

    def test_agent_sends_a_template_outside_the_reply_window(self):
        self.wa_account.wa_business_account_id = fakes.DEMO_WABA_ID
        self.fake_wa.waba_id = fakes.DEMO_WABA_ID
        self.fake_wa.add_template("order_update", "Hello {{1}}, your order {{2}} ships on {{3}}.")
        self.wa_account.with_user(self.user_manager).action_sync_templates()
        conversation = self.tina()
        conversation.window_expires_at = fields.Datetime.now() - timedelta(hours=1)
        self.start_tour(CONVERSATIONS, "messenger_send_template", login=self.user_agent.login)
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.content_type, message.template_name, message.state),
                         ("template", "order_update", "queued"))
        self.send_queued()
        sent = self.fake_wa.sent[-1]["payload"]["template"]
        self.assertEqual([p["text"] for p in sent["components"][0]["parameters"]], ["Tina", "S0042", "Friday"])

    def two_salespeople_one_contact(self):
        """Contact C chats with B under B's lead; A has another lead of C with a Telegram chat of C."""

        def user(login):
            return new_test_user(self.env, login=login, name=login,
                                 groups=f"base.group_user,sales_team.group_sale_salesman,{MESSENGER}")

        sales_a, sales_b = user("tour_sales_a"), user("tour_sales_b")
        customer = self.env["res.partner"].create({"name": "Carla Customer", "mobile": "+32 470 88 00 01"})
        lead_b = self.env["crm.lead"].create({"name": "B's quote", "partner_id": customer.id,
                                              "user_id": sales_b.id, "type": "opportunity"})
        self.receive(self.wa_account, self.wa_text("32470880001", "Here is my quote question", "wamid.TOUR2",
                                                   name="Carla"))
        chat_b = self.conversation(self.wa_account, "32470880001")
        self.assertEqual(chat_b.lead_id, lead_b)
        lead_a = self.env["crm.lead"].create({"name": "A's other deal", "partner_id": customer.id,
                                              "user_id": sales_a.id, "type": "opportunity"})
        self.receive(self.tg_account, fakes.tg_update(901, text="About A's deal", chat_id=990001,
                                                      first_name="Carla"))
        chat_a = self.conversation(self.tg_account, "990001")
        chat_a.write({"partner_id": customer.id, "lead_id": lead_a.id, "user_id": sales_a.id})
        return sales_a, customer, lead_a

    def test_salesperson_opens_own_lead_of_a_contact_chatting_under_another_lead(self):
        sales_a, _customer, lead_a = self.two_salespeople_one_contact()
        self.start_tour(f"/odoo/action-crm.crm_lead_all_leads/{lead_a.id}", "messenger_lead_own_chat",
                        login=sales_a.login)

    def test_salesperson_sees_only_readable_chats_of_a_contact(self):
        sales_a, customer, _lead_a = self.two_salespeople_one_contact()
        self.start_tour(f"/odoo/action-base.action_partner_form/{customer.id}", "messenger_contact_chats",
                        login=sales_a.login)

    def test_manager_opens_account_and_settings(self):
        self.start_tour(f"/odoo/action-messenger_connector.action_messenger_account/{self.wa_account.id}",
                        "messenger_manager_account", login=self.user_manager.login)
        # the settings page is for administrators (Odoo's Settings right), here one who manages Messenger
        admin = new_test_user(self.env, login="tour_admin", name="Tour Admin",
                              groups="base.group_user,base.group_system,messenger_connector.group_messenger_manager")
        self.start_tour("/odoo/settings#messenger_connector", "messenger_manager_settings", login=admin.login)
