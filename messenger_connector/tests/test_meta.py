import datetime

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import MessengerCase, fakes

from messenger_fakes import meta as meta_fakes  # noqa: E402 (tools/ is on the path once common is imported)

META_SECRET = "test-meta-app-secret"
META_VERIFY = "test-meta-verify-token"


@tagged("post_install", "-at_install")
class TestMeta(MessengerCase, HttpCase):
    """Facebook Messenger and Instagram through the real webhook route (signed bodies) and the sender, against
    the fake Graph API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_fb = meta_fakes.FakeMeta("messenger", username="acme.jobs").start()
        cls.fake_ig = meta_fakes.FakeMeta("instagram", username="acme_ig", human_agent=False).start()
        cls.addClassCleanup(cls.fake_fb.stop)
        cls.addClassCleanup(cls.fake_ig.stop)
        Account = cls.env["messenger.account"]
        common = {"meta_access_token": meta_fakes.DEMO_META_TOKEN, "meta_app_secret": META_SECRET,
                  "meta_verify_token": META_VERIFY, "retry_delay": 1, "company_id": cls.company.id,
                  "audience_group_id": False}
        cls.fb_account = Account.create({
            "name": "FB test", "provider": "messenger", "api_base_url": cls.fake_fb.url,
            "meta_page_id": cls.fake_fb.page_id, "meta_human_agent": True, "meta_username": "acme.jobs", **common})
        cls.ig_account = Account.create({
            "name": "IG test", "provider": "instagram", "api_base_url": cls.fake_ig.url,
            "meta_page_id": cls.fake_ig.page_id, "meta_human_agent": False, "meta_username": "acme_ig", **common})
        cls.job = cls.env["hr.job"].create({"name": "Barista"})

    def setUp(self):
        super().setUp()
        self.fake_fb.reset()
        self.fake_ig.reset()

    # --- helpers --------------------------------------------------------------------------------------

    def platforms(self):
        return ((self.fb_account, self.fake_fb), (self.ig_account, self.fake_ig))

    def post(self, account, payload, secret=META_SECRET):
        """POST a delivery to the account's webhook as Meta does (signed raw bytes); the response."""
        body = fakes.body_bytes(payload)
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Hub-Signature-256"] = fakes.wa_signature(body, secret)
        return self.url_open(f"/messenger/webhook/{account.webhook_key}", data=body, headers=headers)

    def deliver(self, account, items, fake):
        response = self.post(account, meta_fakes.payload(items, platform=fake.platform, page_id=fake.page_id))
        self.assertEqual(response.status_code, 200, response.text)
        self.process()

    def write_in(self, account, fake, psid, text="Hello", **kw):
        response = self.post(account, fake.inbound(psid, text, **kw))
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        return self.conversation(account, psid)

    # --- webhook ----------------------------------------------------------------------------------------

    def test_handshake_and_refused_signatures(self):
        for account, fake in self.platforms():
            ok = self.url_open(f"/messenger/webhook/{account.webhook_key}?hub.mode=subscribe"
                               f"&hub.verify_token={META_VERIFY}&hub.challenge=4242")
            self.assertEqual((ok.status_code, ok.text), (200, "4242"))
            bad = self.url_open(f"/messenger/webhook/{account.webhook_key}?hub.mode=subscribe"
                                "&hub.verify_token=nope&hub.challenge=1")
            self.assertEqual(bad.status_code, 403)
            before = self.env["messenger.event"].search_count([])
            payload = fake.inbound("6100000000000001", "unsigned")
            self.assertEqual(self.post(account, payload, secret=None).status_code, 403)
            self.assertEqual(self.post(account, payload, secret="wrong").status_code, 403)
            self.assertEqual(self.post(account, {"object": "whatsapp_business_account", "entry": []}).status_code,
                             400)
            self.assertEqual(self.env["messenger.event"].search_count([]), before)

    def test_message_in_and_reply_out(self):
        for account, fake in self.platforms():
            psid = "6100000000000010"
            fake.add_profile(psid, first_name="Mia", last_name="Meta", name="Mia Meta", username="mia.meta",
                             profile_pic="https://cdn.example.com/mia.jpg")
            conversation = self.write_in(account, fake, psid, "Is the job still open?", mid=f"m_IN_{account.id}")
            inbound = conversation.messenger_message_ids
            self.assertEqual((inbound.direction, inbound.body, inbound.external_id),
                             ("in", "Is the job still open?", f"m_IN_{account.id}"))
            self.assertEqual(conversation.profile_name, "Mia Meta")
            self.assertEqual(conversation.profile_picture_url, "https://cdn.example.com/mia.jpg")
            conversation.with_user(self.user_manager).action_send_text("Yes, it is!")
            self.send_queued()
            (sent,) = fake.sent
            self.assertEqual(sent["payload"]["messaging_type"], "RESPONSE")
            self.assertEqual((sent["to"], sent["text"]), (psid, "Yes, it is!"))
            reply = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
            self.assertEqual((reply.state, reply.external_id), ("sent", sent["id"]))

    def test_profile_failure_never_blocks_the_message(self):
        conversation = self.write_in(self.fb_account, self.fake_fb, "6100000000000011", "No profile for me")
        self.assertEqual(conversation.messenger_message_ids.body, "No profile for me")
        self.assertFalse(conversation.profile_pending)

    def test_attachment_downloaded_from_the_cdn(self):
        url = self.fake_fb.add_cdn_file("cv_n.pdf", b"%PDF-1.4 cv", "application/pdf")
        conversation = self.write_in(self.fb_account, self.fake_fb, "6100000000000012", None,
                                     attachments=[("file", url)])
        message = conversation.messenger_message_ids
        self.assertEqual(message.content_type, "document")
        self.assertEqual(message.media_state, "done")
        self.assertEqual(message.attachment_ids.raw, b"%PDF-1.4 cv")

    # --- window and the HUMAN_AGENT tag -----------------------------------------------------------------

    def test_human_agent_tag_after_24_hours(self):
        psid = "6100000000000020"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Hi")
        with freeze_time(fields.Datetime.now() + datetime.timedelta(hours=30)):
            self.fake_fb.set_last_inbound(psid, hours_ago=30)
            conversation.with_user(self.user_manager).action_send_text("Sorry for the late answer")
            self.send_queued()
        (sent,) = self.fake_fb.sent
        self.assertEqual((sent["payload"]["messaging_type"], sent["payload"]["tag"]), ("MESSAGE_TAG", "HUMAN_AGENT"))
        with freeze_time(fields.Datetime.now() + datetime.timedelta(days=8)), \
                self.assertRaisesRegex(UserError, "window"):
            conversation.with_user(self.user_manager).action_send_text("Far too late")

    def test_no_human_agent_permission_refused_before_queueing(self):
        psid = "6100000000000021"
        conversation = self.write_in(self.ig_account, self.fake_ig, psid, "Hi")
        before = len(conversation.messenger_message_ids)
        with freeze_time(fields.Datetime.now() + datetime.timedelta(hours=30)), \
                self.assertRaisesRegex(UserError, "24-hour reply window .* no human-agent permission.* 168 hours"):
            conversation.with_user(self.user_manager).action_send_text("Too late without the permission")
        self.assertEqual(len(conversation.messenger_message_ids), before, "nothing queued")

    def test_platform_window_refusal_fails_the_message_with_its_reason(self):
        psid = "6100000000000022"
        conversation = self.write_in(self.ig_account, self.fake_ig, psid, "Hi")
        conversation.with_user(self.user_manager).action_send_text("Answer")
        self.fake_ig.set_last_inbound(psid, hours_ago=30)  # the platform's clock says the window closed
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.state, message.error_code), ("failed", "10"))
        self.assertIn("outside of allowed window", message.error_message)

    def test_person_unavailable_fails_without_blocking(self):
        psid = "6100000000000023"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Hi")
        self.fake_fb.unavailable(psid)
        conversation.with_user(self.user_manager).action_send_text("Answer")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((message.state, message.error_code), ("failed", "551"))
        self.assertFalse(conversation.blocked)

    # --- echoes -----------------------------------------------------------------------------------------

    def test_echo_of_our_send_not_stored_twice(self):
        for account, fake in self.platforms():
            psid = "6100000000000030"
            conversation = self.write_in(account, fake, psid, "Hi")
            conversation.with_user(self.user_manager).action_send_text("Our answer")
            self.send_queued()
            self.deliver(account, fake.echoes, fake)
            self.deliver(account, fake.echoes, fake)  # redelivered
            outbound = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
            self.assertEqual(len(outbound), 1)
            self.assertFalse(outbound.sent_via)

    def test_colleague_echo_stored_once_as_outbound_via_meta(self):
        psid = "6100000000000031"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Hi")
        echo = meta_fakes.echo_item(psid, self.fake_fb.page_id, mid="m_COLLEAGUE1", text="Typed in Meta's inbox")
        self.deliver(self.fb_account, [echo], self.fake_fb)
        self.deliver(self.fb_account, [echo], self.fake_fb)
        outbound = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(len(outbound), 1)
        self.assertEqual((outbound.body, outbound.sent_via, outbound.external_id, outbound.state),
                         ("Typed in Meta's inbox", "Meta", "m_COLLEAGUE1", "sent"))

    def test_document_caption_echo_not_stored(self):
        psid = "6100000000000032"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Send me the contract")
        attachment = self.env["ir.attachment"].with_user(self.user_manager).create({
            "name": "contract.pdf", "raw": b"%PDF contract", "mimetype": "application/pdf"})
        conversation.with_user(self.user_manager).action_send_text("Your contract", attachment_ids=attachment.ids)
        self.send_queued()
        self.assertEqual([m["type"] for m in self.fake_fb.sent], ["text", "attachment"])
        self.deliver(self.fb_account, self.fake_fb.echoes, self.fake_fb)
        outbound = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(len(outbound), 1)

    # --- receipts ---------------------------------------------------------------------------------------

    def test_watermarks_move_earlier_messages_forward(self):
        psid = "6100000000000040"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Hi")
        for text in ("first", "second"):
            conversation.with_user(self.user_manager).action_send_text(text)
        self.send_queued()
        first, second = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out").sorted("id")
        now = fields.Datetime.now()
        first.sent_at = now - datetime.timedelta(minutes=10)
        second.sent_at = now - datetime.timedelta(minutes=1)
        millis = int((now - datetime.timedelta(minutes=5)).replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
        self.deliver(self.fb_account, [meta_fakes.delivery_item(psid, self.fake_fb.page_id, watermark=millis)],
                     self.fake_fb)
        self.assertEqual((first.state, second.state), ("delivered", "sent"))
        later = int(now.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) + 1000
        self.deliver(self.fb_account, [meta_fakes.read_item(psid, self.fake_fb.page_id, watermark=later)],
                     self.fake_fb)
        self.assertEqual((first.state, second.state), ("read", "read"))
        # a late delivery never moves a read message back
        self.deliver(self.fb_account, [meta_fakes.delivery_item(psid, self.fake_fb.page_id, watermark=later,
                                                                mids=[first.external_id])], self.fake_fb)
        self.assertEqual(first.state, "read")

    def test_instagram_seen_names_the_message(self):
        psid = "6100000000000041"
        conversation = self.write_in(self.ig_account, self.fake_ig, psid, "Hi")
        conversation.with_user(self.user_manager).action_send_text("Seen?")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.deliver(self.ig_account, [meta_fakes.read_item(psid, self.fake_ig.page_id, mid=message.external_id)],
                     self.fake_ig)
        self.assertEqual(message.state, "read")

    # --- job references ---------------------------------------------------------------------------------

    def applicants(self):
        return self.env["hr.applicant"].search([("job_id", "=", self.job.id)])

    def test_referral_of_a_link_applies_for_the_job(self):
        ref = f"JOB-{self.job.id}"
        self.deliver(self.fb_account, [meta_fakes.referral_item("6100000000000050", self.fake_fb.page_id, ref)],
                     self.fake_fb)
        applicant = self.applicants()
        self.assertEqual(len(applicant), 1)
        self.assertEqual(applicant.source_id, self.env.ref("messenger_connector.utm_source_messenger"))
        self.assertEqual(self.conversation(self.fb_account, "6100000000000050").applicant_id, applicant)

    def test_get_started_postback_with_reference_applies(self):
        ref = f"JOB-{self.job.id}"
        item = meta_fakes.postback_item("6100000000000051", self.fake_ig.page_id, "Get Started", "GET_STARTED",
                                        ref=ref)
        self.deliver(self.ig_account, [item], self.fake_ig)
        self.deliver(self.ig_account, [item], self.fake_ig)  # redelivered: one application
        applicant = self.applicants()
        self.assertEqual(len(applicant), 1)
        self.assertEqual(applicant.source_id, self.env.ref("messenger_connector.utm_source_instagram"))

    def test_click_to_chat_links_and_qr(self):
        links = {account.name: url for account, url in self.job._messenger_apply_links()}
        ref = f"JOB-{self.job.id}"
        self.assertEqual(links["FB test"], f"https://m.me/acme.jobs?ref={ref}")
        self.assertEqual(links["IG test"], f"https://ig.me/m/acme_ig?ref={ref}")
        self.assertIn(f"https://ig.me/m/acme_ig?ref={ref}", self.job.messenger_apply_html)

    # --- routing, consent, access -----------------------------------------------------------------------

    def test_one_app_webhook_routes_to_the_page_it_names(self):
        other = self.fb_account.copy({"name": "FB other page", "meta_page_id": "100000000000202",
                                      "meta_app_secret": META_SECRET, "meta_access_token": "x"})
        item = meta_fakes.message_item("6100000000000060", "100000000000202", text="to the other page")
        self.deliver(self.fb_account, [item], self.fake_fb)
        self.assertTrue(self.conversation(other, "6100000000000060"))
        self.assertFalse(self.conversation(self.fb_account, "6100000000000060"))

    def test_opt_out_keyword_holds_on_meta(self):
        conversation = self.write_in(self.fb_account, self.fake_fb, "6100000000000070", "STOP")
        self.assertTrue(conversation.opted_out)
        with self.assertRaisesRegex(UserError, "opted out"):
            conversation.action_send_text("But wait")

    def test_credentials_for_managers_only(self):
        account = self.fb_account.with_user(self.user_agent)
        for fname in ("meta_page_id", "meta_access_token", "meta_app_secret", "meta_verify_token",
                      "meta_human_agent"):
            with self.assertRaises(AccessError, msg=fname):
                account.read([fname])
        values = self.fb_account.with_user(self.user_manager).read(["meta_access_token", "meta_app_secret"])[0]
        self.assertEqual(values["meta_access_token"], meta_fakes.DEMO_META_TOKEN)

    def test_test_connection(self):
        self.ig_account.meta_username = False
        self.ig_account.with_user(self.user_manager).action_test_connection()
        self.assertEqual(self.ig_account.meta_username, "acme_ig")

    def test_no_secret_in_the_chatter_or_errors(self):
        psid = "6100000000000080"
        conversation = self.write_in(self.fb_account, self.fake_fb, psid, "Hi")
        self.fake_fb.fail_next(1, 400, meta_fakes.meta_error_body(100, f"bad {meta_fakes.DEMO_META_TOKEN}"))
        conversation.with_user(self.user_manager).action_send_text("Answer")
        self.send_queued()
        message = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual(message.state, "failed")
        self.assertNotIn(meta_fakes.DEMO_META_TOKEN, message.error_message)
