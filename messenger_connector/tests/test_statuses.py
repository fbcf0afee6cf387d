from odoo.tests import tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestStatuses(MessengerCase):

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470888001", "hi", "wamid.S0", name="Sam Status"))
        self.conv = self.conversation(self.wa_account, "32470888001")
        self.conv.action_send_text("Reply")
        self.send_queued()
        self.message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")

    def status(self, status, ts="1732000200"):
        self.receive(self.wa_account, fakes.wa_payload(statuses=[{
            "id": self.message.external_id, "status": status, "timestamp": ts, "recipient_id": "32470888001"}]))

    def test_forward_only(self):
        self.status("delivered", "1732000200")
        self.assertEqual(self.message.state, "delivered")
        self.status("read", "1732000300")
        self.assertEqual(self.message.state, "read")
        self.status("delivered", "1732000250")  # late
        self.status("sent", "1732000100")  # later still
        self.assertEqual(self.message.state, "read")
        self.status("failed", "1732000400")
        self.assertEqual(self.message.state, "read", "a failure after read does not undo it")

    def test_read_without_delivered(self):
        self.status("read")
        self.assertEqual(self.message.state, "read")
        self.assertTrue(self.message.delivered_at)
        self.assertEqual(self.wa_account.read_count, 1)
        self.assertEqual(self.wa_account.delivered_count, 1)

    def test_batch_of_statuses_and_messages(self):
        payload = fakes.wa_payload(
            statuses=[{"id": self.message.external_id, "status": "delivered", "timestamp": "1732000200",
                       "recipient_id": "32470888001"},
                      {"id": self.message.external_id, "status": "read", "timestamp": "1732000300",
                       "recipient_id": "32470888001"}],
            messages=[{"from": "32470888001", "id": "wamid.S1", "timestamp": "1732000301", "type": "text",
                       "text": {"body": "thanks"}}],
            contacts=[{"profile": {"name": "Sam Status"}, "wa_id": "32470888001"}])
        self.receive(self.wa_account, payload)
        self.assertEqual(self.message.state, "read")
        self.assertTrue(self.messages(self.wa_account, external_id="wamid.S1"))

    def test_unknown_status_target_kept_on_event(self):
        self.receive(self.wa_account, fakes.wa_payload(statuses=[{
            "id": "wamid.NOT-OURS", "status": "read", "timestamp": "1732000300", "recipient_id": "1"}]))
        event = self.env["messenger.event"].search([("body", "like", "wamid.NOT-OURS")])
        self.assertEqual(event.state, "done")
        self.assertIn("unknown message", event.info)
