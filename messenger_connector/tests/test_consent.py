from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestConsent(MessengerCase):

    def setUp(self):
        super().setUp()
        self.counter = 0

    def write_in(self, wa_id, text, name="Cora Consent"):
        self.counter += 1
        self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.C{wa_id}.{self.counter}", name=name))
        return self.conversation(self.wa_account, wa_id)

    def blacklisted(self, number):
        return bool(self.env["phone.blacklist"].sudo().search([("number", "=", number), ("active", "=", True)]))

    def record(self, conversation, action, purposes, reason="Signed the newsletter form", source="manual"):
        wizard = self.env["messenger.consent.record"].create({
            "conversation_id": conversation.id, "action": action, "source": source, "reason": reason,
            **{f"purpose_{p}": p in purposes for p in ("service", "marketing", "recruiting")}})
        wizard.action_record()

    def test_first_contact_is_recorded_as_service_opt_in(self):
        conversation = self.write_in("3247000001", "Hello, a question")
        entry = conversation.consent_ids
        self.assertEqual((entry.purpose, entry.action, entry.source), ("service", "opt_in", "inbound"))
        self.assertEqual(entry.evidence, "Hello, a question")
        self.assertEqual(entry.partner_id, conversation.partner_id)
        self.assertEqual(conversation.partner_id.messenger_consent_ids, entry)
        self.assertEqual(conversation.consent_service, "opt_in")

    def test_enforcement_paths(self):
        conversation = self.write_in("3247000002", "Hi")
        conversation.action_send_text("A reply inside the window is service")
        conversation.action_send_template("order_update", "en", ["42"])  # service, opted in by writing
        with self.assertRaisesRegex(UserError, "No opt-in of .* for marketing messages"):
            conversation.action_send_template("promo", "en", purpose="marketing")
        with self.assertRaisesRegex(UserError, "No opt-in of .* for recruiting messages"):
            conversation.action_send_text("We have a job for you", purpose="recruiting")
        with self.assertRaisesRegex(UserError, "needs a reason"):
            self.record(conversation, "opt_in", ["marketing"], reason="")
        self.record(conversation, "opt_in", ["marketing"])
        conversation.action_send_template("promo", "en", purpose="marketing")
        self.assertEqual(len(conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")), 3)
        entry = conversation.consent_ids[0]
        self.assertEqual((entry.purpose, entry.source, entry.user_id), ("marketing", "manual", self.env.user))

    def test_opt_out_keywords_in_several_languages(self):
        for index, text in enumerate(["STOP", "stop", "  Stop! ", "STOPP", "abmelden", "Unsubscribe", "退订", "取消订阅"]):
            wa_id = f"3247000{index:04d}"
            conversation = self.write_in(wa_id, text)
            self.assertTrue(conversation.opted_out, text)
            entry = conversation.consent_ids.filtered(lambda e: e.purpose == "marketing")
            self.assertEqual((entry.action, entry.source, entry.evidence), ("opt_out", "keyword", text))
            self.assertTrue(self.blacklisted(f"+{wa_id}"), text)
        self.assertFalse(self.write_in("3247000199", "please do not stop the delivery").opted_out)

    def test_one_confirmation_and_opt_out_holds(self):
        conversation = self.write_in("32470000300", "STOP")
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent], [self.wa_account.opt_out_confirmation])
        with self.assertRaisesRegex(UserError, "opted out of service messages"):
            conversation.action_send_text("But wait")
        self.write_in("32470000300", "Hello? Are you there?")  # writing again does not undo the opt-out
        self.assertTrue(conversation.opted_out)
        with self.assertRaisesRegex(UserError, "opted out"):
            conversation.action_send_text("Answer")
        self.send_queued()
        self.assertEqual(len(self.fake_wa.sent), 1, "one confirmation, nothing else")
        # START opts in again, explicitly
        self.write_in("32470000300", "start")
        self.assertFalse(conversation.opted_out)
        self.assertEqual(conversation.consent_service, "opt_in")
        self.assertFalse(self.blacklisted("+32470000300"))
        conversation.action_send_text("Welcome back")
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent][1:],
                         [self.wa_account.opt_in_confirmation, "Welcome back"])

    def test_whatsapp_marketing_stop_and_resume(self):
        conversation = self.write_in("32470000400", "Hi")
        self.record(conversation, "opt_in", ["marketing"])
        self.receive(self.wa_account, fakes.wa_payload(field="user_preferences", value_extra={
            "user_preferences": [fakes.wa_preference("32470000400", "stop", timestamp=1732000000)]}))
        self.assertEqual(conversation.consent_marketing, "opt_out")
        self.assertTrue(self.blacklisted("+32470000400"))
        entry = conversation.consent_ids[0]
        self.assertEqual((entry.source, entry.purpose), ("platform", "marketing"))
        conversation.action_send_text("Service still works")
        with self.assertRaisesRegex(UserError, "opted out of marketing"):
            conversation.action_send_template("promo", "en", purpose="marketing")
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent], ["Service still works"], "no confirmation")
        self.receive(self.wa_account, fakes.wa_payload(field="user_preferences", value_extra={
            "user_preferences": [fakes.wa_preference("32470000400", "resume", timestamp=1732000100)]}))
        self.assertEqual(conversation.consent_marketing, "opt_in")
        conversation.action_send_template("promo", "en", purpose="marketing")

    def test_telegram_block_then_unblock(self):
        self.receive(self.tg_account, fakes.tg_update(801, text="hi", chat_id=880001, first_name="Bob"))
        conversation = self.conversation(self.tg_account, "880001")
        self.receive(self.tg_account, fakes.tg_member_update(802, "kicked", chat_id=880001))
        self.assertTrue(conversation.blocked)
        self.assertTrue(conversation.opted_out)
        self.receive(self.tg_account, fakes.tg_member_update(803, "member", chat_id=880001))
        self.assertFalse(conversation.blocked)
        # the person came back: the service conversation goes on; what they opted out of otherwise stays
        conversation.action_send_text("Welcome back")
        with self.assertRaisesRegex(UserError, "opted out"):
            conversation.action_send_text("Our offers", purpose="marketing")
        self.receive(self.tg_account, fakes.tg_update(804, text="START", chat_id=880001, first_name="Bob"))
        conversation.action_send_text("Now it works", purpose="marketing")

    def test_log_is_append_only(self):
        entry = self.write_in("3247000500", "Hi").consent_ids
        with self.assertRaises(UserError):
            entry.write({"action": "opt_out"})
        with self.assertRaises(UserError):
            entry.sudo().unlink()

    def test_consent_visible_on_lead_and_applicant(self):
        conversation = self.write_in("3247000600", "Hi")
        lead = self.env["crm.lead"].create({"name": "L", "partner_id": conversation.partner_id.id})
        candidate = self.env["hr.candidate"].create({"partner_id": conversation.partner_id.id, "partner_name": "C"})
        applicant = self.env["hr.applicant"].create({"candidate_id": candidate.id})
        self.assertEqual(lead.messenger_consent_ids, conversation.consent_ids)
        self.assertEqual(applicant.messenger_consent_ids, conversation.consent_ids)
        self.assertEqual(candidate.messenger_consent_ids, conversation.consent_ids)

    def test_keywords_are_configurable(self):
        Keyword = self.env["messenger.consent.keyword"]
        Keyword.create({"keyword": "Basta", "lang": "it"})
        self.assertTrue(self.write_in("32470000700", "basta!").opted_out)
        self.env.ref("messenger_connector.keyword_stop").active = False
        self.assertFalse(self.write_in("32470000701", "STOP").opted_out)

    def test_platform_refusing_a_marketing_template_is_a_marketing_opt_out(self):
        conversation = self.write_in("32470000800", "Hi")
        self.record(conversation, "opt_in", ["marketing"])
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131050, "User stopped marketing messages"))
        conversation.action_send_template("promo", "en", purpose="marketing")
        self.send_queued()
        failed = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((failed.state, failed.error_code), ("failed", "131050"))
        self.assertEqual(conversation.consent_marketing, "opt_out")
        self.assertFalse(conversation.blocked, "only marketing is refused")
        with self.assertRaisesRegex(UserError, "opted out of marketing"):
            failed.action_retry()
        conversation.action_send_text("Service replies still go out")
