import datetime

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestOutbound(MessengerCase):

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470999001", "Hi there", "wamid.IN1", name="Olga Out"))
        self.conv = self.conversation(self.wa_account, "32470999001")

    def close_window(self):
        past = fields.Datetime.now() - datetime.timedelta(hours=25)
        self.conv.write({"last_inbound_at": past, "window_expires_at": past + datetime.timedelta(hours=24)})

    def queued(self):
        return self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")

    def test_reply_sent_as_author(self):
        self.conv.with_user(self.user_agent).action_send_text("Yes, it is in stock.")
        message = self.queued()
        self.assertEqual((message.state, message.author_id), ("queued", self.user_agent))
        self.assertEqual(self.conv.state, "answered")
        self.assertEqual(self.conv.user_id, self.user_agent)
        self.send_queued()
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.external_id.startswith("wamid."))
        self.assertEqual(len(self.fake_wa.sent), 1)
        sent = self.fake_wa.sent[0]
        self.assertEqual((sent["to"], sent["type"], sent["text"]), ("32470999001", "text", "Yes, it is in stock."))
        self.assertEqual(sent["payload"]["text"], {"preview_url": False, "body": "Yes, it is in stock."})
        chatter = self.env["mail.message"].search([("model", "=", "discuss.channel"),
                                                   ("res_id", "=", self.conv.channel_id.id),
                                                   ("author_id", "=", self.user_agent.partner_id.id),
                                                   ("message_type", "=", "comment")])
        self.assertIn("in stock", chatter.body)

    def test_window_enforced_template_allowed(self):
        self.close_window()
        self.assertFalse(self.conv.window_open)
        with self.assertRaisesRegex(UserError, "24-hour reply window"):
            self.conv.action_send_text("Still there?")
        self.assertFalse(self.queued(), "nothing queued when refused")
        self.conv.action_send_template("order_update", "en_US", ["S00042", "Friday"])
        self.send_queued()
        self.assertEqual(self.queued().state, "sent")
        template = self.fake_wa.sent[0]["payload"]["template"]
        self.assertEqual(template["name"], "order_update")
        self.assertEqual(template["language"]["code"], "en_US")
        self.assertEqual([p["text"] for p in template["components"][0]["parameters"]], ["S00042", "Friday"])

    def test_template_wizard(self):
        wizard = self.env["messenger.template.send"].create({
            "conversation_id": self.conv.id, "template_name": "hello_world", "language": "en_US",
            "params_text": "a\n\nb\n"})
        wizard.action_send()
        self.assertEqual(self.queued().template_params, ["a", "b"])

    def test_rate_limited_then_sent_once(self):
        self.fake_wa.fail_next(1, 429, {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                                  "code": 130429, "fbtrace_id": "x"}}, headers={"Retry-After": "7"})
        self.conv.action_send_text("Busy line")
        message = self.queued()
        self.send_queued()
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.error_code, "130429")
        self.assertGreaterEqual(message.next_attempt_at, fields.Datetime.now() + datetime.timedelta(seconds=6),
                                "retry_after is honoured over the shorter backoff")
        self.send_queued()
        self.assertEqual(message.state, "queued", "not due yet")
        message.sudo().next_attempt_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.send_queued()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.attempts, 2)
        self.assertEqual(len(self.fake_wa.sent), 1, "sent exactly once")

    def test_max_attempts_then_failed_then_retry(self):
        self.wa_account.max_attempts = 2
        error = {"error": {"message": "Service unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "x"}}
        self.fake_wa.fail_next(2, 503, error)
        self.conv.action_send_text("Persistent")
        message = self.queued()
        self.send_queued()
        message.sudo().next_attempt_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.send_queued()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.attempts, 2)
        self.assertTrue(message.error_message)
        message.with_user(self.user_agent).action_retry()
        self.assertEqual(message.state, "queued")
        self.send_queued()
        self.assertEqual(message.state, "sent")

    def test_131047_synchronous(self):
        self.fake_wa.close_window("32470999001")
        self.conv.action_send_text("Are you there?")
        message = self.queued()
        self.send_queued()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "131047")
        self.assertFalse(self.conv.window_open, "the platform's verdict closes the window here too")
        with self.assertRaises(UserError):
            self.conv.action_send_text("again")

    def test_131047_as_status(self):
        self.conv.action_send_text("Later")
        message = self.queued()
        self.send_queued()
        self.assertEqual(message.state, "sent")
        self.receive(self.wa_account, fakes.wa_payload(statuses=[{
            "id": message.external_id, "status": "failed", "timestamp": "1732000100", "recipient_id": "32470999001",
            "errors": [{"code": 131047, "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}],
        }]))
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "131047")
        self.assertFalse(self.conv.window_open)

    def test_permanent_error_and_blocked_telegram(self):
        self.receive(self.tg_account, fakes.tg_update(77, text="hi", chat_id=5550001, first_name="Bea"))
        conv = self.conversation(self.tg_account, "5550001")
        self.fake_tg.block(5550001)
        conv.action_send_text("Hello Bea")
        self.send_queued()
        message = conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "failed")
        self.assertIn("blocked", message.error_message)
        self.assertTrue(conv.blocked)
        with self.assertRaisesRegex(UserError, "blocked"):
            conv.action_send_text("Again")

    def test_telegram_reply(self):
        self.receive(self.tg_account, fakes.tg_update(78, text="hi", chat_id=5550002, first_name="Carl"))
        conv = self.conversation(self.tg_account, "5550002")
        conv.action_send_text("Hello Carl")
        self.send_queued()
        message = conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "sent")
        self.assertEqual(self.fake_tg.sent[-1]["text"], "Hello Carl")
        self.assertEqual(self.fake_tg.sent[-1]["to"], "5550002")
        with self.assertRaises(UserError):
            conv.action_send_template("x", "en")

    def test_interrupted_send_is_not_resent(self):
        self.conv.action_send_text("Crash")
        message = self.queued()
        # the sender recorded its intent, then died before saving the outcome
        message.write({"state": "sending"})
        message.flush_recordset()
        self.env.cr.execute("UPDATE messenger_message SET write_date = now() - interval '1 hour' WHERE id = %s",
                            [message.id])
        message.invalidate_recordset()
        self.send_queued()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "interrupted")
        self.assertFalse(self.fake_wa.sent, "never resent blindly")

    def test_account_buttons(self):
        self.assertEqual(self.wa_account.action_test_connection()["params"]["type"], "success")
        self.tg_account.action_register_webhook()
        call = [r for r in self.fake_tg.requests if r.path.endswith("/setWebhook")][-1]
        self.assertEqual(call.params["url"], self.tg_account.webhook_url)
        self.assertEqual(call.params["secret_token"], self.tg_account.tg_secret_token)
        self.assertTrue(self.tg_account.webhook_url.endswith("/messenger/webhook/" + self.tg_account.webhook_key))
        self.assertGreaterEqual(len(self.wa_account.webhook_key), 32)
