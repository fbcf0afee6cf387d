from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestTemplates(MessengerCase):
    """WhatsApp templates are records synced from the platform, chosen from a list, rendered in the chat."""

    def setUp(self):
        super().setUp()
        self.wa_account.wa_business_account_id = fakes.DEMO_WABA_ID
        self.fake_wa.waba_id = fakes.DEMO_WABA_ID
        self.fake_wa.add_template(
            "order_update", "Hello {{1}}, your order {{2}} ships on {{3}}.", language="en_US", category="UTILITY",
            header="Order news", footer="Reply STOP to opt out",
            buttons=[{"type": "QUICK_REPLY", "text": "Thanks"},
                     {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"}])
        self.fake_wa.add_template("order_update", "Hallo {{1}}, Bestellung {{2}} kommt am {{3}}.", language="de")
        self.fake_wa.add_template("reservation", "Table for {{guests}} on {{day}}.", parameter_format="NAMED")
        self.fake_wa.add_template("promo_pending", "New offers!", category="MARKETING", status="PENDING")
        self.receive(self.wa_account, self.wa_text("4917055550001", "where is my order?", "wamid.T1",
                                                   name="Tina Template"))
        self.conv = self.conversation(self.wa_account, "4917055550001")

    def sync(self):
        return self.wa_account.with_user(self.user_manager).action_sync_templates()

    def template(self, name, language="en_US"):
        return self.env["messenger.template"].with_context(active_test=False).search([
            ("account_id", "=", self.wa_account.id), ("name", "=", name), ("language", "=", language)])

    def test_sync_creates_updates_and_archives(self):
        for i in range(120):  # more than one page of the platform's list
            self.fake_wa.add_template(f"bulk_{i:03d}", "Bulk {{1}}")
        result = self.sync()
        self.assertIn("124 new", result["params"]["message"])
        pages = [r for r in self.fake_wa.requests if r.path.endswith("/message_templates")]
        self.assertEqual(len(pages), 2, "followed the platform's paging")
        template = self.template("order_update")
        self.assertEqual((template.category, template.status, template.header, template.footer),
                         ("utility", "approved", "Order news", "Reply STOP to opt out"))
        self.assertEqual(template.body, "Hello {{1}}, your order {{2}} ships on {{3}}.")
        self.assertEqual(template.placeholder_names, "1, 2, 3")
        self.assertEqual(template.buttons_text, "Thanks, Track")
        self.assertEqual(self.template("reservation").parameter_format, "named")
        self.assertEqual(self.template("reservation").placeholder_names, "guests, day")
        self.assertEqual(self.template("promo_pending").status, "pending")
        self.assertTrue(self.template("order_update", "de"))
        # the platform changes: one approved, one gone
        self.fake_wa.templates[3]["status"] = "APPROVED"
        del self.fake_wa.templates[1]
        result = self.sync()
        self.assertIn("0 new, 123 updated, 1 archived", result["params"]["message"])
        self.assertEqual(self.template("promo_pending").status, "approved")
        self.assertFalse(self.template("order_update", "de").active)

    def test_sync_is_for_managers(self):
        with self.assertRaises(AccessError):
            self.wa_account.with_user(self.user_agent).action_sync_templates()

    def test_composer_lists_templates_with_their_parameters_and_the_chat_shows_what_was_sent(self):
        self.sync()
        action = self.conv.action_open_send_template()
        form = Form(self.env["messenger.template.send"].with_user(self.user_agent).with_context(**action["context"]))
        form.template_id = self.template("order_update")
        self.assertEqual(len(form.param_ids), 3)
        for i, value in enumerate(["Tina", "S0042", "Friday"]):
            with form.param_ids.edit(i) as line:
                self.assertEqual(line.name, str(i + 1), "one line per placeholder, in order")
                line.value = value
        self.assertIn("Hello Tina, your order S0042 ships on Friday.", form.preview)
        wizard = form.save()
        wizard.action_send()
        message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.body, "Order news\nHello Tina, your order S0042 ships on Friday.\n"
                                       "Reply STOP to opt out\n[Thanks] [Track]")
        self.send_queued()
        sent = self.fake_wa.sent[-1]["payload"]["template"]
        self.assertEqual((sent["name"], sent["language"]["code"]), ("order_update", "en_US"))
        self.assertEqual([p["text"] for p in sent["components"][0]["parameters"]], ["Tina", "S0042", "Friday"])
        # the chat's posts (tracking notes of the conversation's state have no body)
        chatter = self.env["mail.message"].search([("model", "=", "discuss.channel"),
                                                   ("res_id", "=", self.conv.channel_id.id), ("body", "!=", False),
                                                   ("message_type", "=", "comment")])
        self.assertIn("Hello Tina, your order S0042 ships on Friday.", chatter[0].body)
        self.assertFalse(chatter.filtered(lambda m: "Template order_update" in m.body))

    def test_public_method_checks_parameters_against_the_synced_template(self):
        self.sync()
        with self.assertRaisesRegex(UserError, r"needs a value for \{\{3\}\}"):
            self.conv.action_send_template("order_update", "en_US", ["Tina", "S0042"])
        with self.assertRaisesRegex(UserError, "takes 3 parameters"):
            self.conv.action_send_template("order_update", "en_US", ["a", "b", "c", "d"])
        with self.assertRaisesRegex(UserError, "not approved"):
            self.conv.action_send_template("promo_pending", "en_US")
        self.conv.action_send_template("reservation", "en_US", {"guests": "4", "day": "Saturday"})
        self.send_queued()
        sent = self.fake_wa.sent[-1]["payload"]["template"]
        self.assertEqual(sent["components"][0]["parameters"], [
            {"type": "text", "parameter_name": "guests", "text": "4"},
            {"type": "text", "parameter_name": "day", "text": "Saturday"}])
        self.assertEqual(self.conv.messenger_message_ids.sorted("id")[-1].body, "Table for 4 on Saturday.")
        # a template the account never synced still goes as given (public contract)
        self.conv.action_send_template("hello_world", "en_US", ["x"])
        self.assertEqual(self.conv.messenger_message_ids.sorted("id")[-1].template_name, "hello_world")

    def test_first_contact_composer_starts_with_a_template(self):
        self.sync()
        salesman = self.env["res.users"].create({
            "name": "Tom Template", "login": "mc_tpl_sales",
            "groups_id": [(6, 0, [self.env.ref("sales_team.group_sale_salesman").id,
                                  self.env.ref("messenger_connector.group_messenger_user").id])]})
        partner = self.env["res.partner"].create({"name": "New Nina", "mobile": "+49 151 7777 0001"})
        lead = self.env["crm.lead"].create({"name": "Nina", "partner_id": partner.id, "user_id": salesman.id,
                                            "phone": "+49 151 7777 0001"})
        action = lead.with_user(salesman).action_messenger_send()
        form = Form(self.env["messenger.compose"].with_user(salesman).with_context(
            action["context"], default_account_id=self.wa_account.id))
        self.assertEqual(form.mode, "template", "no window is open: a template is the only way to start")
        # a person who just wrote: a text reply is the default
        lead2 = self.env["crm.lead"].create({"name": "Tina", "partner_id": self.conv.partner_id.id,
                                             "user_id": salesman.id})
        action = lead2.with_user(salesman).action_messenger_send()
        form = Form(self.env["messenger.compose"].with_user(salesman).with_context(
            action["context"], default_account_id=self.wa_account.id))
        self.assertEqual(form.mode, "text")
