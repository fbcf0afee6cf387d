from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestRouting(MessengerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.team = cls.env["crm.team"].create({"name": "Chat Team"})
        cls.seller_1 = new_test_user(cls.env, login="seller1", groups="base.group_user,sales_team.group_sale_salesman")
        cls.seller_2 = new_test_user(cls.env, login="seller2", groups="base.group_user,sales_team.group_sale_salesman")
        cls.env["crm.team.member"].create([{"crm_team_id": cls.team.id, "user_id": u.id}
                                           for u in (cls.seller_1, cls.seller_2)])
        cls.job = cls.env["hr.job"].create({"name": "Driver"})
        Rule = cls.env["messenger.routing.rule"]
        cls.rule_sales = Rule.create({"name": "Sales", "account_id": cls.wa_account.id, "sequence": 10,
                                      "match_type": "keyword", "pattern": "price, quote", "action": "lead",
                                      "team_id": cls.team.id})
        cls.rule_jobs = Rule.create({"name": "Jobs", "account_id": cls.wa_account.id, "sequence": 20,
                                     "match_type": "regex", "pattern": r"\b(job|career|vacanc\w*)\b",
                                     "action": "applicant", "job_id": cls.job.id,
                                     "reply_text": "Thanks! A recruiter will contact you."})
        cls.rule_button = Rule.create({"name": "Support button", "account_id": cls.wa_account.id, "sequence": 5,
                                       "match_type": "payload", "pattern": "SUPPORT", "action": "assign_team",
                                       "team_id": cls.team.id})
        cls.fallback = Rule.create({"name": "Everyone else", "account_id": cls.wa_account.id, "is_fallback": True,
                                    "action": "assign_user", "user_id": cls.user_agent.id})

    def first_message(self, wa_id, text, **kw):
        self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.{wa_id}.{len(text)}", name=f"P {wa_id}", **kw))
        return self.conversation(self.wa_account, wa_id)

    def test_keyword_creates_lead_in_team(self):
        conversation = self.first_message("3247100001", "What is the PRICE of a desk?")
        self.assertEqual(conversation.lead_id.team_id, self.team)
        self.assertEqual(conversation.team_id, self.team)

    def test_several_matches_first_in_sequence_wins(self):
        conversation = self.first_message("3247100002", "Is there a job? And a quote for a desk?")
        self.assertTrue(conversation.lead_id, "Sales (sequence 10) wins over Jobs (20)")
        self.assertFalse(conversation.applicant_id)

    def test_regex_creates_applicant_and_replies(self):
        conversation = self.first_message("3247100003", "Any vacancies for drivers?")
        self.assertEqual(conversation.applicant_id.job_id, self.job)
        self.send_queued()
        self.assertEqual(self.fake_wa.sent[-1]["text"], "Thanks! A recruiter will contact you.")
        self.assertEqual(conversation.state, "waiting", "an automatic reply is not an agent's answer")

    def test_payload_assigns_least_busy_team_member(self):
        Conversation = self.env["messenger.conversation"]
        Conversation.create({"account_id": self.tg_account.id, "external_user_id": "busy", "user_id": self.seller_1.id})
        button = fakes.wa_payload(messages=[fakes.wa_message("3247100004", "interactive", {
            "type": "button_reply", "button_reply": {"id": "SUPPORT", "title": "Support"}}, wamid="wamid.B1")],
            contacts=[fakes.wa_contact("3247100004", "Bo Button")])
        self.receive(self.wa_account, button)
        conversation = self.conversation(self.wa_account, "3247100004")
        self.assertEqual(conversation.team_id, self.team)
        self.assertEqual(conversation.user_id, self.seller_2)

    def test_no_match_fallback(self):
        conversation = self.first_message("3247100005", "Hello there")
        self.assertEqual(conversation.user_id, self.user_agent)
        self.assertFalse(conversation.lead_id)

    def test_no_match_no_fallback_does_nothing(self):
        self.fallback.active = False
        conversation = self.first_message("3247100006", "Hello there")
        self.assertFalse(conversation.user_id)
        self.assertFalse(conversation.lead_id)

    def test_rules_run_once_per_conversation_unless_every_message(self):
        conversation = self.first_message("3247100007", "Hello")
        self.assertFalse(conversation.lead_id)
        self.first_message("3247100007", "Now a quote please")
        self.assertFalse(conversation.lead_id, "start rules do not run again")
        self.rule_sales.apply_on = "every"
        self.first_message("3247100007", "quote, really")
        self.assertTrue(conversation.lead_id)

    def test_invalid_rules_refused(self):
        Rule = self.env["messenger.routing.rule"]
        with self.assertRaises(ValidationError):
            Rule.create({"name": "Bad", "account_id": self.wa_account.id, "match_type": "regex", "pattern": "(",
                         "action": "assign_user", "user_id": self.user_agent.id})
        with self.assertRaises(ValidationError):
            Rule.create({"name": "No job", "account_id": self.wa_account.id, "pattern": "x", "action": "applicant"})
