import threading
from contextlib import closing

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import MessengerCase

# the fake WeChat API and its delivery builders (tools/messenger_fakes, on sys.path through .common)
from messenger_fakes import wechat as wf  # noqa: E402, I001

OPENID = wf.DEMO_WC_OPENID
OTHER_OPENID = "oOther0penId00000000000002"


def wechat_vals(fake, **overrides):
    return {"name": "WeChat test", "provider": "wechat", "api_base_url": fake.url, "wc_app_id": wf.DEMO_WC_APP_ID,
            "wc_app_secret": wf.DEMO_WC_APP_SECRET, "wc_token": wf.DEMO_WC_TOKEN,
            "wc_encoding_aes_key": wf.DEMO_WC_AES_KEY, "wc_encryption": "safe", "wc_account_type": "service",
            "wc_original_id": wf.DEMO_WC_ORIGINAL_ID, "retry_delay": 1, "audience_group_id": False, **overrides}


class WeChatCase(MessengerCase, HttpCase):
    """A WeChat service account on its own fake WeChat API (no tests of its own)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_wc = wf.FakeWeChat()
        cls.fake_wc.start()
        cls.addClassCleanup(cls.fake_wc.stop)
        cls.wc_account = cls.env["messenger.account"].create(wechat_vals(cls.fake_wc, company_id=cls.company.id))

    def setUp(self):
        super().setUp()
        self.fake_wc.reset()
        self.fake_wc.account_type = "service"


@tagged("post_install", "-at_install")
class TestWeChat(WeChatCase):
    """WeChat through the real webhook route and the fake WeChat API."""

    # --- helpers ------------------------------------------------------------------------------------

    def path(self, account=None):
        return f"/messenger/webhook/{(account or self.wc_account).webhook_key}"

    def post(self, fields, mode="safe", account=None, **delivery):
        params, body = wf.wc_delivery(fields, mode=mode, **delivery)
        return self.url_open(f"{self.path(account)}?{wf.wc_query(params)}", data=body,
                             headers={"Content-Type": "text/xml"})

    def deliver(self, fields, **kwargs):
        """Post a delivery, check WeChat's acknowledgement, process it."""
        response = self.post(fields, **kwargs)
        self.assertEqual((response.status_code, response.text), (200, "success"))
        self.process()

    def event_count(self):
        return self.env["messenger.event"].search_count([])

    def wc_conversation(self, openid=OPENID):
        return self.conversation(self.wc_account, openid)

    # --- webhook ------------------------------------------------------------------------------------

    def test_handshake(self):
        params = wf.wc_handshake("7208474432785463455")
        ok = self.url_open(f"{self.path()}?{wf.wc_query(params)}")
        self.assertEqual((ok.status_code, ok.text), (200, "7208474432785463455"))
        bad = self.url_open(f"{self.path()}?{wf.wc_query({**params, 'signature': '0' * 40})}")
        self.assertEqual(bad.status_code, 403)

    def test_refused_deliveries_store_nothing(self):
        before = self.event_count()
        text = wf.wc_text(text="hi", msg_id=1)
        params, body = wf.wc_delivery(text, mode="safe")
        refusals = {
            "bad msg_signature": (f"{self.path()}?{wf.wc_query({**params, 'msg_signature': '0' * 40})}", body, 403),
            "plain delivery to a safe account": (None, wf.wc_delivery(text, mode="plain"), 403),
            "foreign app id": (None, wf.wc_delivery(text, mode="safe", app_id="wx9999999999999999"), 403),
            "other account": (None, wf.wc_delivery(wf.wc_text(original_id="gh_another000000"), mode="safe"), 403),
            "broken AES": (None, wf.wc_delivery(text, mode="safe", aes_key="Z" * 43), 403),
            "entity in the encrypted XML": (None, wf.wc_delivery(
                b'<!DOCTYPE xml [<!ENTITY a "x">]><xml><Content>&a;</Content></xml>', mode="safe"), 400),
            "billion laughs outside": (f"{self.path()}?{wf.wc_query(params)}",
                                       b'<!DOCTYPE x [<!ENTITY l "l"><!ENTITY l2 "&l;&l;">]><xml>&l2;</xml>', 400),
        }
        for name, (url, delivery, status) in refusals.items():
            if url is None:
                delivery_params, delivery_body = delivery
                url, body_ = f"{self.path()}?{wf.wc_query(delivery_params)}", delivery_body
            else:
                body_ = delivery
            response = self.url_open(url, data=body_, headers={"Content-Type": "text/xml"})
            self.assertEqual(response.status_code, status, name)
        self.assertEqual(self.event_count(), before)
        self.assertFalse(self.wc_conversation())

    def test_text_in_reply_out_one_token(self):
        self.deliver(wf.wc_text(text="你好, I saw your job ad", msg_id=1001))
        conversation = self.wc_conversation()
        message = conversation.messenger_message_ids
        self.assertEqual((message.direction, message.body, message.external_id),
                         ("in", "你好, I saw your job ad", "1001"))
        self.assertTrue(conversation.window_open)
        conversation.with_user(self.user_manager).action_send_text("Welcome! 欢迎")
        conversation.action_send_text("A second reply")
        self.send_queued()
        self.assertEqual([sent["text"] for sent in self.fake_wc.sent], ["Welcome! 欢迎", "A second reply"])
        self.assertEqual(set(conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
                             .mapped("state")), {"sent"})
        self.assertEqual(self.fake_wc.token_fetches, 1, "one token, shared by both sends")

    def test_redelivery_reencrypted_is_stored_once(self):
        fields = wf.wc_text(text="once", msg_id=1002)
        for _attempt in range(3):  # WeChat retries; each retry is encrypted anew
            self.assertEqual(self.post(fields).status_code, 200)
        self.process()
        self.assertEqual(len(self.messages(self.wc_account, external_id="1002")), 1)

    def test_plain_and_compatible_accounts(self):
        for mode in ("plain", "compatible"):
            account = self.env["messenger.account"].create(wechat_vals(
                self.fake_wc, name=f"WeChat {mode}", wc_encryption=mode))
            self.deliver(wf.wc_text(text=f"in {mode}", msg_id=hash(mode) % 10 ** 9), mode=mode, account=account)
            self.assertEqual(self.conversation(account, OPENID).messenger_message_ids.body, f"in {mode}")

    # --- every event ---------------------------------------------------------------------------------

    def test_image_voice_video_location_link(self):
        self.fake_wc.add_media("IMG1", b"\xff\xd8jpeg-bytes", "image/jpeg")
        self.fake_wc.add_media("VID1", b"mp4-bytes", "video/mp4")
        self.deliver(wf.wc_message(msg_type="image", msg_id=2001, PicUrl="http://127.0.0.1:9/p", MediaId="IMG1"))
        self.deliver(wf.wc_message(msg_type="voice", msg_id=2002, MediaId="VOICE1", Format="amr",
                                   Recognition="我想申请"))
        self.deliver(wf.wc_message(msg_type="video", msg_id=2003, MediaId="VID1", ThumbMediaId="T"))
        self.deliver(wf.wc_message(msg_type="location", msg_id=2004, Location_X=31.2304, Location_Y=121.4737,
                                   Scale=15, Label="上海"))
        self.deliver(wf.wc_message(msg_type="link", msg_id=2005, Title="My CV", Description="",
                                   Url="https://example.com/cv"))
        by_id = {m.external_id: m for m in self.wc_conversation().messenger_message_ids}
        self.assertEqual((by_id["2001"].content_type, by_id["2001"].attachment_ids.raw),
                         ("image", b"\xff\xd8jpeg-bytes"))
        self.assertEqual((by_id["2002"].content_type, by_id["2002"].body), ("audio", "我想申请"))
        self.assertEqual(by_id["2002"].media_state, "failed", "no such voice media on the fake: kept, retryable")
        self.assertEqual(by_id["2003"].attachment_ids.raw, b"mp4-bytes")
        self.assertEqual((by_id["2004"].content_type, by_id["2004"].location["latitude"]), ("location", 31.2304))
        self.assertEqual((by_id["2005"].content_type, by_id["2005"].payload), ("other", "https://example.com/cv"))

    def test_subscribe_opts_in_and_opens_the_window_unsubscribe_blocks(self):
        self.deliver(wf.wc_event(event="subscribe", create_time=1700000000 + 10 ** 7))
        conversation = self.wc_conversation()
        self.assertEqual(conversation.consent_service, "opt_in")
        entry = conversation.consent_ids.filtered(lambda c: c.purpose == "service")[:1]
        self.assertIn("subscribe", entry.evidence)
        self.assertTrue(conversation.last_inbound_at)
        self.deliver(wf.wc_event(event="unsubscribe"))
        conversation.invalidate_recordset()
        self.assertTrue(conversation.blocked)
        with self.assertRaises(UserError):
            conversation.action_send_text("still there?")
        self.deliver(wf.wc_event(event="subscribe"))  # following again ends the block
        conversation.invalidate_recordset()
        self.assertFalse(conversation.blocked)
        conversation.action_send_text("Welcome back")

    def test_menu_click_matches_a_payload_routing_rule(self):
        rule = self.env["messenger.routing.rule"].create({
            "name": "Jobs menu", "account_id": self.wc_account.id, "match_type": "payload", "pattern": "MENU_JOBS",
            "action": "assign_user", "user_id": self.user_agent.id})
        self.deliver(wf.wc_event(event="CLICK", event_key="MENU_JOBS"))
        self.deliver(wf.wc_event(event="VIEW", event_key="https://example.com/jobs"))
        conversation = self.wc_conversation()
        payloads = conversation.messenger_message_ids.mapped("payload")
        self.assertEqual(sorted(payloads), ["MENU_JOBS", "https://example.com/jobs"])
        self.assertEqual(conversation.user_id, rule.user_id)

    def test_template_message_and_its_final_state(self):
        self.deliver(wf.wc_text(text="hi", msg_id=3001))
        conversation = self.wc_conversation()
        conversation.action_send_template("TPL_interview", "zh_CN", ["Monday 10:00", "Shanghai office"])
        self.send_queued()
        (sent,) = self.fake_wc.sent
        self.assertEqual(sent["payload"]["data"], {"keyword1": {"value": "Monday 10:00"},
                                                   "keyword2": {"value": "Shanghai office"}})
        message = self.messages(self.wc_account, direction="out")
        self.assertEqual((message.state, message.external_id), ("sent", sent["id"]))
        self.deliver(wf.wc_template_finish(sent["id"], "success"))
        self.assertEqual(message.state, "delivered")
        # a refused one: failed with WeChat's reason, and the person's refusal applied
        conversation.action_send_template("TPL_interview", "zh_CN", ["Tuesday"])
        self.send_queued()
        second = self.messages(self.wc_account, direction="out", state="sent")
        self.deliver(wf.wc_template_finish(second.external_id, "failed:user block"))
        self.assertEqual((second.state, second.error_code), ("failed", "user_block"))
        self.assertIn("user block", second.error_message)

    def test_scan_of_a_job_qr_code_applies(self):
        job = self.env["hr.job"].create({"name": "Barista (Shanghai)"})
        self.deliver(wf.wc_event(event="SCAN", event_key=f"JOB-{job.id}", Ticket="T"))
        conversation = self.wc_conversation()
        self.assertEqual(conversation.applicant_id.job_id, job)

    def test_job_qr_code_and_subscribe_by_it(self):
        job = self.env["hr.job"].create({"name": "Store Manager (Beijing)"})
        job.invalidate_recordset(["messenger_apply_html"])
        html = str(job.messenger_apply_html)
        code = self.fake_wc.qr_codes.get(f"JOB-{job.id}")
        self.assertTrue(code, "the permanent QR code was made through qrcode/create")
        self.assertIn(code["url"], html)
        request = next(r for r in self.fake_wc.requests if r.path == "/cgi-bin/qrcode/create")
        self.assertEqual(request.json["action_name"], "QR_LIMIT_STR_SCENE")
        # made once: the next rendering reuses it
        job.invalidate_recordset(["messenger_apply_html"])
        self.assertIn(code["url"], str(job.messenger_apply_html))
        self.assertEqual(len([r for r in self.fake_wc.requests if r.path == "/cgi-bin/qrcode/create"]), 1)
        self.deliver(wf.wc_event(OTHER_OPENID, "subscribe", f"qrscene_JOB-{job.id}", Ticket=code["ticket"]))
        conversation = self.wc_conversation(OTHER_OPENID)
        self.assertEqual(conversation.applicant_id.job_id, job)
        self.assertEqual(conversation.consent_service, "opt_in")

    def test_job_qr_code_not_asked_again_right_after_a_failure(self):
        job = self.env["hr.job"].create({"name": "Cook (Chengdu)"})
        self.wc_account.api_base_url = "http://127.0.0.1:9"  # WeChat unreachable
        job.invalidate_recordset(["messenger_apply_html"])
        self.assertNotIn("weixin.qq.com", str(job.messenger_apply_html))
        self.wc_account.api_base_url = self.fake_wc.url
        job.invalidate_recordset(["messenger_apply_html"])
        # rendered again within the pause: WeChat is not asked
        self.assertNotIn("weixin.qq.com", str(job.messenger_apply_html))
        self.assertFalse([r for r in self.fake_wc.requests if r.path == "/cgi-bin/qrcode/create"])

    # --- sending: window, quota, token ---------------------------------------------------------------

    def test_per_person_quota_checked_before_queueing(self):
        self.wc_account.wc_quota_after_message = 3
        self.deliver(wf.wc_text(text="hello", msg_id=4001))
        conversation = self.wc_conversation()
        for n in range(3):
            conversation.action_send_text(f"reply {n}")
        with self.assertRaisesRegex(UserError, "received them all"):
            conversation.action_send_text("one too many")
        self.assertEqual(len(conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")), 3)
        self.deliver(wf.wc_text(text="thanks", msg_id=4002))  # a new interaction, a new quota
        conversation.action_send_text("you are welcome")
        # after a menu click the smaller quota applies
        self.wc_account.wc_quota_after_event = 1
        self.deliver(wf.wc_event(event="CLICK", event_key="MENU_X"))
        conversation.action_send_text("about the menu")
        with self.assertRaises(UserError):
            conversation.action_send_text("and more")

    def test_quota_error_of_wechat_closes_the_window(self):
        self.fake_wc.set_quotas(cs_quota=1)
        self.deliver(wf.wc_text(text="hello", msg_id=4101))
        conversation = self.wc_conversation()
        conversation.action_send_text("one")
        conversation.action_send_text("two")
        self.send_queued()
        first, second = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out").sorted("id")
        self.assertEqual((first.state, second.state, second.error_code), ("sent", "failed", "45047"))
        self.assertFalse(conversation.window_open)

    def test_token_refreshed_after_40001_and_retried_once(self):
        self.deliver(wf.wc_text(text="hello", msg_id=5001))
        conversation = self.wc_conversation()
        conversation.action_send_text("with the first token")
        self.send_queued()
        self.assertEqual(self.fake_wc.token_fetches, 1)
        # someone fetched a token elsewhere (WeChat's dashboard, another tool): ours is dead
        other = self.wc_account._get_provider()
        other.fetch_access_token()
        conversation.action_send_text("after the refresh")
        self.send_queued()
        self.assertEqual([sent["text"] for sent in self.fake_wc.sent], ["with the first token", "after the refresh"])
        self.assertEqual(self.fake_wc.token_fetches, 3, "ours, the other one, our refresh")
        self.fake_wc.expire_token()
        conversation.action_send_text("after expiry")
        self.send_queued()
        self.assertEqual(self.fake_wc.sent[-1]["text"], "after expiry")

    def test_token_shared_by_two_processes_one_fetch(self):
        """Two servers asking for the token at once: one fetches under the row lock, the other waits and takes
        it (each on its own database connection, as two processes)."""
        dbname = self.env.cr.dbname
        with closing(sql_db.db_connect(dbname).cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account_id = env["messenger.account"].create(wechat_vals(self.fake_wc, name="WeChat shared")).id
            cr.commit()
        try:
            self.fake_wc.token_delay = 0.5  # the first fetch is slow: the second process comes while it runs
            tokens, errors = [], []
            barrier = threading.Barrier(2)

            def server():
                try:
                    with closing(sql_db.db_connect(dbname).cursor()) as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        barrier.wait()
                        tokens.append(env["messenger.wechat.token"]._locked_token(account_id))
                except Exception as error:  # noqa: BLE001 - reported by the assertion below
                    errors.append(error)

            threads = [threading.Thread(target=server) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            self.assertEqual(errors, [])
            self.assertEqual(self.fake_wc.token_fetches, 1)
            self.assertEqual(len(set(tokens)), 1)
            self.assertEqual(tokens[0], self.fake_wc.current_token)
        finally:
            with closing(sql_db.db_connect(dbname).cursor()) as cr:
                cr.execute("DELETE FROM messenger_wechat_token WHERE account_id = %s", [account_id])
                cr.execute("DELETE FROM messenger_account WHERE id = %s", [account_id])
                cr.commit()

    def test_image_reply_by_uploaded_media(self):
        self.deliver(wf.wc_text(text="send me the map", msg_id=6001))
        conversation = self.wc_conversation()
        attachment = self.env["ir.attachment"].create({
            "name": "map.png", "raw": b"\x89PNG\r\n\x1a\nmap", "mimetype": "image/png",
            "res_model": conversation._name, "res_id": conversation.id})
        conversation.action_send_text("", attachment_ids=attachment.ids)
        self.send_queued()
        (sent,) = self.fake_wc.sent
        self.assertEqual(sent["type"], "image")
        self.assertEqual(self.fake_wc.media[sent["payload"]["image"]["media_id"]]["content"], b"\x89PNG\r\n\x1a\nmap")

    # --- broadcasts ----------------------------------------------------------------------------------

    def followers(self, account, *openids):
        """Followers who also agreed to the account's news (a broadcast is marketing)."""
        for openid in openids:
            self.deliver(wf.wc_event(openid, "subscribe"), account=account)
            self.conversation(account, openid)._opt_in(["marketing"], "web_form", evidence="News sign-up form",
                                                       confirm=False)

    def broadcast(self, account, name="News", **values):
        return self.env["messenger.wechat.broadcast"].create({
            "name": name, "account_id": account.id, "body": "Open day on Friday", **values})

    def test_subscription_account_broadcasts_once_a_day(self):
        account = self.env["messenger.account"].create(wechat_vals(
            self.fake_wc, name="WeChat subscription", wc_account_type="subscription"))
        self.followers(account, OPENID, OTHER_OPENID, "oThird0penId0000000000000003")
        self.deliver(wf.wc_event("oThird0penId0000000000000003", "unsubscribe"), account=account)
        with freeze_time("2026-03-31 15:00:00"):  # 23:00 in China
            first = self.broadcast(account)
            first.action_send()
            self.assertEqual((first.state, first.recipient_count), ("sent", 2), "only opted-in, unblocked followers")
            (mass,) = self.fake_wc.mass_sends
            self.assertEqual(sorted(mass["target"]["touser"]), sorted([OPENID, OTHER_OPENID]))
            second = self.broadcast(account, "More news")
            with self.assertRaisesRegex(UserError, "2026-04-01"):
                second.action_send()
            self.assertEqual(len(self.fake_wc.mass_sends), 1, "refused before anything was sent")
        with freeze_time("2026-03-31 16:01:00"):  # 00:01 on April 1st in China: a new day
            second.action_send()
            self.assertEqual(second.state, "sent")

    def test_service_account_broadcasts_four_times_a_month(self):
        self.followers(self.wc_account, OPENID, OTHER_OPENID)
        with freeze_time("2026-02-02 08:00:00"):
            for n in range(4):
                self.broadcast(self.wc_account, f"News {n}").action_send()
            fifth = self.broadcast(self.wc_account, "News 5")
            with self.assertRaisesRegex(UserError, "2026-03-01"):
                fifth.action_send()
        with freeze_time("2026-02-28 16:00:00"):  # March 1st, 00:00 in China
            fifth.action_send()
        self.assertEqual(len(self.fake_wc.mass_sends), 5)
        self.assertEqual(fifth.recipient_count, 2)

    def test_broadcast_final_report(self):
        self.followers(self.wc_account, OPENID, OTHER_OPENID)
        broadcast = self.broadcast(self.wc_account)
        broadcast.action_send()
        self.deliver(wf.wc_mass_finish(broadcast.msg_id, "send success", total=2, filtered=2, sent=1, errors=1))
        self.assertEqual((broadcast.result, broadcast.sent_count, broadcast.error_count), ("send success", 1, 1))

    def test_failed_broadcast_keeps_its_reason_and_can_go_again(self):
        self.followers(self.wc_account, OPENID, OTHER_OPENID)
        self.fake_wc.fail_next(1, 200, wf.wc_error_body(-1))
        broadcast = self.broadcast(self.wc_account)
        broadcast.action_send()
        self.assertEqual(broadcast.state, "failed")
        self.assertIn("-1", broadcast.error)
        broadcast.action_send()
        self.assertEqual(broadcast.state, "sent")
        self.assertEqual(self.fake_wc.mass_sends[0]["payload"]["clientmsgid"], broadcast.client_msg_id)

    # --- access ---------------------------------------------------------------------------------------

    def test_credentials_for_managers_only(self):
        for fname in ("wc_app_secret", "wc_token", "wc_encoding_aes_key", "wc_app_id", "wc_original_id"):
            field = self.env["messenger.account"]._fields[fname]
            self.assertEqual(field.groups, "messenger_connector.group_messenger_manager", fname)
        account = self.wc_account.with_user(self.user_agent)
        with self.assertRaises(AccessError):
            account.read(["wc_app_secret"])

    # --- profile -------------------------------------------------------------------------------------------

    def test_follower_profile_and_unionid(self):
        self.fake_wc.add_follower(OPENID, nickname="Li Lei", language="zh_CN", unionid="oUnionLiLei")
        self.deliver(wf.wc_text(text="hi", msg_id=7001))
        conversation = self.wc_conversation()
        self.assertEqual((conversation.profile_name, conversation.profile_language, conversation.wc_union_id),
                         ("Li Lei", "zh_CN", "oUnionLiLei"))
        # the same person writes to another account of ours (another OpenID there, the same UnionID)
        other = self.env["messenger.account"].create(wechat_vals(self.fake_wc, name="WeChat jobs"))
        self.fake_wc.add_follower(OTHER_OPENID, language="zh_CN", unionid="oUnionLiLei")  # no nickname there
        self.deliver(wf.wc_text(OTHER_OPENID, text="hello again", msg_id=7002), account=other)
        self.assertEqual(self.conversation(other, OTHER_OPENID).partner_id, conversation.partner_id)

    # --- data protection ----------------------------------------------------------------------------------

    def test_erasure_reaches_the_encrypted_deliveries(self):
        self.deliver(wf.wc_text(text="my secret address", msg_id=8001))
        self.deliver(wf.wc_event(event="CLICK", event_key="MENU_JOBS"))
        self.deliver(wf.wc_text(OTHER_OPENID, text="someone else", msg_id=8002))
        conversation = self.wc_conversation()
        events = conversation._person_events()
        self.assertEqual(len(events), 2, "found inside the encrypted bodies")
        self.assertNotIn(OPENID.encode(), events[0].body.encode(), "safe mode: the body names nobody in clear")
        conversation._retention_remove()
        self.assertEqual(set(events.mapped("body")), {"{}"})
        other = self.wc_conversation(OTHER_OPENID)
        self.assertEqual(len(other._person_events()), 1, "another person's deliveries stay")
