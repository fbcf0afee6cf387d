import json

from odoo.exceptions import UserError
from odoo.tests import common, tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestEverydayChat(MessengerCase):
    """What agents and data-protection officers meet in a chat day to day: files, keywords, erasure."""

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470777101", "Hello, a question", "wamid.E1", name="Eva Everyday"))
        self.conv = self.conversation(self.wa_account, "32470777101")
        self.channel = self.conv.channel_id

    def channel_posts(self):
        return self.env["mail.message"].search(
            [("model", "=", "discuss.channel"), ("res_id", "=", self.channel.id), ("message_type", "=", "comment")],
            order="id")

    def bus_notices(self, kind):
        """[(bus channel, payload)] of the notices of ``kind`` sent by the transaction so far."""
        self.env.cr.precommit.run()
        return [(json.loads(n.channel), json.loads(n.message)["payload"])
                for n in self.env["bus.bus"].sudo().search([], order="id")
                if json.loads(n.message)["type"] == kind]

    def customer_sends_file(self, caption="Here is the photo of the damage"):
        self.fake_wa.add_media("media-e1", b"\xff\xd8\xff damage", "image/jpeg", "damage.jpg")
        self.receive(self.wa_account, fakes.wa_payload(
            messages=[fakes.wa_message("32470777101", "image", {"id": "media-e1", "mime_type": "image/jpeg",
                                                                "caption": caption}, wamid="wamid.E2")],
            contacts=[{"profile": {"name": "Eva Everyday"}, "wa_id": "32470777101"}]))
        return self.conv.messenger_message_ids.filtered(lambda m: m.external_id == "wamid.E2")

    def test_send_template_action_opens_from_the_chat(self):
        # the chat's composer runs the returned action itself: it must be complete
        action = self.conv.with_user(self.user_agent).action_open_send_template()
        self.assertEqual(action["views"], [(False, "form")])

    def test_customer_file_reaches_the_open_chat_once_downloaded(self):
        self.env["bus.bus"].sudo().search([]).unlink()
        message = self.customer_sends_file()
        self.assertEqual((message.media_state, message.attachment_ids.mimetype), ("done", "image/jpeg"))
        post = message.channel_message_id
        self.assertEqual(post.attachment_ids, message.attachment_ids)
        updates = [payload for channel, payload in self.bus_notices("mail.record/insert")
                   if channel == [self.env.cr.dbname, "discuss.channel", self.channel.id]
                   and any(m.get("id") == post.id and m.get("attachment_ids") for m in payload.get("mail.message", []))]
        self.assertTrue(updates, "the chat is told of the post's file once it is downloaded")
        self.assertIn(message.attachment_ids.id, [a["id"] for a in updates[-1]["ir.attachment"]])
        self.assertIn(message.attachment_ids.name, [a["name"] for a in updates[-1]["ir.attachment"]])

    def test_stop_shows_before_its_confirmation(self):
        self.receive(self.wa_account, self.wa_text("32470777101", "STOP", "wamid.E3", name="Eva Everyday"))
        stop, confirmation = self.conv.messenger_message_ids.filtered(
            lambda m: m.external_id == "wamid.E3" or m.consent_notice).sorted("id")
        self.assertEqual((stop.body, confirmation.body), ("STOP", self.wa_account.opt_out_confirmation))
        posts = self.channel_posts()
        self.assertEqual(posts[-2:], stop.channel_message_id | confirmation.channel_message_id)
        self.assertLess(stop.channel_message_id.id, confirmation.channel_message_id.id,
                        "the chat shows the STOP above its confirmation")
        self.assertLessEqual(stop.channel_message_id.date, confirmation.channel_message_id.date)
        self.assertLess(stop.mail_message_id.id, confirmation.mail_message_id.id, "the conversation's chatter too")
        self.assertEqual(len(stop.chatter_message_ids.filtered(lambda m: m.model == "discuss.channel")), 1,
                         "posted once")
        # and START after an opt-out: the same order
        self.receive(self.wa_account, self.wa_text("32470777101", "START", "wamid.E4", name="Eva Everyday"))
        start = self.conv.messenger_message_ids.filtered(lambda m: m.external_id == "wamid.E4")
        self.assertEqual(self.channel_posts()[-2], start.channel_message_id)

    def test_sent_file_cannot_be_deleted_from_the_chat(self):
        attachment = self.env["ir.attachment"].with_user(self.user_agent).create({
            "name": "offer.pdf", "raw": b"%PDF-1.4 offer", "mimetype": "application/pdf",
            "res_model": "discuss.channel", "res_id": self.channel.id})
        post = self.channel.with_user(self.user_agent).message_post(
            body="Our offer", message_type="comment", subtype_xmlid="mail.mt_comment", attachment_ids=[attachment.id])
        sent = self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.send_queued()
        self.assertEqual(sent.state, "sent")
        # what the chat's trash icon calls (the /mail/attachment/delete route), as the agent
        for attachment in (post.attachment_ids | sent.attachment_ids).with_user(self.user_agent):
            with self.assertRaisesRegex(UserError, "cannot be deleted"):
                attachment._delete_and_notify(post)
        self.assertTrue(post.attachment_ids.exists())
        self.assertTrue(sent.attachment_ids.exists())
        received = self.customer_sends_file()
        with self.assertRaisesRegex(UserError, "cannot be deleted"):
            received.attachment_ids.with_user(self.user_agent).unlink()
        # a file of an internal note was never sent: its author may remove it
        draft = self.env["ir.attachment"].with_user(self.user_agent).create({
            "name": "draft.pdf", "raw": b"%PDF-1.4 draft", "res_model": "discuss.channel", "res_id": self.channel.id})
        note = self.channel.with_user(self.user_agent).message_post(
            body="Draft", message_type="comment", subtype_xmlid="mail.mt_note", attachment_ids=[draft.id])
        note.attachment_ids.with_user(self.user_agent)._delete_and_notify(note)
        self.assertFalse(draft.exists())

    def test_erasure_removes_the_chat_from_open_tabs_and_the_lead_link(self):
        self.conv.with_user(self.user_agent).action_assign_to_me()
        self.conv.action_create_lead()
        lead = self.conv.lead_id
        self.assertIn(f'/odoo/messenger.conversation/{self.conv.id}"', lead.description)
        channel_id = self.channel.id
        self.env["bus.bus"].sudo().search([]).unlink()
        request = self.env["messenger.data.request"].with_user(self.user_manager).create(
            {"partner_id": self.conv.partner_id.id})
        request.action_erase()
        self.assertFalse(self.conv.exists())
        self.assertFalse(self.env["discuss.channel"].browse(channel_id).exists())
        deleted = self.bus_notices("discuss.channel/delete")
        self.assertIn(([self.env.cr.dbname, "discuss.channel", channel_id], {"id": channel_id}), deleted,
                      "the agents' open tabs drop the chat (Discuss's own notice)")
        self.assertNotIn("/odoo/messenger.conversation/", lead.description)
        self.assertIn("the chat was deleted", lead.description)
        self.assertIn("Conversation on WA test", lead.description)

    def test_live_inbox_is_told_which_conversations_changed(self):
        self.env["bus.bus"].sudo().search([]).unlink()
        self.conv.with_user(self.user_agent).action_assign_to_me()
        self.conv.action_close()
        manager = [self.env.cr.dbname, "res.partner", self.user_manager.partner_id.id]
        notices = [payload for channel, payload in self.bus_notices("messenger.inbox/updated") if channel == manager]
        self.assertEqual(notices, [{"ids": [self.conv.id], "list_changed": False}])
        self.receive(self.wa_account, self.wa_text("32470777102", "New here", "wamid.E5", name="Nina New"))
        notices = [payload for channel, payload in self.bus_notices("messenger.inbox/updated") if channel == manager]
        self.assertEqual(notices[-1]["list_changed"], True, "a new conversation: the list changes")


@tagged("post_install", "-at_install")
class TestInstallIsQuiet(common.TransactionCase):
    """Installing or updating the addon logs no warning of its own (Odoo warns of fields with the same label,
    which users could not tell apart in filters, exports and tracking)."""

    def test_no_two_fields_of_a_model_share_a_label(self):
        models = sorted({name for name, model in self.env.registry.items()
                         if any(field._module == "messenger_connector" for field in model._fields.values())})
        self.assertIn("messenger.account", models)
        with self.assertNoLogs("odoo.addons.base.models.ir_model", "WARNING"):
            self.env["ir.model.fields"]._reflect_fields(models)
