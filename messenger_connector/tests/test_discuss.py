import base64
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.messenger_connector.models.discuss_channel import BY_ADDON

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestDiscussChat(MessengerCase):
    """A conversation's chat in Discuss: inbound posts, answers from the chat, refusals, notes, states."""

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470777001", "Is the oak table in stock?", "wamid.D1",
                                                   name="Dora Discuss"))
        self.conv = self.conversation(self.wa_account, "32470777001")
        self.channel = self.conv.channel_id

    def channel_posts(self, **domain):
        return self.env["mail.message"].search(
            [("model", "=", "discuss.channel"), ("res_id", "=", self.channel.id)]
            + [(k, "=", v) for k, v in domain.items()], order="id")

    def post_as(self, user, body, note=False, **kw):
        return self.channel.with_user(user).message_post(
            body=body, message_type="comment", subtype_xmlid="mail.mt_note" if note else "mail.mt_comment", **kw)

    def test_inbound_posted_in_the_chat_as_the_person(self):
        self.assertEqual(self.channel.channel_type, "messenger")
        self.assertEqual(self.channel.messenger_conversation_id, self.conv)
        self.assertEqual(self.channel.name, "Dora Discuss")
        post = self.channel_posts(message_type="comment")
        self.assertEqual(len(post), 1)
        self.assertEqual(post.author_id, self.conv.partner_id)
        self.assertIn("oak table", post.body)
        inbound = self.conv.messenger_message_ids
        self.assertEqual(inbound.channel_message_id, post)
        self.assertIn(post, inbound.chatter_message_ids, "retention and erasure reach the chat's post")
        # every Messenger user of the account's audience is in an unlinked chat (no team, no audience group)
        members = self.channel.channel_member_ids.partner_id
        self.assertLessEqual(self.user_agent.partner_id | self.user_manager.partner_id, members)
        for user in members.user_ids:
            self.assertTrue(self.conv.with_user(user).has_access("read"), user.login)
        member = self.channel.channel_member_ids.filtered(lambda m: m.partner_id == self.user_agent.partner_id)
        self.assertEqual(member.message_unread_counter, 1)

    def test_header_of_an_unassigned_unlinked_chat(self):
        [info] = self.conv._discuss_infos()
        self.assertIs(info["agent"], False, "the web client reads a missing agent as false, never as []")
        self.assertIs(info["linked"], False)
        self.assertEqual((info["provider"], info["number"], info["has_window"]), ("whatsapp", "+32470777001", True))

    def test_live_inbox_is_told_and_shows_the_waiting_time(self):
        self.conv.sudo()._write({"last_inbound_at": fields.Datetime.now() - timedelta(minutes=42)})
        self.conv.invalidate_recordset()
        self.assertEqual(self.conv.waiting_minutes, 42)
        self.env["bus.bus"].sudo().search([]).unlink()
        self.conv.with_user(self.user_agent).action_assign_to_me()
        self.conv.action_close()
        self.env.cr.precommit.run()
        notices = self.env["bus.bus"].sudo().search([("message", "like", "messenger.inbox/updated")])
        manager_channel = f'"res.partner",{self.user_manager.partner_id.id}]'
        self.assertEqual(len(notices.filtered(lambda n: n.channel.endswith(manager_channel))), 1,
                         "one notice per transaction, however many changes")
        self.assertFalse(notices.filtered(lambda n: n.channel.endswith(f'"res.partner",{self.user_agent.partner_id.id}]')),
                         "agents are not supervisors")
        self.assertEqual(self.conv.waiting_minutes, 0, "a closed conversation waits for nobody")

    def test_second_inbound_in_the_same_chat(self):
        self.receive(self.wa_account, self.wa_text("32470777001", "Hello?", "wamid.D2", name="Dora Discuss"))
        self.assertEqual(self.conv.channel_id, self.channel)
        self.assertEqual(len(self.channel_posts(message_type="comment")), 2)

    def test_answer_from_the_chat_is_sent(self):
        post = self.post_as(self.user_agent, "Yes, it is in stock.")
        message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.body, message.state, message.author_id),
                         ("Yes, it is in stock.", "queued", self.user_agent))
        self.assertEqual(message.channel_message_id, post)
        self.assertEqual(len(self.channel_posts(message_type="comment")), 2, "one post per message, no copy")
        notification = post.notification_ids
        self.assertEqual((notification.notification_type, notification.notification_status,
                          notification.res_partner_id), ("messenger", "ready", self.conv.partner_id))
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["payload"]["text"]["body"], "Yes, it is in stock.")
        self.assertEqual(notification.notification_status, "sent")
        self.receive(self.wa_account, fakes.wa_payload(statuses=[{
            "id": message.external_id, "status": "read", "timestamp": "1732000300", "recipient_id": "32470777001"}]))
        self.assertEqual(message.state, "read")
        store = post.with_user(self.user_agent)._messenger_store_values()
        self.assertEqual(store[post.id]["messengerState"]["state"], "read")

    def test_refusal_shows_at_once_and_queues_nothing(self):
        self.conv.sudo()._write({"window_expires_at": fields.Datetime.now() - timedelta(hours=1)})
        self.conv.invalidate_recordset()
        before = self.channel_posts()
        with self.assertRaisesRegex(UserError, "reply window"):
            self.post_as(self.user_agent, "Still there?")
        self.assertFalse(self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out"))
        self.assertEqual(self.channel_posts(), before)

    def test_opted_out_person_refused(self):
        self.receive(self.wa_account, self.wa_text("32470777001", "STOP", "wamid.D3", name="Dora Discuss"))
        with self.assertRaises(UserError):
            self.post_as(self.user_agent, "But wait!")

    def test_note_stays_internal(self):
        post = self.post_as(self.user_agent, "Customer is a VIP", note=True)
        self.assertFalse(self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out"))
        self.assertEqual(post.subtype_id, self.env.ref("mail.mt_note"))
        self.assertTrue(post._messenger_store_values()[post.id]["messengerNote"])
        self.send_queued()
        self.assertFalse(self.fake_wa.sent)

    def test_attachment_becomes_a_document(self):
        attachment = self.env["ir.attachment"].with_user(self.user_agent).create({
            "name": "offer.pdf", "raw": b"%PDF-1.4 offer", "mimetype": "application/pdf",
            "res_model": "discuss.channel", "res_id": self.channel.id})
        self.post_as(self.user_agent, "Our offer", attachment_ids=[attachment.id])
        message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.content_type, message.attachment_ids.name), ("document", "offer.pdf"))
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["type"], "document")

    def test_two_files_refused(self):
        files = self.env["ir.attachment"].with_user(self.user_agent).create([{
            "name": f"f{i}.txt", "datas": base64.b64encode(b"x"), "res_model": "discuss.channel",
            "res_id": self.channel.id} for i in range(2)])
        with self.assertRaisesRegex(UserError, "one file"):
            self.post_as(self.user_agent, "two", attachment_ids=files.ids)

    def test_failure_reaches_the_messaging_menu(self):
        post = self.post_as(self.user_agent, "Hello")
        self.fake_wa.fail_next(1, 400, {"error": {"code": 131026, "message": "Message undeliverable"}})
        self.send_queued()
        message = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "failed")
        notification = post.notification_ids
        self.assertEqual((notification.notification_status, notification.failure_type),
                         ("exception", "messenger"))
        self.assertTrue(notification.failure_reason)
        # what Odoo's messaging menu asks for: the failures of the current user as author
        failures = self.env["mail.notification"].search([
            ("author_id", "=", self.user_agent.partner_id.id), ("notification_status", "in", ("bounce", "exception"))])
        self.assertEqual(failures, notification)
        message.with_user(self.user_agent).action_retry()
        self.assertEqual(notification.notification_status, "ready")
        self.send_queued()
        self.assertEqual(notification.notification_status, "sent")

    def test_sent_messages_of_the_form_and_bots_appear_in_the_chat(self):
        self.conv.with_user(self.user_agent).action_send_text("From elsewhere")
        post = self.channel_posts(message_type="comment")[-1]
        self.assertIn("From elsewhere", post.body)
        self.assertEqual(post.author_id, self.user_agent.partner_id)
        self.assertEqual(post.notification_ids.notification_type, "messenger")
        # posted through the chat's message_post: its after-hook marks the post as seen by its author's member
        member = self.channel.sudo().channel_member_ids.filtered(lambda m: m.partner_id == self.user_agent.partner_id)
        self.assertEqual(member.seen_message_id, post)
        self.assertEqual(member.message_unread_counter, 0)
        # and the person gets it
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["text"], "From elsewhere")

    def test_assigned_to_someone_else(self):
        self.conv.with_user(self.user_manager).action_assign_to_me()
        with self.assertRaisesRegex(UserError, "Manager Mary handles"):
            self.post_as(self.user_agent, "Let me answer")
        self.post_as(self.user_agent, "Mary, he asked twice", note=True)  # notes stay open
        self.conv.with_user(self.user_agent).action_take_over("Mary is on holiday")
        self.assertEqual(self.conv.user_id, self.user_agent)
        self.assertIn("Mary is on holiday", self.channel_posts(message_type="notification")[-1].body)
        self.post_as(self.user_agent, "Now I answer")
        self.assertEqual(len(self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")), 1)

    def test_first_reply_makes_the_agent(self):
        self.post_as(self.user_agent, "Hi Dora")
        self.assertEqual(self.conv.user_id, self.user_agent)
        with self.assertRaisesRegex(UserError, "Agent Smith handles"):
            self.post_as(self.user_manager, "Hi from me too")

    def test_posts_of_the_chat_are_kept(self):
        post = self.post_as(self.user_agent, "Sent text")
        with self.assertRaises(UserError):
            self.channel.with_user(self.user_agent)._message_update_content(post, "changed")

    def test_open_chat(self):
        action = self.conv.with_user(self.user_agent).action_open_chat()
        self.assertEqual(action["params"]["active_id"], f"discuss.channel_{self.channel.id}")

    def test_existing_conversation_gets_its_chat_lazily(self):
        self.conv.channel_id.sudo().unlink()
        self.assertFalse(self.conv.channel_id)
        self.receive(self.wa_account, self.wa_text("32470777001", "again", "wamid.D4", name="Dora Discuss"))
        self.assertTrue(self.conv.channel_id)
        self.assertEqual(len(self.conv.channel_id.message_ids.filtered(lambda m: m.message_type == "comment")), 1)

    def test_a_new_message_reaches_the_members_of_its_chat(self):
        """Each message is posted through the chat's message_post: its members are notified as Discuss
        notifies them: the post counts as unread for each of them."""
        listening = new_test_user(self.env, login="mc_member_listening", groups="base.group_user")
        # as the addon's membership sync adds them (nobody else can)
        self.env["discuss.channel.member"].sudo().with_context(messenger_membership=BY_ADDON).create([
            {"channel_id": self.channel.id, "partner_id": listening.partner_id.id}])
        members = self.channel.sudo().channel_member_ids
        listener = members.filtered(lambda m: m.partner_id == listening.partner_id)
        unread = listener.message_unread_counter
        self.receive(self.wa_account, self.wa_text("32470777001", "to all", "wamid.DM1", name="Dora Discuss"))
        post = self.channel_posts(message_type="comment")[-1]
        self.assertEqual(post.author_id, self.conv.partner_id)
        listener.invalidate_recordset()
        self.assertEqual(listener.message_unread_counter, unread + 1)

    def test_non_employee_cannot_answer(self):
        with self.assertRaises(AccessError):
            self.channel.with_user(self.env.ref("base.public_user")).message_post(
                body="x", message_type="comment", subtype_xmlid="mail.mt_comment")


@tagged("post_install", "-at_install")
class TestAutomaticAssignment(MessengerCase):
    """A new chat goes to an online member of the account's team, in turn or to the least busy, within a maximum."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agents = cls.env["res.users"]
        for login in ("rr_one", "rr_two", "rr_three"):
            cls.agents |= new_test_user(cls.env, login=login, name=login,
                                        groups="base.group_user,messenger_connector.group_messenger_user")
        cls.wa_account.write({"user_ids": [(6, 0, cls.agents.ids)], "assign_mode": "round_robin"})

    def online(self, users):
        self.env["bus.presence"].create([{"user_id": user.id, "status": "online"} for user in users])
        users.invalidate_recordset(["im_status"])

    def chat(self, n):
        self.receive(self.wa_account, self.wa_text(f"3247066600{n}", "hello", f"wamid.RR{n}", name=f"P{n}"))
        return self.conversation(self.wa_account, f"3247066600{n}")

    def test_round_robin_among_online_members(self):
        one, two, three = self.agents
        self.online(one | three)
        self.assertEqual([self.chat(n).user_id for n in range(1, 4)], [one, three, one])
        self.assertIn(one.partner_id, self.chat(1).channel_id.channel_member_ids.partner_id)

    def test_least_active_with_a_maximum(self):
        one, two, _three = self.agents
        self.wa_account.write({"assign_mode": "least_active", "assign_max_open": 1})
        self.online(one | two)
        first, second, third = (self.chat(n) for n in range(1, 4))
        self.assertEqual((first.user_id, second.user_id), (one, two))
        self.assertFalse(third.user_id, "both online agents are full: the team sees the chat and one takes it")

    def test_nobody_online_nobody_assigned(self):
        self.assertFalse(self.chat(1).user_id)

    def test_manual(self):
        self.wa_account.assign_mode = "manual"
        self.online(self.agents)
        self.assertFalse(self.chat(1).user_id)


@tagged("post_install", "-at_install")
class TestDiscussStart(MessengerCase):

    def test_discuss_starts_with_the_most_recent_chats(self):
        from ..models import discuss_channel
        Conversation = self.env["messenger.conversation"]
        chats = Conversation.create([{"account_id": self.wa_account.id, "external_user_id": f"3247011100{n}"}
                                     for n in range(5)]).channel_id
        for n, chat in enumerate(chats):
            chat.last_interest_dt = fields.Datetime.now() - timedelta(minutes=10 - n)
        original = discuss_channel.MESSENGER_CHATS_AT_START
        discuss_channel.MESSENGER_CHATS_AT_START = 3
        try:
            loaded = self.env["discuss.channel"].with_user(self.user_agent)._get_channels_as_member()
        finally:
            discuss_channel.MESSENGER_CHATS_AT_START = original
        self.assertEqual(loaded.filtered(lambda c: c.channel_type == "messenger"), chats[2:])
