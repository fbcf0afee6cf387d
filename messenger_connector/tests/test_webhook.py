import json
import threading
from datetime import datetime
from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import HttpCase, tagged

from .common import TG_SECRET, TG_TOKEN, WA_SECRET, WA_TOKEN, WA_VERIFY, MessengerCase, fakes


@tagged("post_install", "-at_install")
class TestWebhook(MessengerCase, HttpCase):

    def path(self, account):
        return f"/messenger/webhook/{account.webhook_key}"

    def post_wa(self, payload, secret=WA_SECRET, signature=None, account=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        sig = signature if signature is not None else fakes.wa_signature(body, secret)
        if sig:
            headers["X-Hub-Signature-256"] = sig
        return self.url_open(self.path(account or self.wa_account), data=body, headers=headers)

    def post_tg(self, update, secret=TG_SECRET):
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return self.url_open(self.path(self.tg_account), data=json.dumps(update).encode(), headers=headers)

    def event_count(self):
        return self.env["messenger.event"].search_count([])

    # --- handshake ------------------------------------------------------------------------------------

    def test_handshake(self):
        ok = self.url_open(self.path(self.wa_account) + "?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=1158201444"
                           % WA_VERIFY)
        self.assertEqual(ok.status_code, 200)
        self.assertEqual(ok.text, "1158201444")
        bad = self.url_open(self.path(self.wa_account) + "?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
        self.assertEqual(bad.status_code, 403)
        self.assertEqual(self.url_open(self.path(self.tg_account) + "?hub.challenge=1").status_code, 403)

    # --- refusals store nothing --------------------------------------------------------------------------

    def test_bad_signature_forbidden_and_nothing_stored(self):
        before = self.event_count()
        payload = self.wa_text("32470000001", "hi", "wamid.SIG1")
        for signature in ("sha256=" + "0" * 64, "sha256=", "0" * 64, "sha256=abc", ""):
            self.assertEqual(self.post_wa(payload, signature=signature).status_code, 403, signature)
        self.assertEqual(self.post_wa(payload, secret="wrong").status_code, 403)
        self.assertEqual(self.post_tg(fakes.tg_update(1, text="hi"), secret="wrong").status_code, 403)
        self.assertEqual(self.post_tg(fakes.tg_update(1, text="hi"), secret=None).status_code, 403)
        self.assertEqual(self.event_count(), before)
        self.assertFalse(self.conversation(self.wa_account, "32470000001"))

    def test_account_without_secret_fails_closed(self):
        self.wa_account.wa_app_secret = False
        before = self.event_count()
        self.assertEqual(self.post_wa(self.wa_text("32470000001", "hi", "wamid.NS")).status_code, 403)
        self.assertEqual(self.event_count(), before)

    def test_malformed_bad_request(self):
        before = self.event_count()
        for body in (b"not json", b"[]", b'{"object": "page"}', b'{"object": "whatsapp_business_account", "entry": 3}'):
            self.assertEqual(self.post_wa(body).status_code, 400, body)
        self.assertEqual(self.event_count(), before)

    def test_unknown_or_archived_account_not_found(self):
        payload = self.wa_text("32470000001", "hi", "wamid.404")
        self.assertEqual(self.url_open("/messenger/webhook/" + "x" * 43, data=b"{}").status_code, 404)
        self.wa_account.active = False
        self.assertEqual(self.post_wa(payload).status_code, 404)

    def test_oversized_body(self):
        before = self.event_count()
        payload = self.wa_text("32470000001", "x" * (1024 * 1024 + 10), "wamid.BIG")
        self.assertEqual(self.post_wa(payload).status_code, 413)
        self.assertEqual(self.event_count(), before)

    # --- idempotency -----------------------------------------------------------------------------------

    def test_redelivered_three_times_stored_once(self):
        partners_before = self.env["res.partner"].search_count([])
        payload = self.wa_text("4917600000001", "Hallo", "wamid.DUP1", name="Hans Dup")
        for _ in range(3):
            self.assertEqual(self.post_wa(payload).status_code, 200)
        self.process()
        # the same message inside another (re-batched) delivery is still one message
        self.assertEqual(self.post_wa(fakes.wa_payload(
            messages=payload["entry"][0]["changes"][0]["value"]["messages"] * 2,
            contacts=payload["entry"][0]["changes"][0]["value"]["contacts"])).status_code, 200)
        self.process()
        self.assertEqual(len(self.messages(self.wa_account, external_id="wamid.DUP1")), 1)
        self.assertEqual(len(self.conversation(self.wa_account, "4917600000001")), 1)
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before + 1)

    def test_concurrent_deliveries_one_message_one_partner(self):
        partners_before = self.env["res.partner"].search_count([])
        first = self.wa_text("4917600000002", "one", "wamid.CC1", name="Concurrent Carl")
        second = self.wa_text("4917600000002", "two", "wamid.CC2", name="Concurrent Carl")
        url = self.path(self.wa_account)  # read in this thread: the workers only speak HTTP
        requests_ = []
        for payload in (first, first, second, second):
            body = json.dumps(payload).encode()
            requests_.append((body, {"Content-Type": "application/json",
                                     "X-Hub-Signature-256": fakes.wa_signature(body, WA_SECRET)}))
        results = []
        barrier = threading.Barrier(len(requests_))

        def deliver(body, headers):
            barrier.wait()
            results.append(self.url_open(url, data=body, headers=headers).status_code)

        threads = [threading.Thread(target=deliver, args=r) for r in requests_]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(results, [200] * 4)
        self.process()
        conversation = self.conversation(self.wa_account, "4917600000002")
        self.assertEqual(len(conversation), 1)
        self.assertEqual(sorted(conversation.messenger_message_ids.mapped("external_id")), ["wamid.CC1", "wamid.CC2"])
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before + 1)

    def test_delivery_wakes_processing_through_ir_cron_trigger(self):
        """A new delivery asks Odoo to run the processing cron now (ir.cron._trigger: a trigger row, and the cron
        workers notified after the commit); a redelivery asks nothing."""
        IrCron = type(self.env["ir.cron"])
        cron = self.env.ref("messenger_connector.ir_cron_process_events")
        payload = self.wa_text("32470000903", "wake up", "wamid.WAKE1")
        with patch.object(IrCron, "_trigger", autospec=True, side_effect=IrCron._trigger) as trigger:
            self.assertEqual(self.post_wa(payload).status_code, 200)
            self.assertEqual(self.post_wa(payload).status_code, 200)
        self.assertEqual([call.args[0] for call in trigger.call_args_list], [cron])
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))

    def test_deliveries_of_one_second_share_one_wake_up(self):
        """Each wake-up costs a new database connection: within one second the first delivery wakes the cron,
        the others find its trigger; the next second wakes it again, and a trigger planned for this second
        earlier (which came without a wake-up) does not count."""
        IrCron = type(self.env["ir.cron"])
        cron = self.env.ref("messenger_connector.ir_cron_process_events")
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        planned = Trigger.create({"cron_id": cron.id, "call_at": datetime(2026, 12, 2, 10, 0, 5)})
        planned.flush_recordset()
        self.env.cr.execute("UPDATE ir_cron_trigger SET create_date = %s WHERE id = %s",
                            [datetime(2026, 12, 2, 9, 0, 0), planned.id])
        planned.invalidate_recordset()
        with patch.object(IrCron, "_trigger", autospec=True, side_effect=IrCron._trigger) as trigger:
            with freeze_time("2026-12-02 10:00:00.200"):
                for n in range(3):
                    self.assertEqual(self.post_wa(self.wa_text("32470000905", f"m{n}", f"wamid.SEC{n}")).status_code,
                                     200)
            with freeze_time("2026-12-02 10:00:01.100"):
                self.assertEqual(self.post_wa(self.wa_text("32470000905", "m3", "wamid.SEC3")).status_code, 200)
            with freeze_time("2026-12-02 10:00:05.100"):
                self.assertEqual(self.post_wa(self.wa_text("32470000905", "m4", "wamid.SEC4")).status_code, 200)
        self.assertEqual(len(trigger.call_args_list), 3, "one wake-up per second, the planned trigger not counted")
        self.assertEqual(sorted(Trigger.search([("cron_id", "=", cron.id)]).mapped("call_at")),
                         [datetime(2026, 12, 2, 10, 0, 0), datetime(2026, 12, 2, 10, 0, 1),
                          datetime(2026, 12, 2, 10, 0, 5), datetime(2026, 12, 2, 10, 0, 5)])

    def test_logs_never_carry_tokens_or_webhook_keys(self):
        """The addon's log lines, and urllib3's debug lines of its platform calls (which name the Telegram bot
        token in the URL), never carry a credential or a webhook key."""
        with self.assertLogs(level="DEBUG") as captured:
            self.assertEqual(self.post_tg(fakes.tg_update(61, text="hi", chat_id=616161), secret="wrong").status_code,
                             403)
            self.assertEqual(self.post_wa(self.wa_text("32470000904", "hi", "wamid.LOG1"), secret="wrong")
                             .status_code, 403)
            self.assertEqual(self.post_tg(fakes.tg_update(62, text="hi", chat_id=616161)).status_code, 200)
            self.process()
            self.conversation(self.tg_account, "616161").action_send_text("Hello Log")
            self.send_queued()
            self.tg_account.action_register_webhook()
        # urllib3 lines of the addon's calls to the platforms (this test's own requests name the webhook URL)
        platforms = (f":{self.fake_tg.port}", f":{self.fake_wa.port}")
        ours = [record.getMessage() for record in captured.records
                if record.name.startswith("odoo.addons.messenger_connector")
                or record.name.startswith("urllib3") and any(port in record.getMessage() for port in platforms)]
        self.assertTrue(any("/bot<token>/sendMessage" in line for line in ours), "urllib3 logged the call")
        for secret in (TG_TOKEN, TG_TOKEN.split(":")[1], TG_SECRET, WA_SECRET, WA_TOKEN,
                       self.wa_account.webhook_key, self.tg_account.webhook_key):
            self.assertFalse([line for line in ours if secret in line], secret[:6])

    # --- processing --------------------------------------------------------------------------------------

    def test_inbound_text_reaches_its_chat_only(self):
        self.assertEqual(self.post_wa(self.wa_text("32470111111", "Is the <b>table</b> in stock?", "wamid.T1",
                                                   name="Tess Table")).status_code, 200)
        self.process()
        conversation = self.conversation(self.wa_account, "32470111111")
        message = conversation.messenger_message_ids
        self.assertEqual(message.body, "Is the <b>table</b> in stock?")
        self.assertEqual(message.state, "received")
        self.assertEqual(conversation.partner_id.name, "Tess Table")
        self.assertEqual(conversation.phone, "+32470111111")
        self.assertTrue(conversation.window_open)
        chatter = self.env["mail.message"].search([("model", "=", "discuss.channel"),
                                                   ("res_id", "=", conversation.channel_id.id),
                                                   ("message_type", "=", "comment")])
        self.assertIn("&lt;b&gt;table&lt;/b&gt;", chatter.body)  # user text is escaped, never markup
        self.assertEqual(chatter.author_id, conversation.partner_id)
        partner_chatter = self.env["mail.message"].search([("model", "=", "res.partner"),
                                                           ("res_id", "=", conversation.partner_id.id),
                                                           ("message_type", "=", "comment")])
        self.assertFalse(partner_chatter, "no copy in the contact's chatter, which every employee may read")
        self.assertNotIn(conversation.partner_id, conversation.message_follower_ids.partner_id,
                         "the customer never becomes a follower (no e-mail to them)")

    def test_telegram_inbound_and_block(self):
        self.assertEqual(self.post_tg(fakes.tg_update(501, text="/start job-42", chat_id=777001, first_name="Tom",
                                                      username="tommy")).status_code, 200)
        self.assertEqual(self.post_tg(fakes.tg_update(501, text="/start job-42", chat_id=777001)).status_code, 200)
        self.process()
        conversation = self.conversation(self.tg_account, "777001")
        self.assertEqual(len(conversation.messenger_message_ids), 1)
        self.assertEqual(conversation.messenger_message_ids.payload, "job-42")
        self.assertEqual(conversation.partner_id.name, "Tom")
        self.assertFalse(conversation.window_expires_at, "Telegram has no reply window")
        self.assertEqual(self.post_tg(fakes.tg_member_update(502, chat_id=777001, status="kicked")).status_code, 200)
        self.process()
        self.assertTrue(conversation.blocked)

    def test_failing_event_kept_and_reprocessed(self):
        """A failing event keeps its error, does not block the next one, and can be processed again."""
        bad = fakes.wa_payload(messages=[{
            "from": "32470333333", "id": "wamid.LOC", "timestamp": "1732000000", "type": "location",
            "location": {"latitude": 50.8, "longitude": 4.3, "name": "Office"}}],
            contacts=[{"profile": {"name": "Lou"}, "wa_id": "32470333333"}])
        self.assertEqual(self.post_wa(bad).status_code, 200)
        self.assertEqual(self.post_wa(self.wa_text("32470222222", "fine", "wamid.OK")).status_code, 200)
        event_bad = self.env["messenger.event"].search([("body", "like", "wamid.LOC")])
        # the stored body gets damaged (as if the platform changed its format): processing it fails
        event_bad.write({"body": event_bad.body.replace('"latitude": 50.8', '"latitude": {"deg": 50}')})
        with self.assertLogs("odoo.addons.messenger_connector.models.messenger_event", "WARNING"):
            self.process()
        self.assertEqual(event_bad.state, "failed")
        self.assertTrue(event_bad.error)
        self.assertFalse(self.messages(self.wa_account, external_id="wamid.LOC"))
        self.assertTrue(self.messages(self.wa_account, external_id="wamid.OK"), "the next event was not blocked")
        event_bad.write({"body": event_bad.body.replace('"latitude": {"deg": 50}', '"latitude": 50.8')})
        event_bad.action_reprocess()
        self.process()
        self.assertEqual(event_bad.state, "done")
        loc = self.messages(self.wa_account, external_id="wamid.LOC")
        self.assertEqual(loc.content_type, "location")
        self.assertEqual(loc.location["name"], "Office")

    def test_media_downloaded_and_retryable(self):
        payload = fakes.wa_payload(messages=[{
            "from": "32470444444", "id": "wamid.DOC", "timestamp": "1732000000", "type": "document",
            "document": {"id": "media-doc", "mime_type": "application/pdf", "sha256": "x", "filename": "offer.pdf",
                         "caption": "my offer"}}],
            contacts=[{"profile": {"name": "Dora Doc"}, "wa_id": "32470444444"}])
        self.assertEqual(self.post_wa(payload).status_code, 200)
        self.process()
        message = self.messages(self.wa_account, external_id="wamid.DOC")
        self.assertEqual(message.media_state, "failed", "the fake has no such media yet")
        self.assertEqual(message.body, "my offer")
        self.fake_wa.add_media("media-doc", b"%PDF-1.4 offer", "application/pdf")
        message.action_retry_media()
        self.assertEqual(message.media_state, "done")
        attachment = message.attachment_ids
        self.assertEqual(attachment.raw, b"%PDF-1.4 offer")
        self.assertEqual(attachment.name, "offer.pdf")
        self.assertEqual((attachment.res_model, attachment.res_id), ("messenger.conversation", message.conversation_id.id))
        self.assertFalse(attachment.public)

    def test_account_changes_reach_the_cached_route(self):
        body = json.dumps(self.wa_text("32470000902", "cached", "wamid.CACHE")).encode()
        path = f"/messenger/webhook/{self.wa_account.webhook_key}"

        def post(secret):
            return self.url_open(path, data=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, secret)})

        self.assertEqual(post("rotated-secret").status_code, 403)
        self.wa_account.wa_app_secret = "rotated-secret"
        self.assertEqual(post(WA_SECRET).status_code, 403, "the old secret no longer authenticates")
        self.assertEqual(post("rotated-secret").status_code, 200)
        self.wa_account.webhook_key = "k" * 43
        self.assertEqual(post("rotated-secret").status_code, 404, "the old URL is gone")
