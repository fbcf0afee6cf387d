from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestAccess(MessengerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Other Company"})
        cls.user_other_company = new_test_user(
            cls.env, login="mc_other", groups="base.group_user,messenger_connector.group_messenger_manager",
            company_id=cls.company_b.id, company_ids=[(6, 0, cls.company_b.ids)], name="Other Olly")
        cls.user_internal = new_test_user(cls.env, login="mc_internal", groups="base.group_user", name="Plain Pat")

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470777001", "secret plans", "wamid.ACC", name="Alice Access"))
        self.conv = self.conversation(self.wa_account, "32470777001")

    def test_other_company_sees_nothing(self):
        env = self.env(user=self.user_other_company)
        for model in ("messenger.account", "messenger.conversation", "messenger.message", "messenger.event"):
            self.assertFalse(env[model].search([]), model)
        with self.assertRaises(AccessError):
            self.conv.with_user(self.user_other_company).read(["name"])
        with self.assertRaises(AccessError):
            self.conv.messenger_message_ids.with_user(self.user_other_company).read(["body"])
        with self.assertRaises(AccessError):
            self.wa_account.with_user(self.user_other_company).read(["name"])

    def test_messenger_user_cannot_read_credentials(self):
        account = self.wa_account.with_user(self.user_agent)
        self.assertEqual(account.read(["name"])[0]["name"], "WA test")
        for field in ("wa_access_token", "wa_app_secret", "wa_verify_token", "webhook_key"):
            with self.assertRaises(AccessError, msg=field):
                account.read([field])
        with self.assertRaises(AccessError):
            self.tg_account.with_user(self.user_agent).read(["tg_bot_token"])
        with self.assertRaises(AccessError):
            account.write({"name": "renamed"})
        self.assertNotIn("wa_access_token", account.fields_get())
        # the manager can
        self.assertEqual(self.wa_account.with_user(self.user_manager).read(["wa_access_token"])[0]["wa_access_token"],
                         "test-wa-token")

    def test_messenger_user_works_the_conversation(self):
        conv = self.conv.with_user(self.user_agent)
        self.assertEqual(conv.messenger_message_ids.body, "secret plans")
        conv.message_post(body="internal note", message_type="comment", subtype_xmlid="mail.mt_note")
        conv.action_send_text("reply")
        self.assertFalse(self.env["messenger.event"].with_user(self.user_agent).has_access("read"))

    def test_internal_user_without_group_sees_nothing(self):
        with self.assertRaises(AccessError):
            self.conv.with_user(self.user_internal).read(["name"])
        self.assertEqual(self.conv.partner_id.with_user(self.user_internal).messenger_conversation_count, 0,
                         "the partner's Chats count only what the user may see")

    def test_secrets_not_in_errors(self):
        self.fake_wa.fail_next(1, 401, {"error": {"message": "Error validating access token", "type": "OAuthException",
                                                  "code": 190, "fbtrace_id": "x"}})
        self.conv.action_send_text("token test")
        self.send_queued()
        message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "failed")
        self.assertNotIn("test-wa-token", message.error_message)
        self.tg_account.api_base_url = "http://127.0.0.1:9"  # nothing listens there
        from .common import fakes
        self.receive(self.tg_account, fakes.tg_update(31, text="hi", chat_id=31337, first_name="Net"))
        conv = self.conversation(self.tg_account, "31337")
        conv.action_send_text("network test")
        self.send_queued()
        failed = conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(failed.state, "queued", "a network error is retried")
        self.assertNotIn("test-telegram-token", failed.error_message)
