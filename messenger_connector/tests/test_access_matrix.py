from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestAccessMatrix(MessengerCase):
    """Who may read, write and post on which chat: access follows the linked lead or applicant."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env

        def user(login, groups, **kw):
            return new_test_user(env, login=login, groups=",".join(["base.group_user"] + groups), name=login, **kw)

        cls.sales_a = user("sales_a", ["sales_team.group_sale_salesman"])
        cls.sales_b = user("sales_b", ["sales_team.group_sale_salesman"])
        cls.sales_manager = user("sales_mgr", ["sales_team.group_sale_manager"])
        cls.recruiter_x = user("recruiter_x", ["hr_recruitment.group_hr_recruitment_user"])
        cls.interviewer_y = user("interviewer_y", ["hr_recruitment.group_hr_recruitment_interviewer"])
        cls.company_b = env["res.company"].create({"name": "Elsewhere Ltd"})
        cls.other_company = user(
            "other_co", ["sales_team.group_sale_manager", "hr_recruitment.group_hr_recruitment_manager",
                         "messenger_connector.group_messenger_manager"],
            company_id=cls.company_b.id, company_ids=[(6, 0, cls.company_b.ids)])
        cls.team_member = user("team_member", ["messenger_connector.group_messenger_user"])
        cls.wa_account.user_ids = cls.team_member

        cls.job_x = env["hr.job"].create({"name": "Job X", "user_id": cls.recruiter_x.id})
        cls.job_y = env["hr.job"].create({"name": "Job Y", "interviewer_ids": [(6, 0, cls.interviewer_y.ids)]})
        Conversation = env["messenger.conversation"]

        def conversation(wa_id, **links):
            partner = env["res.partner"].create({"name": f"Person {wa_id}"})
            return Conversation.create(dict(links, account_id=cls.wa_account.id, external_user_id=f"3247000{wa_id}",
                                            partner_id=partner.id))

        def applicant(job, name):
            candidate = env["hr.candidate"].create({"partner_name": name})
            return env["hr.applicant"].create({"candidate_id": candidate.id, "job_id": job.id})

        lead_a = env["crm.lead"].create({"name": "Lead of A", "user_id": cls.sales_a.id, "type": "opportunity"})
        lead_b = env["crm.lead"].create({"name": "Lead of B", "user_id": cls.sales_b.id, "type": "opportunity"})
        app_x, app_y = applicant(cls.job_x, "Xavier"), applicant(cls.job_y, "Yara")
        cls.chats = {
            "lead_a": conversation("1001", lead_id=lead_a.id),
            "lead_b": conversation("1002", lead_id=lead_b.id),
            "app_x": conversation("1003", applicant_id=app_x.id, candidate_id=app_x.candidate_id.id),
            "app_y": conversation("1004", applicant_id=app_y.id, candidate_id=app_y.candidate_id.id),
            "unlinked": conversation("1005"),
        }
        for chat in cls.chats.values():
            env["messenger.message"].create({"conversation_id": chat.id, "direction": "in", "body": "hello",
                                             "state": "received", "external_id": f"wamid.{chat.external_user_id}"})

    # user -> the chats that user may read, write and post on (everything else: denied)
    def expected(self):
        return {
            self.sales_a: {"lead_a"},
            self.sales_b: {"lead_b"},
            self.sales_manager: {"lead_a", "lead_b"},
            self.recruiter_x: {"app_x", "app_y"},  # Odoo lets recruitment officers see every applicant
            self.interviewer_y: {"app_y"},
            self.other_company: set(),
            self.team_member: {"unlinked"},
            self.user_manager: {"lead_a", "lead_b", "app_x", "app_y", "unlinked"},
        }

    def test_matrix(self):
        all_ids = [c.id for c in self.chats.values()]
        for user, allowed in self.expected().items():
            Conversation = self.env["messenger.conversation"].with_user(user)
            visible = Conversation.search([("id", "in", all_ids)])
            self.assertEqual({k for k, c in self.chats.items() if c in visible}, allowed, user.login)
            for key, chat in self.chats.items():
                chat = chat.with_user(user)
                ok = key in allowed
                with self.subTest(user=user.login, chat=key):
                    self.assertEqual(chat.has_access("read"), ok)
                    self.assertEqual(chat.has_access("write"), ok)
                    self.assertEqual(self.chats[key].messenger_message_ids.with_user(user).has_access("read"), ok)
                    if ok:
                        chat.message_post(body="note", message_type="comment", subtype_xmlid="mail.mt_note")
                        self.assertEqual(chat.messenger_message_ids.body, "hello")
                    else:
                        with self.assertRaises(AccessError):
                            chat.message_post(body="note", message_type="comment", subtype_xmlid="mail.mt_note")
                        with self.assertRaises(AccessError):
                            chat.write({"needs_review": True})

    def test_access_moves_with_the_lead(self):
        chat = self.chats["lead_a"]
        self.assertFalse(chat.with_user(self.sales_b).has_access("read"))
        chat.lead_id.user_id = self.sales_b
        self.assertTrue(chat.with_user(self.sales_b).has_access("read"))
        self.assertFalse(chat.with_user(self.sales_a).has_access("read"))

    def test_attachments_follow_the_conversation(self):
        chat = self.chats["lead_a"]
        attachment = self.env["ir.attachment"].create({
            "name": "cv.pdf", "raw": b"%PDF", "res_model": "messenger.conversation", "res_id": chat.id})
        self.assertEqual(attachment.with_user(self.sales_a).read(["name"])[0]["name"], "cv.pdf")
        with self.assertRaises(AccessError):
            attachment.with_user(self.sales_b).read(["name"])
        self.assertFalse(self.env["ir.attachment"].with_user(self.sales_b).search([("id", "=", attachment.id)]))

    def test_reply_goes_out_when_its_author_lost_access_meanwhile(self):
        chat = self.chats["lead_a"]
        chat.write({"window_expires_at": "2999-01-01 00:00:00", "last_inbound_at": "2026-01-01 00:00:00"})
        chat.with_user(self.sales_a).action_send_text("Your quote is attached")
        chat.lead_id.user_id = self.sales_b  # reassigned before the sender ran
        self.env["messenger.message"]._cron_send()
        message = chat.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "sent", message.error_message)
        self.assertEqual(message.write_uid, self.sales_a)
