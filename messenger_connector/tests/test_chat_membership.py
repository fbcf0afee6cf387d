import json

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.bus.tests.common import WebsocketCase

from . import test_access_matrix as matrix
from .common import JsonRpcMixin


@tagged("post_install", "-at_install")
class TestChatMembership(JsonRpcMixin, WebsocketCase, matrix.TestAccessMatrix):
    """A chat's members are exactly the people who may read its conversation, whatever path tries to let
    someone else in, and whoever loses access leaves it with everything that was subscribed to it."""

    test_matrix = test_access_moves_with_the_lead = None
    test_attachments_follow_the_conversation = test_reply_goes_out_when_its_author_lost_access_meanwhile = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.users"].search([("share", "=", False)]).odoobot_state = "disabled"
        cls.portal = new_test_user(cls.env, login="portal_p", groups="base.group_portal", name="Portal Paula")
        # a conversation from before the chats existed: it has no chat until its next message
        cls.old_chat = cls.env["messenger.conversation"].create({
            "account_id": cls.wa_account.id, "external_user_id": "32470009999"})
        cls.old_chat.channel_id.sudo().with_context(messenger_membership=None).unlink()

    def members(self, key):
        return self.chats[key].channel_id.sudo().channel_member_ids

    # --- the invitation link ------------------------------------------------------------------------

    def assertInvitationRefused(self, channel):
        before = channel.sudo().channel_member_ids
        response = self.url_open(f"/chat/{channel.id}/{channel.sudo().uuid}")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn("Person 32470001001", response.text)
        self.assertEqual(channel.sudo().channel_member_ids, before)

    def test_invitation_link_lets_no_anonymous_visitor_in(self):
        self.assertInvitationRefused(self.chats["lead_a"].channel_id)
        self.assertFalse(self.chats["lead_a"].channel_id.sudo().channel_member_ids.guest_id)

    def test_invitation_link_lets_no_portal_user_in(self):
        self.authenticate("portal_p", "portal_p")
        self.assertInvitationRefused(self.chats["lead_a"].channel_id)

    def test_invitation_link_lets_no_former_member_back(self):
        chat = self.chats["lead_a"]
        chat.lead_id.user_id = self.sales_b
        self.assertNotIn(self.sales_a.partner_id, self.members("lead_a").partner_id)
        self.authenticate("sales_a", "sales_a")
        self.assertInvitationRefused(chat.channel_id)
        self.assertFalse(chat.channel_id.with_user(self.sales_a).has_access("read"))

    def test_invitation_link_of_other_channels_still_works(self):
        channel = self.env["discuss.channel"].create({"name": "Public", "channel_type": "channel",
                                                      "group_public_id": False})
        self.authenticate("portal_p", "portal_p")
        self.assertEqual(self.url_open(f"/chat/{channel.id}/{channel.uuid}").status_code, 200)
        self.assertIn(self.portal.partner_id, channel.channel_member_ids.partner_id)

    # --- invite, add_members, join, member creates -------------------------------------------------

    def test_a_member_invites_nobody(self):
        channel = self.chats["lead_a"].channel_id
        self.authenticate("sales_a", "sales_a")
        outsiders = (self.portal | self.sales_b).partner_id.ids
        self.assertRefused(self.rpc, "discuss.channel", "add_members", [channel.id], partner_ids=outsiders)
        # the key the addon uses in its own code, sent by a caller
        self.assertRefused(self.rpc, "discuss.channel", "add_members", [channel.id], partner_ids=outsiders,
                           context={"messenger_membership": True, "install_mode": True})
        self.assertRefused(self.rpc, "discuss.channel.member", "create",
                           {"channel_id": channel.id, "partner_id": self.portal.partner_id.id},
                           context={"messenger_membership": True})
        self.assertRefused(self.rpc, "discuss.channel", "write", [channel.id],
                           {"channel_member_ids": [(0, 0, {"partner_id": self.sales_b.partner_id.id})]})
        self.assertEqual(self.members("lead_a").partner_id, self.sales_a.partner_id)
        with self.assertRaises(AccessError):
            channel.with_user(self.sales_a).sudo().add_members(partner_ids=outsiders)

    def test_a_manager_joins_by_opening_the_chat_only(self):
        channel = self.chats["lead_a"].channel_id
        self.authenticate("mc_manager", "mc_manager")
        self.assertRefused(self.make_jsonrpc_request, "/discuss/channel/join", {"channel_id": channel.id})
        self.assertRefused(self.rpc, "discuss.channel", "channel_join", [channel.id])
        self.assertNotIn(self.user_manager.partner_id, self.members("lead_a").partner_id)
        self.chats["lead_a"].with_user(self.user_manager).action_open_chat()
        self.assertIn(self.user_manager.partner_id, self.members("lead_a").partner_id)

    # --- claiming a chat ------------------------------------------------------------------------------

    def test_nobody_claims_the_chat_of_a_conversation(self):
        self.assertFalse(self.old_chat.channel_id)
        self.authenticate("team_member", "team_member")
        for values in ({"name": "mine", "channel_type": "messenger", "messenger_conversation_id": self.old_chat.id},
                       {"name": "mine", "channel_type": "channel", "messenger_conversation_id": self.old_chat.id},
                       {"name": "mine", "channel_type": "messenger"}):
            with self.subTest(values=values):
                self.assertRefused(self.rpc, "discuss.channel", "create", values,
                                   context={"messenger_membership": True, "install_mode": True})
        self.assertFalse(self.env["discuss.channel"].sudo().search([("messenger_conversation_id", "=",
                                                                    self.old_chat.id)]))
        # the addon still makes the chat when the next message comes
        channel = self.old_chat._messenger_channel()
        self.assertEqual(channel.messenger_conversation_id, self.old_chat)
        self.assertEqual(channel.channel_member_ids.partner_id, self.team_member.partner_id)

    def test_a_chat_is_not_moved_to_another_conversation(self):
        channel = self.chats["unlinked"].channel_id
        with self.assertRaises(AccessError):
            channel.with_user(self.team_member).write({"messenger_conversation_id": self.old_chat.id})

    def test_a_manager_is_not_made_a_member_of_every_chat(self):
        chat = self.chats["unlinked"]
        self.wa_account.user_ids = False  # no team: the Messenger users (managers among them) share the chat
        self.assertIn(self.user_manager.partner_id, self.members("unlinked").partner_id)
        applicant = self.chats["app_x"].applicant_id
        chat.write({"applicant_id": applicant.id, "candidate_id": applicant.candidate_id.id})
        # the candidate's chat is the recruiters': the manager may still open it, but gets none of its pop-ups
        self.assertTrue(chat.with_user(self.user_manager).has_access("read"))
        self.assertNotIn(self.user_manager.partner_id, self.members("unlinked").partner_id)
        self.assertIn(self.recruiter_x.partner_id, self.members("unlinked").partner_id)

    # --- losing access is leaving ---------------------------------------------------------------------

    def test_deleting_the_lead_removes_its_people(self):
        chat = self.chats["lead_a"]
        chat.lead_id.unlink()
        self.assertEqual(self.members("lead_a").partner_id, self.team_member.partner_id)
        self.assertFalse(chat.channel_id.with_user(self.sales_a).has_access("read"))

    def test_deleting_the_application_removes_its_people(self):
        self.assertIn(self.interviewer_y.partner_id, self.members("app_y").partner_id)
        self.chats["app_y"].applicant_id.unlink()
        self.assertNotIn(self.interviewer_y.partner_id, self.members("app_y").partner_id)

    def test_leaving_the_group_in_settings_leaves_the_chat(self):
        group = self.env.ref("messenger_connector.group_messenger_user")
        self.assertIn(self.team_member.partner_id, self.members("unlinked").partner_id)
        group.write({"users": [(3, self.team_member.id)]})
        self.assertNotIn(self.team_member.partner_id, self.members("unlinked").partner_id)
        self.assertFalse(self.chats["unlinked"].channel_id.with_user(self.team_member).has_access("read"))

    def receive_in(self, chat, text, ref):
        message = self.env["messenger.message"].create({
            "conversation_id": chat.id, "direction": "in", "body": text, "state": "received",
            "external_id": f"wamid.{ref}"})
        message._post_to_channels()
        return message

    def posts_received(self, websocket, channel):
        self.trigger_notification_dispatching([channel, self.team_member.partner_id])
        notifications = json.loads(websocket.recv())
        return [n["message"] for n in notifications if n["message"]["type"] == "discuss.channel/new_message"
                and n["message"]["payload"].get("id") == channel.id]

    def test_a_websocket_receives_nothing_more_after_leaving(self):
        chat = self.chats["unlinked"]
        channel = chat.channel_id
        session = self.authenticate("team_member", "team_member")
        websocket = self.websocket_connect(cookie=f"session_id={session.sid}")
        self.subscribe(websocket, [], self.env["bus.bus"]._bus_last_id())
        self.receive_in(chat, "first secret", "ws1")
        self.assertTrue(self.posts_received(websocket, channel))  # a member receives the chat's messages
        self.env.ref("messenger_connector.group_messenger_user").write({"users": [(3, self.team_member.id)]})
        self.receive_in(chat, "second secret", "ws2")
        # the websocket did not subscribe again: it still lists the chat, and gets the leave notice only
        self.assertFalse(self.posts_received(websocket, channel))
