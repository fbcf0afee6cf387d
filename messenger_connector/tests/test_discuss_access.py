import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException

from . import test_access_matrix as matrix


@tagged("post_install", "-at_install")
class TestDiscussAccess(HttpCase, matrix.TestAccessMatrix):
    """Who is in which chat: every role of the README's matrix, by every path to a chat's messages."""

    # the matrix's own tests run in their module; here the same users and chats, seen through Discuss
    test_matrix = test_access_moves_with_the_lead = None
    test_attachments_follow_the_conversation = test_reply_goes_out_when_its_author_lost_access_meanwhile = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # OdooBot's welcome chat is not what these requests look at
        cls.env["res.users"].search([("share", "=", False)]).odoobot_state = "disabled"
        for key, chat in cls.chats.items():
            chat.messenger_message_ids._post_to_channels()
            cls.env["ir.attachment"].create({
                "name": f"{key}.txt", "raw": b"private", "res_model": "messenger.conversation", "res_id": chat.id})
        cls.files = {key: cls.env["ir.attachment"].search([("name", "=", f"{key}.txt")]) for key in cls.chats}
        for key, chat in cls.chats.items():
            chat.channel_id.message_ids.filtered(lambda m: m.message_type == "comment").sudo().attachment_ids = \
                cls.files[key]

    def members(self, key):
        return self.chats[key].channel_id.channel_member_ids.partner_id.user_ids

    def test_members_are_the_chats_people_and_may_read_it(self):
        self.assertEqual(self.members("lead_a"), self.sales_a)
        self.assertEqual(self.members("lead_b"), self.sales_b)
        self.assertIn(self.interviewer_y, self.members("app_y"))
        self.assertEqual(self.members("unlinked"), self.team_member)
        expected = self.expected()
        for key, chat in self.chats.items():
            for user in self.members(key):
                self.assertIn(key, expected.get(user, {key}) if user in expected else {key}, user.login)
                self.assertTrue(chat.with_user(user).has_access("read"))

    def test_every_role_by_every_orm_path(self):
        for user, allowed in self.expected().items():
            for key, chat in self.chats.items():
                channel = chat.channel_id
                post = channel.message_ids.filtered(lambda m: m.message_type == "comment")
                member = user.partner_id in channel.channel_member_ids.partner_id
                with self.subTest(user=user.login, chat=key):
                    if key not in allowed:
                        self.assertFalse(member)
                        self.assertFalse(channel.with_user(user).has_access("read"))
                        self.assertFalse(self.env["discuss.channel"].with_user(user).search([("id", "=", channel.id)]))
                        self.assertFalse(self.env["discuss.channel.member"].with_user(user).search(
                            [("channel_id", "=", channel.id)]))
                        self.assertFalse(self.env["mail.message"].with_user(user).search(
                            [("model", "=", "discuss.channel"), ("res_id", "=", channel.id)]))
                        with self.assertRaises(AccessError):
                            post.with_user(user).read(["body"])
                        with self.assertRaises(AccessError):
                            self.files[key].with_user(user).read(["raw"])
                        with self.assertRaises(AccessError):
                            chat.with_user(user).action_open_chat()
                    elif member:
                        self.assertTrue(channel.with_user(user).has_access("read"))
                        self.assertTrue(post.with_user(user).read(["body"]))
                    else:
                        # may read the conversation: opening the chat makes them a member
                        chat.with_user(user).action_open_chat()
                        self.assertTrue(channel.with_user(user).has_access("read"))

    def test_every_role_by_the_web_routes(self):
        for user, allowed in self.expected().items():
            self.authenticate(user.login, user.login)
            for key, chat in self.chats.items():
                if key in allowed:
                    continue
                channel = chat.channel_id
                with self.subTest(user=user.login, chat=key):
                    self.assertRefused("/discuss/channel/messages", {"channel_id": channel.id})
                    self.assertRefused("/mail/message/post", {
                        "thread_model": "discuss.channel", "thread_id": channel.id,
                        "post_data": {"body": "hi", "message_type": "comment"}})
                    self.assertRefused("/web/dataset/call_kw/discuss.channel/read", {
                        "model": "discuss.channel", "method": "read", "args": [[channel.id], ["name"]],
                        "kwargs": {}})
                    response = self.url_open(f"/web/content/{self.files[key].id}")
                    self.assertIn(response.status_code, (403, 404))
                    store = self.make_jsonrpc_request("/mail/data", {"init_messaging": {}})
                    self.assertNotIn(channel.id, [c["id"] for c in store.get("discuss.channel", [])])

    def assertRefused(self, route, params):
        try:
            result = self.make_jsonrpc_request(route, params)
        except (JsonRpcException, requests.HTTPError):
            return
        self.fail(f"{route} answered {result!r}")

    def test_membership_follows_the_lead(self):
        chat = self.chats["lead_a"]
        chat.lead_id.user_id = self.sales_b
        self.assertEqual(self.members("lead_a"), self.sales_b)
        self.assertFalse(chat.channel_id.with_user(self.sales_a).has_access("read"))
        self.assertTrue(chat.channel_id.with_user(self.sales_b).has_access("read"))

    def test_membership_follows_the_application(self):
        chat = self.chats["app_y"]
        self.assertIn(self.interviewer_y, self.members("app_y"))
        chat.applicant_id.job_id = self.job_x
        self.assertNotIn(self.interviewer_y, self.members("app_y"))
        self.assertFalse(chat.channel_id.with_user(self.interviewer_y).has_access("read"))
        self.chats["app_x"].applicant_id.job_id = self.job_y
        self.assertIn(self.interviewer_y, self.members("app_x"))

    def test_membership_follows_the_team(self):
        self.wa_account.user_ids = self.user_agent
        self.assertEqual(self.members("unlinked"), self.user_agent)
        self.assertFalse(self.chats["unlinked"].channel_id.with_user(self.team_member).has_access("read"))

    def test_membership_follows_a_new_link(self):
        chat = self.chats["unlinked"]
        chat.lead_id = self.chats["lead_a"].lead_id
        self.assertEqual(self.members("unlinked"), self.sales_a)

    def test_membership_follows_the_users_groups(self):
        self.assertIn(self.sales_a, self.members("lead_a"))
        self.sales_a.groups_id = [(3, self.env.ref("sales_team.group_sale_salesman").id)]
        self.assertNotIn(self.sales_a, self.members("lead_a"))
        self.assertFalse(self.chats["lead_a"].channel_id.with_user(self.sales_a).has_access("read"))

    def test_agent_handed_over_must_read_it(self):
        chat = self.chats["lead_a"]
        with self.assertRaises(UserError):
            chat.with_user(self.sales_manager).action_assign(self.sales_b.id, "please")
