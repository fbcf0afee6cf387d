import json
import threading
import time
from contextlib import closing

import psycopg2.errors

from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import fakes
from .test_wechat import OPENID, OTHER_OPENID, WeChatCase, wechat_vals

from messenger_fakes import wechat as wf  # noqa: E402, I001

THIRD_OPENID = "oThird0penId0000000000000003"


@tagged("post_install", "-at_install")
class TestPlatformInputs(WeChatCase):
    """What the platforms send is accepted only when it is theirs and can be processed; what is sent out in bulk
    and the consent recorded by hand follow the person's choices."""

    def wc_post(self, account, params, body):
        return self.url_open(f"/messenger/webhook/{account.webhook_key}?{wf.wc_query(params)}", data=body,
                             headers={"Content-Type": "text/xml"})

    def events(self, account):
        return self.env["messenger.event"].search([("account_id", "=", account.id)])

    # --- WeChat plain and compatible mode: replay protection -----------------------------------------

    def test_a_captured_signature_is_not_replayed_with_another_body(self):
        for mode in ("plain", "compatible"):
            with self.subTest(mode=mode):
                account = self.env["messenger.account"].create(wechat_vals(
                    self.fake_wc, name=f"WeChat {mode}", wc_encryption=mode))
                params, body = wf.wc_delivery(wf.wc_text(OPENID, text="hello", msg_id=4001), mode="plain")
                self.assertEqual(self.wc_post(account, params, body).status_code, 200)
                # WeChat's own redelivery of the same message: accepted, stored once
                self.assertEqual(self.wc_post(account, params, body).status_code, 200)
                self.assertEqual(len(self.events(account)), 1)
                forged = wf.wc_xml(wf.wc_text(OTHER_OPENID, text="STOP", msg_id=4002))
                self.assertEqual(self.wc_post(account, params, forged).status_code, 403)
                self.assertEqual(len(self.events(account)), 1)
                self.process()
                self.assertFalse(self.conversation(account, OTHER_OPENID))

    def test_an_old_delivery_is_refused(self):
        for mode in ("plain", "compatible"):
            with self.subTest(mode=mode):
                account = self.env["messenger.account"].create(wechat_vals(
                    self.fake_wc, name=f"WeChat {mode}", wc_encryption=mode))
                month_ago = int(time.time()) - 30 * 86400
                params, body = wf.wc_delivery(wf.wc_text(OPENID, text="old", msg_id=4101), mode="plain",
                                              timestamp=month_ago)
                self.assertEqual(self.wc_post(account, params, body).status_code, 403)
                self.assertFalse(self.events(account))
                fresh = wf.wc_delivery(wf.wc_text(OPENID, text="new", msg_id=4102), mode="plain")
                self.assertEqual(self.wc_post(account, *fresh).status_code, 200)

    def test_the_account_form_says_only_safe_mode_protects_the_content(self):
        arch = self.env["messenger.account"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("Only safe mode protects the content", arch)
        self.assertIn("wc_encryption == 'safe'", arch)

    # --- WeChat broadcasts ------------------------------------------------------------------------------

    def follow(self, account, openid, marketing):
        params, body = wf.wc_delivery(wf.wc_event(openid, "subscribe"), mode="safe")
        self.assertEqual(self.wc_post(account, params, body).status_code, 200)
        self.process()
        conversation = self.conversation(account, openid)
        if marketing == "opt_in":
            conversation._opt_in(["marketing"], "web_form", evidence="News sign-up form", confirm=False)
        elif marketing == "opt_out":
            conversation._opt_out(["marketing"], "keyword", evidence="STOP", confirm=False)
        return conversation

    def test_a_broadcast_is_marketing_whatever_its_label(self):
        self.follow(self.wc_account, OPENID, "opt_in")
        self.follow(self.wc_account, OTHER_OPENID, "opt_out")
        self.follow(self.wc_account, THIRD_OPENID, "opt_in")
        broadcast = self.env["messenger.wechat.broadcast"].create({
            "name": "News", "account_id": self.wc_account.id, "body": "Open day", "purpose": "service"})
        broadcast.write({"purpose": "service"})
        self.assertEqual(broadcast.purpose, "marketing")
        broadcast.action_send()
        self.assertEqual(broadcast.state, "sent", broadcast.error)
        (mass,) = self.fake_wc.mass_sends
        self.assertEqual(sorted(mass["target"]["touser"]), sorted([OPENID, THIRD_OPENID]))

    def test_the_broadcast_quota_holds_under_parallel_sends(self):
        """Six managers send at once on a service account with four broadcasts a month: four go, each in its
        own transaction (as Odoo retries a request whose transaction met a concurrent update)."""
        dbname = self.env.cr.dbname
        with closing(sql_db.db_connect(dbname).cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = env["messenger.account"].create(wechat_vals(self.fake_wc, name="WeChat parallel"))
            for openid in (OPENID, OTHER_OPENID):
                conversation = env["messenger.conversation"].create({
                    "account_id": account.id, "external_user_id": openid})
                conversation._opt_in(["marketing"], "web_form", evidence="News sign-up form", confirm=False)
            broadcast_ids = env["messenger.wechat.broadcast"].create([{
                "name": f"News {n}", "account_id": account.id, "body": f"News {n}"} for n in range(6)]).ids
            account_id = account.id
            cr.commit()
            env["messenger.wechat.token"]._locked_token(account_id)  # fetched once, before the managers come
        results, barrier = {}, threading.Barrier(len(broadcast_ids))

        def manager(broadcast_id):
            first = True
            for _attempt in range(10):
                try:
                    with closing(sql_db.db_connect(dbname).cursor()) as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        broadcast = env["messenger.wechat.broadcast"].browse(broadcast_id)
                        # the transaction's snapshot, taken before the others commit
                        self.assertEqual(broadcast.state, "draft")
                        if first:
                            first = False
                            barrier.wait(10)
                        broadcast.action_send()
                        cr.commit()
                        results[broadcast_id] = broadcast.state
                        return
                except psycopg2.errors.SerializationFailure:
                    time.sleep(0.05)  # what Odoo does with the request: again, in a new transaction
                except UserError as error:
                    results[broadcast_id] = str(error)
                    return
                except Exception as error:  # noqa: BLE001 - reported by the assertions below
                    results[broadcast_id] = repr(error)
                    return

        try:
            with mute_logger("odoo.sql_db"):
                threads = [threading.Thread(target=manager, args=(bid,)) for bid in broadcast_ids]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
            sent = [bid for bid, state in results.items() if state == "sent"]
            self.assertEqual(len(self.fake_wc.mass_sends), 4, results)
            self.assertEqual(len(sent), 4, results)
            self.assertEqual(len(results), 6, results)
        finally:
            with closing(sql_db.db_connect(dbname).cursor()) as cr:
                cr.execute("DELETE FROM messenger_wechat_broadcast WHERE account_id = %s", [account_id])
                cr.execute("DELETE FROM messenger_consent WHERE conversation_id IN "
                           "(SELECT id FROM messenger_conversation WHERE account_id = %s)", [account_id])
                cr.execute("DELETE FROM messenger_conversation WHERE account_id = %s", [account_id])
                cr.execute("DELETE FROM messenger_wechat_token WHERE account_id = %s", [account_id])
                cr.execute("DELETE FROM messenger_account WHERE id = %s", [account_id])
                cr.commit()

    # --- consent by hand -------------------------------------------------------------------------------

    def test_an_opt_out_is_undone_by_a_manager_with_a_reason_only(self):
        conversation = self.follow(self.wc_account, OPENID, None)
        conversation._opt_out(["marketing"], "keyword", evidence="STOP", confirm=False)
        Wizard = self.env["messenger.consent.record"]
        values = {"conversation_id": conversation.id, "action": "opt_in", "purpose_service": False,
                  "purpose_marketing": True, "source": "web_form", "evidence": "ticked the box"}
        self.assertTrue(conversation.with_user(self.user_agent).has_access("read"))
        with self.assertRaises(AccessError):
            Wizard.with_user(self.user_agent).create(values).action_record()
        with self.assertRaises(UserError):
            Wizard.with_user(self.user_manager).create(values).action_record()
        self.assertEqual(conversation._consent_state("marketing"), "opt_out")
        Wizard.with_user(self.user_manager).create(dict(values, reason="Signed the form at the fair on May 3")) \
            .action_record()
        self.assertEqual(conversation._consent_state("marketing"), "opt_in")
        entry = conversation.consent_ids.sorted("id")[-1]
        self.assertEqual((entry.source, entry.reason, entry.user_id), (
            "manual", "Signed the form at the fair on May 3", self.user_manager))

    # --- a delivery accepted is processable --------------------------------------------------------------

    def post_wa(self, payload):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.url_open(f"/messenger/webhook/{self.wa_account.webhook_key}", data=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, "test-app-secret")})

    def test_a_lone_surrogate_is_stored_replaced(self):
        payload = self.wa_text("32470555555", "ok \ud800 done", "wamid.SURROGATE")
        body = json.dumps(payload).encode()
        self.assertIn(b"\\ud800", body)
        self.assertEqual(self.post_wa(body).status_code, 200)
        self.process()
        message = self.messages(self.wa_account, external_id="wamid.SURROGATE")
        self.assertEqual(message.body, "ok \ufffd done")
        self.assertEqual(message.event_id.state, "done")

    # --- hostile file names --------------------------------------------------------------------------------

    def test_hostile_file_names_are_cleaned(self):
        for n, (filename, stored) in enumerate((("\u202etxt.exe", "txt.exe"),
                                                ("../../../../etc/cron.d/evil", "evil"),
                                                ("..\\..\\boot.ini", "boot.ini"), ("简历.pdf", "简历.pdf"))):
            with self.subTest(filename=filename):
                media_id, wamid = f"media-{n}", f"wamid.FILE{n}"
                self.fake_wa.add_media(media_id, b"%PDF-1.4", "application/pdf")
                payload = fakes.wa_payload(messages=[{
                    "from": "32470666666", "id": wamid, "timestamp": str(int(time.time())), "type": "document",
                    "document": {"id": media_id, "mime_type": "application/pdf", "sha256": "x",
                                 "filename": filename}}],
                    contacts=[{"profile": {"name": "Fiona File"}, "wa_id": "32470666666"}])
                self.assertEqual(self.post_wa(payload).status_code, 200)
                self.process()
                message = self.messages(self.wa_account, external_id=wamid)
                self.assertEqual(message.attachment_ids.name, stored)
                self.assertEqual(message.media_ref["filename"], stored)
