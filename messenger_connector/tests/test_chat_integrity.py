from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from . import test_access_matrix as matrix
from .common import JsonRpcMixin


@tagged("post_install", "-at_install")
class TestChatIntegrity(JsonRpcMixin, HttpCase, matrix.TestAccessMatrix):
    """One agent answers a chat on every path; posts keep their author, date and kind; notes stay with the
    colleagues; the contact changes only explicitly; erasure reaches the chat's notes."""

    test_matrix = test_access_moves_with_the_lead = None
    test_attachments_follow_the_conversation = test_reply_goes_out_when_its_author_lost_access_meanwhile = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.users"].search([("share", "=", False)]).odoobot_state = "disabled"
        for chat in cls.chats.values():
            chat.messenger_message_ids._post_to_channels()
            chat.write({"window_expires_at": "2999-01-01 00:00:00", "last_inbound_at": "2026-01-01 00:00:00"})
        cls.chat = cls.chats["lead_a"]
        cls.chat.user_id = cls.sales_a
        cls.customer = cls.chat.partner_id

    def outbound(self):
        return self.chat.messenger_message_ids.filtered(lambda m: m.direction == "out")

    def customer_post(self):
        return self.chat.channel_id.message_ids.filtered(lambda m: m.author_id == self.customer)

    # --- one agent per chat -----------------------------------------------------------------------

    def test_send_text_respects_the_agent(self):
        for user in (self.sales_manager, self.user_manager):
            with self.subTest(user=user.login), self.assertRaises(UserError):
                self.chat.with_user(user).action_send_text("I answer instead")
        self.assertFalse(self.outbound())
        self.chat.with_user(self.user_manager).action_take_over("Sales A is away today")
        self.chat.with_user(self.user_manager).action_send_text("I answer now")
        self.assertEqual(self.outbound().author_id, self.user_manager)

    def test_the_conversation_chatter_respects_the_agent(self):
        self.authenticate("sales_mgr", "sales_mgr")
        self.assertRefused(self.make_jsonrpc_request, "/mail/message/post", {
            "thread_model": "messenger.conversation", "thread_id": self.chat.id,
            "post_data": {"body": "I answer instead", "message_type": "comment",
                          "subtype_xmlid": "mail.mt_comment"}})
        self.assertFalse(self.outbound())
        # a note stays possible
        self.make_jsonrpc_request("/mail/message/post", {
            "thread_model": "messenger.conversation", "thread_id": self.chat.id,
            "post_data": {"body": "Call her back", "message_type": "comment", "subtype_xmlid": "mail.mt_note"}})
        self.assertFalse(self.outbound())

    # --- posts cannot be rewritten or forged ------------------------------------------------------

    def test_a_member_does_not_rewrite_the_customers_post(self):
        post = self.customer_post()
        self.assertTrue(post)
        self.authenticate("sales_a", "sales_a")
        note = self.env.ref("mail.mt_note").id
        for values in ({"author_id": self.sales_a.partner_id.id}, {"date": "2001-01-01 00:00:00"},
                       {"subtype_id": note}, {"message_type": "notification"}):
            with self.subTest(values=values):
                self.assertRefused(self.rpc, "mail.message", "write", post.ids, values)
        self.assertEqual(post.author_id, self.customer)
        self.assertNotEqual(post.date.year, 2001)
        self.assertEqual(post.subtype_id, self.env.ref("mail.mt_comment"))

    def test_a_member_does_not_post_as_the_customer(self):
        channel = self.chat.channel_id
        self.authenticate("sales_a", "sales_a")
        forged = {"body": "STOP", "message_type": "comment", "subtype_xmlid": "mail.mt_comment",
                  "author_id": self.customer.id}
        self.assertRefused(self.rpc, "discuss.channel", "message_post", [channel.id],
                           context={"messenger_channel_copy": True}, **forged)
        self.assertRefused(self.rpc, "discuss.channel", "message_post", [channel.id], **dict(
            forged, subtype_xmlid="mail.mt_note"))
        self.assertRefused(self.rpc, "messenger.conversation", "message_post", [self.chat.id],
                           context={"messenger_chatter_copy": True}, **forged)
        self.assertFalse(self.env["mail.message"].search([("author_id", "=", self.customer.id),
                                                         ("body", "ilike", "STOP")]))

    def test_the_contact_changes_only_explicitly(self):
        other = self.env["res.partner"].create({"name": "Someone Else"})
        self.authenticate("sales_a", "sales_a")
        self.assertRefused(self.rpc, "messenger.conversation", "write", [self.chat.id], {"partner_id": other.id})
        self.assertEqual(self.chat.partner_id, self.customer)
        with self.assertRaises(UserError):
            self.chat.with_user(self.sales_a).action_change_partner(other.id, "")
        wizard = self.env["messenger.contact.change"].with_user(self.sales_a).create({
            "conversation_id": self.chat.id, "partner_id": other.id, "reason": "She confirmed the number is hers"})
        wizard.action_confirm()
        self.assertEqual(self.chat.partner_id, other)
        log = self.chat.message_ids.filtered(lambda m: "She confirmed the number is hers" in (m.body or ""))
        self.assertEqual(log.author_id, self.sales_a.partner_id)
        self.assertIn(self.customer.name, log.body)

    def test_the_contact_change_needs_the_right_to_edit_both_contacts(self):
        locked = self.env["res.partner"].create({"name": "Locked Person"})
        self.env["ir.rule"].create({"name": "nobody edits the locked person", "model_id": self.env.ref(
            "base.model_res_partner").id, "domain_force": f"[('id', '!=', {locked.id})]", "perm_read": False,
            "perm_create": False, "perm_unlink": False})
        with self.assertRaises(AccessError):
            self.chat.with_user(self.sales_a).action_change_partner(locked.id, "it is her")
        self.assertEqual(self.chat.partner_id, self.customer)

    # --- notes stay internal ----------------------------------------------------------------------

    def assertNobodyOutsideNotified(self, post):
        self.assertFalse(self.env["mail.notification"].search([("mail_message_id", "=", post.id),
                                                              ("res_partner_id", "=", self.customer.id)]))
        self.assertNotIn(self.customer, self.env["mail.mail"].search([("mail_message_id", "=", post.id)]).recipient_ids)
        self.assertNotIn(self.customer, post.partner_ids)

    def test_a_chat_note_naming_the_customer_mails_nobody(self):
        self.customer.email = "customer@example.com"
        post = self.chat.channel_id.with_user(self.sales_a).message_post(
            body="She is a tough one", message_type="comment", subtype_xmlid="mail.mt_note",
            partner_ids=self.customer.ids)
        self.assertNobodyOutsideNotified(post)

    def test_a_conversation_note_naming_the_customer_mails_nobody(self):
        self.customer.email = "customer@example.com"
        post = self.chat.with_user(self.sales_a).message_post(
            body="She is a tough one", message_type="comment", subtype_xmlid="mail.mt_note",
            partner_ids=(self.customer | self.sales_b.partner_id).ids)
        self.assertNobodyOutsideNotified(post)
        self.assertIn(self.sales_b.partner_id, post.partner_ids)  # a colleague is still told

    # --- erasure reaches the chat's notes -----------------------------------------------------------

    def test_erasure_reaches_the_chats_notes(self):
        channel = self.chat.channel_id
        channel.with_user(self.sales_a).message_post(
            body="Person 1001 is a tough one", message_type="comment", subtype_xmlid="mail.mt_note")
        self.chat.with_user(self.user_manager).action_take_over("angry customer")
        posts = self.env["mail.message"].search([("model", "=", "discuss.channel"), ("res_id", "=", channel.id)])
        self.assertTrue(posts.filtered(lambda m: m.message_type == "notification"))
        self.env["messenger.data.request"].with_user(self.user_manager).create(
            {"partner_id": self.customer.id}).action_erase()
        self.assertFalse(self.chat.exists())
        self.assertFalse(posts.exists())
        left = self.env["mail.message"].search([("record_name", "ilike", "Person 1001"),
                                                ("model", "in", ("discuss.channel", "messenger.conversation"))])
        self.assertFalse(left, left.read(["model", "res_id", "body", "message_type"]))

    def test_anonymizing_reaches_the_chats_notes(self):
        channel = self.chat.channel_id
        note = channel.with_user(self.sales_a).message_post(
            body="Person 1001 is a tough one", message_type="comment", subtype_xmlid="mail.mt_note")
        self.chat._retention_remove(delete=False)  # a retention policy that anonymizes
        self.assertEqual(channel.exists(), channel)
        self.assertNotIn("tough", note.body)
        self.assertFalse(self.env["mail.message"].search([("record_name", "ilike", "Person 1001"),
                                                         ("model", "=", "discuss.channel")]))
