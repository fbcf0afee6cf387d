from odoo.tests import tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestRecruitment(MessengerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wa_account.wa_display_phone = "+32 470 00 00 99"
        cls.tg_account.tg_bot_username = "jobs_bot"
        cls.job = cls.env["hr.job"].create({"name": "Warehouse Operator"})
        cls.ref = f"JOB-{cls.job.id}"

    def applicants(self):
        return self.env["hr.applicant"].search([("job_id", "=", self.job.id)])

    def test_click_to_chat_links_and_qr(self):
        links = dict((account.name, url) for account, url in self.job._messenger_apply_links())
        self.assertEqual(links["WA test"], f"https://wa.me/32470000099?text={self.ref}")
        self.assertEqual(links["TG test"], f"https://t.me/jobs_bot?start={self.ref}")
        self.assertIn("data:image/png;base64,", self.job.messenger_apply_html)
        self.assertIn(f"https://t.me/jobs_bot?start={self.ref}", self.job.messenger_apply_html)

    def test_whatsapp_apply_once_even_when_delivered_twice(self):
        payload = self.wa_text("32470300300", self.ref, "wamid.J1", name="Ali Apply")
        self.receive(self.wa_account, payload)
        self.receive(self.wa_account, payload)  # redelivered
        self.receive(self.wa_account, self.wa_text("32470300300", f"{self.ref} again?", "wamid.J2", name="Ali Apply"))
        applicant = self.applicants()
        self.assertEqual(len(applicant), 1)
        self.assertEqual(self.env["hr.candidate"].search_count([("partner_name", "=", "Ali Apply")]), 1)
        conversation = self.conversation(self.wa_account, "32470300300")
        self.assertEqual(conversation.applicant_id, applicant)
        self.assertEqual(conversation.candidate_id, applicant.candidate_id)
        self.assertEqual(applicant.partner_id, conversation.partner_id)
        first_stage = self.env["hr.recruitment.stage"].search(
            ["|", ("job_ids", "=", False), ("job_ids", "=", self.job.id)], order="sequence asc", limit=1)
        self.assertEqual(applicant.stage_id, first_stage)
        self.assertEqual(applicant.source_id, self.env.ref("messenger_connector.utm_source_whatsapp"))
        self.assertEqual(applicant.medium_id, self.env.ref("messenger_connector.utm_medium_messenger"))
        self.assertEqual(applicant.messenger_conversation_count, 1)
        bodies = self.env["mail.message"].search([("model", "=", "hr.applicant"), ("res_id", "=", applicant.id)]
                                                 ).mapped("body")
        self.assertTrue(any("again?" in b for b in bodies), "messages appear in the applicant's chatter")

    def test_telegram_start_payload_applies(self):
        self.receive(self.tg_account, fakes.tg_update(71, text=f"/start {self.ref}", chat_id=717171,
                                                       first_name="Tina", last_name="Start"))
        self.receive(self.tg_account, fakes.tg_update(71, text=f"/start {self.ref}", chat_id=717171,
                                                       first_name="Tina", last_name="Start"))
        applicant = self.applicants()
        self.assertEqual(len(applicant), 1)
        self.assertEqual(applicant.partner_name, "Tina Start")
        self.assertEqual(applicant.source_id, self.env.ref("messenger_connector.utm_source_telegram"))

    def test_unknown_or_archived_job_reference_creates_nothing(self):
        archived = self.env["hr.job"].create({"name": "Old", "active": False})
        self.receive(self.wa_account, self.wa_text("32470300301", f"JOB-{archived.id}", "wamid.J3"))
        self.receive(self.wa_account, self.wa_text("32470300302", "JOB-999999999", "wamid.J4"))
        self.assertFalse(self.env["hr.applicant"].search([("job_id", "=", archived.id)]))
        self.assertFalse(self.conversation(self.wa_account, "32470300302").applicant_id)

    def test_existing_candidate_chat_linked_and_answered_from_applicant(self):
        partner = self.env["res.partner"].create({"name": "Cara Cand", "mobile": "+32470300303"})
        candidate = self.env["hr.candidate"].create({"partner_id": partner.id, "partner_name": "Cara Cand"})
        applicant = self.env["hr.applicant"].create({"candidate_id": candidate.id, "job_id": self.job.id})
        self.receive(self.wa_account, self.wa_text("32470300303", "When is my interview?", "wamid.J5"))
        conversation = self.conversation(self.wa_account, "32470300303")
        self.assertEqual((conversation.candidate_id, conversation.applicant_id), (candidate, applicant))
        action = applicant.action_messenger_send()
        wizard = self.env["messenger.compose"].with_context(**action["context"]).create({"body": "Tuesday 10:00"})
        self.assertEqual(wizard.conversation_id, conversation)
        wizard.action_send()
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["text"], "Tuesday 10:00")
        self.assertEqual(candidate.messenger_conversation_count, 1)
