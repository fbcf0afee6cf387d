import datetime

from markupsafe import Markup

from odoo import fields, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.messenger_connector.models.messenger_message import SENDER_LOCK_KEY
from .common import MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestSendingRules(MessengerCase):
    """The rules of the outbound path hold for any call through the ORM, as restricted users."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = new_test_user(
            cls.env, login="mc_rules_sales", groups="base.group_user,sales_team.group_sale_salesman",
            name="Sam Sales")
        cls.lead = cls.env["crm.lead"].create({"name": "Sam's lead", "user_id": cls.salesman.id})
        cls.admin_lead = cls.env["crm.lead"].create({"name": "Admin's lead", "user_id": cls.env.ref("base.user_admin").id})
        cls.secret = cls.env["ir.attachment"].create({
            "name": "admin-only.pdf", "raw": b"%PDF secret", "res_model": "crm.lead", "res_id": cls.admin_lead.id})

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470777001", "Hello, a question", "wamid.R1", name="Rita"))
        self.conv = self.conversation(self.wa_account, "32470777001")
        self.conv.lead_id = self.lead
        self.inbound = self.conv.messenger_message_ids

    def outbound(self):
        return self.conv.messenger_message_ids.filtered(lambda m: m.direction == "out")

    # --- messages are the addon's to create and change --------------------------------------------------

    def test_users_cannot_queue_messages_through_the_orm(self):
        Message = self.env["messenger.message"]
        for user in (self.salesman, self.user_agent):
            self.conv.lead_id = self.lead if user == self.salesman else False
            with self.assertRaises(AccessError):
                Message.with_user(user).create({
                    "conversation_id": self.conv.id, "direction": "out", "state": "queued", "body": "Sneaky",
                    "author_id": self.env.ref("base.user_admin").id,
                    "attachment_ids": [(6, 0, self.secret.ids)]})
            with self.assertRaises(AccessError):
                self.conv.with_user(user).write({"messenger_message_ids": [(0, 0, {
                    "direction": "out", "state": "queued", "body": "Sneaky too"})]})
        self.send_queued()
        self.assertEqual(self.fake_wa.sent, [])

    def test_users_cannot_requeue_move_or_rewrite_messages(self):
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(100, "(#100) Invalid parameter"))
        self.conv.with_user(self.salesman).action_send_text("First try")
        self.send_queued()
        failed = self.outbound()
        self.assertEqual(failed.state, "failed")
        other = self.env["messenger.conversation"].create({
            "account_id": self.wa_account.id, "external_user_id": "32470777999", "lead_id": self.lead.id})
        as_sales = failed.with_user(self.salesman)
        for vals in ({"state": "queued"}, {"conversation_id": other.id, "state": "queued"},
                     {"body": "Changed"}, {"author_id": self.user_agent.id}, {"external_id": "wamid.X"},
                     {"sent_at": fields.Datetime.now()}, {"attachment_ids": [(6, 0, self.secret.ids)]}):
            with self.assertRaises(AccessError, msg=str(vals)):
                as_sales.write(vals)
        with self.assertRaises(AccessError):
            self.inbound.with_user(self.salesman).write({"body": "What the customer never said"})
        with self.assertRaises(AccessError):
            self.conv.with_user(self.salesman).write({"messenger_message_ids": [(1, self.inbound.id, {"body": "Rewritten"})]})
        self.assertEqual(self.inbound.body, "Hello, a question")
        # the public way: Retry, which checks again
        as_sales.action_retry()
        self.send_queued()
        self.assertEqual(failed.state, "sent")
        self.assertEqual([m["text"] for m in self.fake_wa.sent], ["First try"])

    def test_users_cannot_redirect_a_chat_or_open_its_window_by_hand(self):
        as_sales = self.conv.with_user(self.salesman)
        future = fields.Datetime.now() + datetime.timedelta(days=5)
        for vals in ({"external_user_id": "32470555555"}, {"phone": "+32470555555"}, {"blocked": False},
                     {"window_expires_at": future}, {"last_inbound_at": future}):
            with self.assertRaises(AccessError, msg=str(vals)):
                as_sales.write(vals)
        with self.assertRaises(AccessError):
            self.env["messenger.conversation"].with_user(self.salesman).create({
                "account_id": self.wa_account.id, "external_user_id": "32470555556", "lead_id": self.lead.id,
                "window_expires_at": future})
        as_sales.write({"user_id": self.salesman.id})  # working the chat stays possible

    def test_users_link_a_chat_only_to_records_they_may_edit(self):
        applicant = self.env["hr.applicant"].create({
            "candidate_id": self.env["hr.candidate"].create({"partner_name": "Someone else's candidate"}).id})
        as_sales = self.conv.with_user(self.salesman)
        for vals in ({"lead_id": self.admin_lead.id}, {"applicant_id": applicant.id}):
            with self.assertRaises(AccessError, msg=str(vals)):
                as_sales.write(vals)
        with self.assertRaises(AccessError):
            self.env["messenger.conversation"].with_user(self.salesman).create({
                "account_id": self.wa_account.id, "external_user_id": "32470555557", "lead_id": self.lead.id,
                "applicant_id": applicant.id})
        self.assertEqual((self.conv.lead_id, self.conv.applicant_id), (self.lead, applicant.browse()))
        other_lead = self.env["crm.lead"].create({"name": "Sam's second lead", "user_id": self.salesman.id})
        as_sales.write({"lead_id": other_lead.id})  # moving it between their own records stays possible
        self.assertEqual(self.conv.lead_id, other_lead)

    def test_chatter_posts_of_the_chat_keep_what_was_sent_and_received(self):
        self.conv.with_user(self.salesman).action_send_text("The price is 100")
        posts = (self.outbound() | self.inbound).chatter_message_ids
        self.assertEqual(set(posts.mapped("model")), {"crm.lead", "discuss.channel"})
        for post in posts:
            record = self.env[post.model].browse(post.res_id).with_user(self.salesman)
            with self.assertRaises(UserError, msg=post.model):
                record._message_update_content(post.sudo(), "The price is 50")
            with self.assertRaises(UserError, msg=post.model):
                post.with_user(self.salesman).write({"body": "The price is 50"})
            with self.assertRaises(UserError, msg=post.model):
                post.with_user(self.salesman).unlink()
        self.assertTrue(all("50" not in post.body for post in posts))
        note = self.lead.with_user(self.salesman).message_post(body="My own note", message_type="comment")
        self.lead.with_user(self.salesman)._message_update_content(note.sudo(), "My own note, edited")
        self.assertIn("edited", note.body, "ordinary chatter posts stay editable")

    def test_attachments_are_the_senders_readable_files_copied_to_the_message(self):
        with self.assertRaises(AccessError):
            self.conv.with_user(self.salesman).action_send_text("Look", attachment_ids=self.secret.ids)
        own = self.env["ir.attachment"].with_user(self.salesman).create({
            "name": "quote.pdf", "raw": b"%PDF quote", "res_model": "crm.lead", "res_id": self.lead.id})
        message_id = self.conv.with_user(self.salesman).action_send_text("Your quote", attachment_ids=own.ids)
        message = self.env["messenger.message"].browse(message_id)
        self.assertEqual(message.author_id, self.salesman)
        self.assertEqual(len(message.attachment_ids), 1)
        self.assertNotEqual(message.attachment_ids, own, "a copy: the lead keeps its file")
        self.assertEqual((message.attachment_ids.res_model, message.attachment_ids.res_id),
                         ("messenger.conversation", self.conv.id))
        self.assertEqual((own.res_model, own.res_id), ("crm.lead", self.lead.id))
        self.send_queued()
        self.assertEqual(message.state, "sent", message.error_message)
        self.assertEqual(self.fake_wa.sent[-1]["type"], "document")

    # --- the sender checks again right before the call ---------------------------------------------------

    def test_opt_out_after_queueing_fails_the_message_with_its_reason(self):
        self.conv.with_user(self.salesman).action_send_text("Our offer")
        message = self.outbound()
        self.receive(self.wa_account, self.wa_text("32470777001", "STOP", "wamid.R2", name="Rita"))
        self.send_queued()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "refused")
        self.assertIn("opted out", message.error_message)
        self.assertNotIn("Our offer", [m["text"] for m in self.fake_wa.sent], "nothing reached the person")
        with self.assertRaisesRegex(UserError, "opted out"):
            message.with_user(self.salesman).action_retry()

    def test_block_and_window_are_checked_again_before_the_call(self):
        self.conv.with_user(self.salesman).action_send_text("Still there?")
        message = self.outbound()
        past = fields.Datetime.now() - datetime.timedelta(hours=30)
        self.conv.write({"last_inbound_at": past, "window_expires_at": past + datetime.timedelta(hours=24)})
        self.send_queued()
        self.assertEqual((message.state, message.error_code), ("failed", "refused"))
        self.assertIn("reply window", message.error_message)
        self.assertEqual(self.fake_wa.sent, [])

    # --- a database error after the call -------------------------------------------------------------------

    def test_database_error_after_the_call_keeps_the_answer_and_frees_the_sender_lock(self):
        self.conv.with_user(self.salesman).action_send_text("Answer me once")
        message = self.outbound()
        cr = self.env.cr
        # a real database error on the first attempt to record "sent" (as a concurrent update would raise)
        cr.execute("CREATE SEQUENCE mc_test_fail_once")
        cr.execute("""
            CREATE FUNCTION mc_test_fail_sent() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.state = 'sent' AND nextval('mc_test_fail_once') = 1 THEN
                    RAISE EXCEPTION 'could not serialize access due to concurrent update' USING ERRCODE = '40001';
                END IF;
                RETURN NEW;
            END $$""")
        cr.execute("CREATE TRIGGER mc_test_fail_sent BEFORE UPDATE ON messenger_message "
                   "FOR EACH ROW EXECUTE FUNCTION mc_test_fail_sent()")
        with mute_logger("odoo.sql_db", "odoo.addons.messenger_connector.models.messenger_message"):
            self.send_queued()
        self.assertEqual(len(self.fake_wa.sent), 1)
        self.assertEqual(message.state, "sent", "the platform's answer is recorded, not 'interrupted'")
        self.assertEqual(message.external_id, self.fake_wa.sent[0]["id"])
        with sql_db.db_connect(cr.dbname).cursor() as other:
            other.execute("SELECT pg_try_advisory_lock(%s)", [SENDER_LOCK_KEY])
            self.assertTrue(other.fetchone()[0], "the sender lock is free once the run ended")
            other.execute("SELECT pg_advisory_unlock(%s)", [SENDER_LOCK_KEY])

    def test_a_sender_holding_the_lock_keeps_the_others_out(self):
        self.conv.with_user(self.salesman).action_send_text("Wait for your turn")
        with sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s)", [SENDER_LOCK_KEY])
            self.send_queued()
            self.assertEqual(self.outbound().state, "queued")
            other.execute("SELECT pg_advisory_unlock(%s)", [SENDER_LOCK_KEY])
        self.send_queued()
        self.assertEqual(self.outbound().state, "sent")

    # --- the chatter's "Send message" ------------------------------------------------------------------

    def test_chatter_send_message_goes_to_the_person_and_notes_stay(self):
        conv = self.conv.with_user(self.salesman)
        post = conv.message_post(body=Markup("<p>Typed in the chatter</p>"), message_type="comment",
                                 subtype_xmlid="mail.mt_comment")
        message = self.outbound()
        self.assertEqual((message.body, message.author_id, message.state),
                         ("Typed in the chatter", self.salesman, "queued"))
        self.assertEqual(post, message.mail_message_id)
        conv.message_post(body=Markup("<p>Internal note</p>"), message_type="comment", subtype_xmlid="mail.mt_note")
        self.assertEqual(len(self.outbound()), 1, "a note stays a note")
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent], ["Typed in the chatter"])
        # refused like any reply
        self.receive(self.wa_account, self.wa_text("32470777001", "STOP", "wamid.R3", name="Rita"))
        with self.assertRaisesRegex(UserError, "opted out"):
            conv.message_post(body="After STOP", message_type="comment", subtype_xmlid="mail.mt_comment")


@tagged("post_install", "-at_install")
class TestRefusals(MessengerCase):
    """Only the person's refusals change consent; a block ends when they come back."""

    def start(self, wa_id):
        self.receive(self.wa_account, self.wa_text(wa_id, "Hi", f"wamid.S{wa_id}", name="Una"))
        return self.conversation(self.wa_account, wa_id)

    def test_undeliverable_131026_fails_the_message_only(self):
        conv = self.start("32470888001")
        self.fake_wa.fail_next(1, 400, fakes.wa_error_body(131026, "Message undeliverable"))
        conv.with_user(self.user_agent).action_send_text("Hello")
        self.send_queued()
        message = conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.state, message.error_code), ("failed", "131026"))
        self.assertIn("undeliverable", message.error_message)
        self.assertFalse(conv.blocked)
        self.assertEqual(conv.consent_service, "opt_in")
        self.assertFalse(conv.consent_marketing)
        # the same as a status
        conv.with_user(self.user_agent).action_send_text("Second try")
        self.send_queued()
        second = conv.messenger_message_ids.filtered(lambda m: m.direction == "out" and m.state == "sent")
        self.receive(self.wa_account, fakes.wa_payload(statuses=[fakes.wa_status(
            second.external_id, "failed", "32470888001", error_code=131026, error_title="Message undeliverable")]))
        self.assertEqual(second.state, "failed")
        self.assertFalse(conv.blocked)
        self.assertEqual(conv.consent_service, "opt_in")
        conv.with_user(self.user_agent).action_send_text("The reply box still works")

    def test_unreachable_telegram_chat_is_no_block(self):
        self.receive(self.tg_account, fakes.tg_update(901, text="hi", chat_id=990001, first_name="Tom"))
        conv = self.conversation(self.tg_account, "990001")
        self.fake_tg.fail_next(1, 400, fakes.tg_error_body(400, "Bad Request: chat not found"))
        conv.with_user(self.user_agent).action_send_text("Hello")
        self.send_queued()
        self.assertEqual(conv.messenger_message_ids.filtered(lambda m: m.direction == "out").state, "failed")
        self.assertFalse(conv.blocked)
        self.assertEqual(conv.consent_service, "opt_in")

    def test_block_is_lifted_when_the_person_writes_again(self):
        self.receive(self.tg_account, fakes.tg_update(911, text="hi", chat_id=990002, first_name="Tina"))
        conv = self.conversation(self.tg_account, "990002")
        self.fake_tg.block(990002)
        conv.with_user(self.user_agent).action_send_text("Hello")
        self.send_queued()
        self.assertTrue(conv.blocked)
        self.fake_tg.unblock(990002)
        self.receive(self.tg_account, fakes.tg_update(912, text="sorry, wrong button", chat_id=990002,
                                                      first_name="Tina"))
        self.assertFalse(conv.blocked)
        conv.with_user(self.user_agent).action_send_text("Welcome back")
        self.send_queued()
        self.assertEqual(self.fake_tg.sent[-1]["text"], "Welcome back")

    def test_block_is_lifted_by_a_recorded_opt_in_with_its_reason(self):
        conv = self.start("32470888002")
        conv._block("Platform event: block")
        self.assertTrue(conv.blocked)
        values = {"conversation_id": conv.id, "action": "opt_in", "purpose_service": True, "source": "manual",
                  "reason": "Called us and asked to be contacted on WhatsApp"}
        # a block is an opt-out of everything: a Messenger manager records the opt-in that ends it
        with self.assertRaises(AccessError):
            self.env["messenger.consent.record"].with_user(self.user_agent).create(values).action_record()
        self.assertTrue(conv.blocked)
        self.env["messenger.consent.record"].with_user(self.user_manager).create(values).action_record()
        self.assertFalse(conv.blocked)
        conv.with_user(self.user_agent).action_send_text("As discussed on the phone")

    def test_no_block_is_lifted_without_evidence_or_reason(self):
        conv = self.start("32470888012")
        conv._block("Platform event: block")
        Record = self.env["messenger.consent.record"].with_user(self.user_manager)
        for source in ("web_form", "import"):
            wizard = Record.create({"conversation_id": conv.id, "action": "opt_in", "purpose_service": True,
                                    "purpose_marketing": True, "source": source})
            with self.assertRaises(UserError, msg=source):
                wizard.action_record()
            self.assertTrue(conv.blocked)
            self.assertNotEqual(conv.consent_marketing, "opt_in")
        Record.create({"conversation_id": conv.id, "action": "opt_in", "purpose_service": True, "source": "web_form",
                       "evidence": "Signed the contact form: 'Yes, write to me on WhatsApp'",
                       "reason": "The form was signed after the block"}).action_record()
        self.assertFalse(conv.blocked)

    def test_phone_blacklist_refuses_business_initiated_messages_only(self):
        conv = self.start("32470888003")
        conv._opt_in(["marketing"], "manual", reason="Signed up at the fair", confirm=False)
        self.env["phone.blacklist"].sudo()._add(["+32470888003"], message="Blacklisted through SMS")
        as_agent = conv.with_user(self.user_agent)
        with self.assertRaisesRegex(UserError, "blacklist"):
            as_agent.action_send_template("promo", "en", purpose="marketing")
        with self.assertRaisesRegex(UserError, "blacklist"):
            as_agent.action_send_text("Our new offers", purpose="marketing")
        as_agent.action_send_text("Sure, here is the answer to your question")  # a service reply
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent], ["Sure, here is the answer to your question"])

    def test_closed_window_error_in_the_users_time_zone(self):
        conv = self.start("32470888004")
        conv.write({"last_inbound_at": "2026-01-10 10:05:00", "window_expires_at": "2026-01-11 10:05:00"})
        self.user_agent.tz = "Asia/Tokyo"
        with self.assertRaises(UserError) as caught:
            conv.with_user(self.user_agent).action_send_text("Hello")
        text = caught.exception.args[0]
        self.assertIn("7:05", text)  # 19:05 in Tokyo, in the user's language format
        self.assertNotIn("2026-01-10 10:05:00", text)


@tagged("post_install", "-at_install")
class TestFollowUps(MessengerCase):
    """Media downloads and button acknowledgements run after the commit, once."""

    def media_payload(self, wamid, media_id):
        return fakes.wa_payload(messages=[{
            "from": "32470666001", "id": wamid, "timestamp": "1732000000", "type": "image",
            "image": {"id": media_id, "mime_type": "image/jpeg"}}],
            contacts=[{"profile": {"name": "Mia Media"}, "wa_id": "32470666001"}])

    def downloads(self, media_id):
        return [r for r in self.fake_wa.requests if media_id in r.path]

    def test_no_platform_call_while_events_are_applied(self):
        self.fake_wa.add_media("media-f1", b"\xff\xd8\xff jpeg", "image/jpeg")
        provider = self.wa_account._get_provider()
        for payload in (self.media_payload("wamid.F1", "media-f1"),
                        self.wa_text("32470666001", "and a text", "wamid.F2", name="Mia Media")):
            body = fakes.body_bytes(payload)
            self.env["messenger.event"]._store(self.wa_account, provider.delivery_key(body), body.decode())
        self.env["messenger.event"]._cron_process()
        message = self.messages(self.wa_account, external_id="wamid.F1")
        self.assertEqual(message.media_state, "pending")
        self.assertEqual(self.downloads("media-f1"), [], "no download while the group's locks are held")
        self.env["messenger.message"]._cron_followups()
        self.env["messenger.message"]._cron_followups()
        self.assertEqual(message.media_state, "done")
        self.assertEqual(len([r for r in self.downloads("media-f1") if r.method == "GET"]), 2,
                         "one look-up of the media URL and one download, once")
        self.assertTrue(message.mail_message_id.attachment_ids, "the file shows in the message's chatter post")

    def test_button_press_acknowledged_once_after_the_commit(self):
        update = fakes.tg_callback_update(941, "yes", chat_id=990010, first_name="Cal")
        provider = self.tg_account._get_provider()
        body = fakes.body_bytes(update)
        self.env["messenger.event"]._store(self.tg_account, provider.delivery_key(body), body.decode())
        self.env["messenger.event"]._cron_process()
        self.assertEqual(self.fake_tg.callback_answers, [])
        self.env["messenger.message"]._cron_followups()
        self.env["messenger.message"]._cron_followups()
        self.assertEqual(len(self.fake_tg.callback_answers), 1)

    def test_failed_download_shows_its_error_and_can_be_retried(self):
        self.receive(self.wa_account, self.media_payload("wamid.F3", "media-missing"))
        message = self.messages(self.wa_account, external_id="wamid.F3")
        self.assertEqual(message.media_state, "failed")
        self.assertTrue(message.media_error)
        notes = self.env["mail.message"].search([("model", "=", "messenger.conversation"),
                                                 ("res_id", "=", message.conversation_id.id)])
        self.assertTrue(any(message.media_error in (note.body or "") for note in notes),
                        "the conversation says why the media is missing")
        self.fake_wa.add_media("media-missing", b"\xff\xd8\xff later", "image/jpeg")
        message.with_user(self.user_agent).action_retry_media()
        self.assertEqual(message.media_state, "done")
        self.assertFalse(message.media_error)


@tagged("post_install", "-at_install")
class TestEverydayConsent(MessengerCase):
    """Applying through a job's link, the demo's history, consent recorded by a user without e-mail."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.recruiter = new_test_user(
            cls.env, login="mc_rules_recruiter", groups="base.group_user,hr_recruitment.group_hr_recruitment_user",
            name="Rhea Recruiter", email=False)
        cls.job = cls.env["hr.job"].create({"name": "Forklift Driver", "user_id": cls.recruiter.id})

    def compose(self, user, record, **values):
        action = record.with_user(user).action_messenger_send()
        form = Form(self.env["messenger.compose"].with_user(user).with_context(**action["context"]))
        for key, value in values.items():
            setattr(form, key, value)
        return form.save()

    def test_applying_through_the_link_is_recruiting_consent(self):
        self.receive(self.tg_account, fakes.tg_update(951, text=f"/start JOB-{self.job.id}", chat_id=995001,
                                                      first_name="Paul"))
        conv = self.conversation(self.tg_account, "995001")
        self.assertEqual(conv.consent_recruiting, "opt_in")
        entry = conv.consent_ids.filtered(lambda e: e.purpose == "recruiting")
        self.assertEqual(entry.message_id, conv.messenger_message_ids, "the message is the evidence")
        self.assertIn(f"JOB-{self.job.id}", entry.evidence)
        self.assertFalse(self.recruiter.email)
        wizard = self.compose(self.recruiter, conv.applicant_id, purpose="recruiting", body="When can you start?")
        wizard.action_send()
        self.send_queued()
        self.assertEqual(self.fake_tg.sent[-1]["text"], "When can you start?")

    def test_record_consent_by_a_user_without_email(self):
        self.receive(self.tg_account, fakes.tg_update(961, text="Hello", chat_id=995002, first_name="Petra"))
        conv = self.conversation(self.tg_account, "995002")
        candidate = self.env["hr.candidate"].create({"partner_id": conv.partner_id.id, "partner_name": "Petra"})
        applicant = self.env["hr.applicant"].create({"candidate_id": candidate.id, "job_id": self.job.id})
        conv.write({"candidate_id": candidate.id, "applicant_id": applicant.id})
        wizard = self.compose(self.recruiter, applicant, purpose="recruiting", body="We have a job for you",
                              record_consent=True, consent_reason="Asked on the phone today")
        wizard.action_send()
        self.assertEqual(conv.consent_recruiting, "opt_in")
        self.send_queued()
        self.assertEqual(self.fake_tg.sent[-1]["text"], "We have a job for you")

    def test_demo_first_actions_work(self):
        gemini = self.env.ref("messenger_connector.demo_conversation_wa_gemini", raise_if_not_found=False)
        if not gemini:
            self.skipTest("installed without demo data")
        ravi = self.env.ref("messenger_connector.demo_conversation_tg_ravi")
        self.assertEqual(gemini.consent_service, "opt_in")
        self.assertEqual(ravi.consent_recruiting, "opt_in")
        gemini.action_send_template("quotation_followup", "en_US", ["12 office chairs"])
        wizard = self.compose(self.env.ref("base.user_admin"), ravi.applicant_id, purpose="recruiting",
                              body="Yes, remote work is possible.")
        wizard.action_send()
        self.assertEqual(ravi.messenger_message_ids.filtered(lambda m: m.direction == "out").state, "queued")


@tagged("post_install", "-at_install")
class TestChatterComposerRoute(MessengerCase, HttpCase):
    """The web client's "Send message" (Odoo's post route, which posts in sudo) sends as the user."""

    def test_web_client_send_message_goes_to_the_person(self):
        salesman = new_test_user(self.env, login="mc_route_sales", groups="base.group_user,sales_team.group_sale_salesman")
        self.receive(self.wa_account, self.wa_text("32470777101", "Hi there", "wamid.W1", name="Wes"))
        conv = self.conversation(self.wa_account, "32470777101")
        conv.lead_id = self.env["crm.lead"].create({"name": "Wes", "user_id": salesman.id})
        self.authenticate("mc_route_sales", "mc_route_sales")
        self.make_jsonrpc_request("/mail/message/post", {
            "thread_model": "messenger.conversation", "thread_id": conv.id,
            "post_data": {"body": "Typed in the web client", "message_type": "comment",
                          "subtype_xmlid": "mail.mt_comment"}})
        message = conv.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.body, message.author_id), ("Typed in the web client", salesman))
        self.send_queued()
        self.assertEqual([m["text"] for m in self.fake_wa.sent], ["Typed in the web client"])
