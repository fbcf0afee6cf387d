import datetime
import json

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged

from .common import TG_SECRET, TG_TOKEN, WA_PHONE_ID, WA_SECRET, WA_TOKEN, WA_VERIFY, MessengerCase, fakes


class HealthCase(MessengerCase, HttpCase):

    def path(self, account):
        return f"/messenger/webhook/{account.webhook_key}"

    def post_wa(self, payload, secret=WA_SECRET):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.url_open(self.path(self.wa_account), data=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, secret)})

    def counts(self, **domain):
        return self.env["messenger.delivery.count"].sudo().search([(k, "=", v) for k, v in domain.items()])


@tagged("post_install", "-at_install")
class TestDeliveryCounts(HealthCase):

    def test_refusals_counted_by_reason_nothing_stored(self):
        events = self.env["messenger.event"].search_count([])
        self.assertFalse(self.wa_account.last_delivery_at)
        payload = self.wa_text("32470000501", "a secret body text", "wamid.H1")
        self.assertEqual(self.post_wa(payload).status_code, 200)
        self.assertEqual(self.post_wa(payload).status_code, 200)
        self.assertEqual(self.post_wa(self.wa_text("32470000501", "refused words", "wamid.H2"),
                                      secret="wrong").status_code, 403)
        self.assertEqual(self.post_wa(self.wa_text("32470000501", "refused words", "wamid.H3"),
                                      secret="wrong").status_code, 403)
        self.assertEqual(self.post_wa(b'{"object": "page"}').status_code, 400)
        big = self.wa_text("32470000501", "x" * (1024 * 1024 + 10), "wamid.H4")
        self.assertEqual(self.post_wa(big).status_code, 413)
        self.assertEqual(self.url_open("/messenger/webhook/" + "u" * 43, data=b"{}").status_code, 404)

        self.assertEqual(self.env["messenger.event"].search_count([]), events + 1, "only the accepted one")
        account = self.wa_account
        account.invalidate_recordset()
        # (a body over Odoo's limit for the route is refused by Odoo before the route: not counted)
        self.assertEqual((account.accepted_24h, account.duplicate_24h, account.refused_signature_24h,
                          account.refused_malformed_24h), (1, 1, 2, 1))
        self.assertTrue(account.last_delivery_at)
        self.assertTrue(account.last_refusal_at)
        self.assertIn("is another service calling this URL?", account.last_refusal_reason, "the last one: malformed")
        self.assertEqual(sum(self.counts(account_id=False, outcome="refused", reason="unknown_account")
                             .mapped("count")), 1, "an unknown key is counted for the database")
        # nothing of a refused body anywhere: the counters hold numbers, times and reasons only
        rows = self.counts()
        self.assertNotIn("refused words", json.dumps(rows.read(), default=str))
        self.assertFalse(self.env["messenger.event"].search([("body", "ilike", "refused words")]))

    def test_telegram_refusal_says_what_to_fix(self):
        response = self.url_open(self.path(self.tg_account), data=json.dumps(fakes.tg_update(7)).encode(),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"})
        self.assertEqual(response.status_code, 403)
        self.tg_account.invalidate_recordset()
        self.assertIn("Register Webhook", self.tg_account.last_refusal_reason)
        self.assertEqual(self.tg_account.refused_signature_24h, 1)
        self.assertFalse(self.wa_account.refused_signature_24h)


@tagged("post_install", "-at_install")
class TestMonitoringRoute(HealthCase):

    def test_needs_its_key_and_reveals_no_secret(self):
        self.assertEqual(self.post_wa(self.wa_text("32470000601", "Private words of Jane", "wamid.M1"),
                                      ).status_code, 200)
        self.post_wa(self.wa_text("32470000601", "x", "wamid.M2"), secret="wrong")
        self.assertEqual(self.url_open("/messenger/health/" + "k" * 43).status_code, 404, "no key set yet")
        self.env["messenger.account"].with_user(self.env.ref("base.user_admin")).action_new_monitoring_key()
        key = self.env["ir.config_parameter"].sudo().get_param("messenger_connector.monitoring_key")
        self.assertEqual(self.url_open("/messenger/health/" + "k" * 43).status_code, 404)
        self.assertEqual(self.url_open("/messenger/health/" + key[:-1]).status_code, 404)
        response = self.url_open("/messenger/health/" + key)
        self.assertEqual(response.status_code, 200)
        state = response.json()
        wa = next(a for a in state["accounts"] if a["id"] == self.wa_account.id)
        self.assertEqual(wa["deliveries_24h"]["accepted"], 1)
        self.assertEqual(wa["deliveries_24h"]["refused"]["signature"], 1)
        self.assertTrue(wa["last_delivery_at"])
        self.assertIn("App Secret", wa["last_refusal_reason"])
        for secret in (WA_TOKEN, WA_SECRET, WA_VERIFY, TG_TOKEN, TG_SECRET, self.wa_account.webhook_key,
                       self.tg_account.webhook_key, key, "32470000601", "Jane", "Private words"):
            self.assertNotIn(secret, response.text)

    def test_monitoring_url_for_administrators_only(self):
        with self.assertRaises(AccessError):
            self.env["messenger.account"].with_user(self.user_manager).action_new_monitoring_key()
        self.assertFalse(self.env["ir.config_parameter"].sudo().get_param("messenger_connector.monitoring_key"))


@tagged("post_install", "-at_install")
class TestHealthAlerts(HealthCase):

    def alerts(self, account):
        return self.env["mail.activity"].search([
            ("res_model", "=", "messenger.account"), ("res_id", "=", account.id),
            ("activity_type_id", "=", self.env.ref("messenger_connector.mail_activity_type_messenger_health").id)])

    def delivered(self, account, at):
        self.env["messenger.delivery.count"].sudo().create({
            "account_id": account.id, "hour": at.replace(minute=0, second=0), "outcome": "accepted", "count": 1,
            "last_at": at})

    def test_silence_alert_fires_once_and_clears(self):
        self.wa_account.silence_alert_hours = 4
        Account = self.env["messenger.account"]
        self.delivered(self.wa_account, datetime.datetime(2026, 3, 2, 8, 0))
        with freeze_time("2026-03-02 10:00:00"):
            self.wa_account.invalidate_recordset()
            Account._cron_health_alerts()
            self.assertFalse(self.alerts(self.wa_account), "2 hours of silence: no alert yet")
        with freeze_time("2026-03-02 13:00:00"):
            self.wa_account.invalidate_recordset()
            Account._cron_health_alerts()
            alerts = self.alerts(self.wa_account)
            self.assertTrue(alerts)
            self.assertIn(self.user_manager, alerts.user_id)
            self.assertIn("sent nothing since", str(alerts[0].note))
            Account._cron_health_alerts()
            self.assertEqual(self.alerts(self.wa_account), alerts, "one activity, not one per run")
            self.assertFalse(self.alerts(self.tg_account), "an account without a silence alert")
        with freeze_time("2026-03-02 14:00:00"):
            self.delivered(self.wa_account, datetime.datetime(2026, 3, 2, 13, 50))
            self.wa_account.invalidate_recordset()
            Account._cron_health_alerts()
            self.assertFalse(self.alerts(self.wa_account), "deliveries resumed: the alert is done")

    def test_silence_counts_working_hours_only(self):
        self.wa_account.silence_alert_hours = 4
        self.company.resource_calendar_id = self.env.ref("resource.resource_calendar_std")
        self.delivered(self.wa_account, datetime.datetime(2026, 3, 6, 16, 30))  # a Friday afternoon
        with freeze_time("2026-03-08 12:00:00"):  # Sunday: a weekend without deliveries is no silence
            self.wa_account.invalidate_recordset()
            self.env["messenger.account"]._cron_health_alerts()
            self.assertFalse(self.alerts(self.wa_account))
        with freeze_time("2026-03-09 15:00:00"):  # Monday afternoon: a working morning without any
            self.wa_account.invalidate_recordset()
            self.env["messenger.account"]._cron_health_alerts()
            self.assertTrue(self.alerts(self.wa_account))

    def test_refusals_piling_up_alert(self):
        self.wa_account.refusal_alert_count = 3
        for n in range(3):
            self.post_wa(self.wa_text("32470000701", "x", f"wamid.R{n}"), secret="wrong")
        self.wa_account.invalidate_recordset()
        self.env["messenger.account"]._cron_health_alerts()
        alerts = self.alerts(self.wa_account)
        self.assertTrue(alerts)
        self.assertIn("App Secret", str(alerts[0].note))


@tagged("post_install", "-at_install")
class TestSetupChecks(MessengerCase, HttpCase):
    """Each platform's checks, against the fake platforms, in words."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_app = fakes.FakeWhatsApp(phone_number_id=WA_PHONE_ID, access_token=WA_TOKEN, app_secret=WA_SECRET,
                                          app_id="900000000000007", waba_id="300000000000007")
        cls.fake_app.start()
        cls.addClassCleanup(cls.fake_app.stop)
        cls.wa_account.write({"api_base_url": cls.fake_app.url, "wa_business_account_id": "300000000000007"})

    def setUp(self):
        super().setUp()
        self.fake_app.reset()
        # a public HTTPS address, as the platforms need (a fresh Odoo's is http://localhost: a finding of its own)
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.example.com")

    def report(self, account):
        account.action_check_setup()
        return account.health_report

    def test_telegram(self):
        account = self.tg_account
        report = self.report(account)
        self.assertIn("it belongs to @demo_bot", report)
        self.assertIn("No webhook is set", report)
        self.assertFalse(account.health_ok)
        account.action_register_webhook()
        self.assertTrue(account.webhook_registered_at)
        report = self.report(account)
        self.assertIn("sends this account's events to", report)
        self.assertTrue(account.health_ok, report)
        self.fake_tg.webhook["url"] = "https://elsewhere.example.com/hook"
        self.assertIn("points to another URL (https://elsewhere.example.com/hook)", self.report(account))
        self.fake_tg.webhook["url"] = account.webhook_url
        self.fake_tg.webhook_error = (1767225600, "Wrong response from the webhook: 403 Forbidden")
        self.assertIn("Wrong response from the webhook: 403 Forbidden", self.report(account))
        self.assertFalse(account.health_ok)
        account.tg_bot_token = "123456:wrong"
        report = self.report(account)
        self.assertIn("Telegram does not know this bot token", report)
        self.assertNotIn("123456:wrong", report)

    def test_whatsapp(self):
        account = self.wa_account
        report = self.report(account)
        self.assertIn("The access token is valid for the number", report)
        self.assertIn("The App Secret is the one of the app", report)
        self.assertIn("The app has no WhatsApp webhook", report)
        self.assertEqual(account.messaging_limit_tier, "TIER_1K")
        self.assertEqual(account.registration_state, "CONNECTED")
        self.fake_app.app_webhook = {"callback_url": "https://other.example.com/webhook", "fields": ["statuses"]}
        report = self.report(account)
        self.assertIn("points to another URL (https://other.example.com/webhook)", report)
        self.assertIn("not subscribed to the field messages", report)
        self.fake_app.app_webhook = {"callback_url": account.webhook_url, "fields": ["messages"]}
        report = self.report(account)
        self.assertTrue(account.health_ok, report)
        self.fake_app.app_subscribed = False
        self.assertIn("not subscribed to the WhatsApp Business Account", self.report(account))
        self.fake_app.app_subscribed = True
        self.fake_app.token_info["expires_at"] = 1893456000
        self.report(account)
        self.assertTrue(account.token_expires_at)
        account.wa_app_secret = "not-the-apps-secret"
        report = self.report(account)
        self.assertIn("The App Secret is not the one of the app", report)
        self.assertNotIn("not-the-apps-secret", report)
        account.write({"wa_app_secret": WA_SECRET, "wa_access_token": "wrong-token"})
        report = self.report(account)
        self.assertIn("Meta does not accept the access token", report)
        self.assertNotIn("wrong-token", report)
        self.assertFalse(account.health_ok)

    def test_unreachable_platform_in_words(self):
        self.tg_account.api_base_url = "http://127.0.0.1:9"
        self.assertIn("Could not reach Telegram", self.report(self.tg_account))
        result = self.tg_account.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertTrue(result["params"]["sticky"])
        self.assertIn("could not reach Telegram", result["params"]["message"])
        self.assertNotIn("ConnectionError", result["params"]["message"])
        self.assertIn("could not reach Telegram", self.tg_account.connection_result)
        self.assertTrue(self.tg_account.connection_tested_at)

    def test_assistant_walks_the_steps_and_checks(self):
        wizard = self.env["messenger.setup.wizard"].with_user(self.user_manager).create(
            {"account_id": self.wa_account.id})
        self.assertIn("Phone Number ID", wizard.step_help)
        wizard.action_next()
        self.assertEqual(wizard.step_key, "token")
        wizard.wa_access_token = "wrong-token"
        wizard.action_check()
        self.assertFalse(wizard.report_ok)
        self.assertIn("Meta does not accept the access token", wizard.report)
        wizard.wa_access_token = WA_TOKEN
        wizard.action_check()
        self.assertIn("The access token is valid", wizard.report)


@tagged("post_install", "-at_install")
class TestSetupChecksMeta(MessengerCase, HttpCase):
    """Messenger's and Instagram's checks against the fake Graph API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from messenger_fakes import meta as meta_fakes
        cls.fake_fb = meta_fakes.FakeMeta("messenger", app_secret="meta-app-secret").start()
        cls.addClassCleanup(cls.fake_fb.stop)
        cls.fb_account = cls.env["messenger.account"].create({
            "name": "FB health", "provider": "messenger", "api_base_url": cls.fake_fb.url,
            "meta_page_id": cls.fake_fb.page_id, "meta_access_token": cls.fake_fb.access_token,
            "meta_app_secret": "meta-app-secret", "company_id": cls.company.id})

    def setUp(self):
        super().setUp()
        self.fake_fb.reset()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.example.com")

    def report(self):
        self.fb_account.action_check_setup()
        return self.fb_account.health_report

    def test_messenger(self):
        account = self.fb_account
        report = self.report()
        self.assertIn("The access token is valid and belongs to Demo Page", report)
        self.assertIn("The app has no webhook for this platform", report)
        self.fake_fb.app_webhook = {"callback_url": account.webhook_url,
                                    "fields": ["messages", "messaging_postbacks", "message_deliveries",
                                               "message_reads", "message_echoes"]}
        report = self.report()
        self.assertTrue(account.health_ok, report)
        self.fake_fb.app_webhook["fields"].remove("message_echoes")
        self.fake_fb.app_webhook["callback_url"] = "https://old.example.com/hook"
        report = self.report()
        self.assertIn("subscribed to message_deliveries, message_reads, messages, messaging_postbacks but not to "
                      "message_echoes", report)
        self.assertIn("points to another URL (https://old.example.com/hook)", report)
        self.fake_fb.app_webhook = {"callback_url": account.webhook_url,
                                    "fields": list(account._provider_class().required_fields)}
        self.fake_fb.subscribed_fields = ["messages"]
        self.assertIn("sends messages to the app but not messaging_postbacks", self.report())
        self.fake_fb.subscribed_fields = None
        self.assertIn("The account is not subscribed to the app", self.report())
        account.meta_app_secret = "another-apps-secret"
        report = self.report()
        self.assertIn("The App Secret is not the one of the app", report)
        self.assertNotIn("another-apps-secret", report)
        account.write({"meta_app_secret": "meta-app-secret", "meta_access_token": "wrong"})
        self.assertIn("Meta does not accept the access token", self.report())


@tagged("post_install", "-at_install")
class TestSetupChecksWeChat(MessengerCase, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from messenger_fakes import wechat as wf
        cls.wf = wf
        cls.fake_wc = wf.FakeWeChat()
        cls.fake_wc.start()
        cls.addClassCleanup(cls.fake_wc.stop)
        cls.wc_account = cls.env["messenger.account"].create({
            "name": "WeChat health", "provider": "wechat", "api_base_url": cls.fake_wc.url,
            "wc_app_id": wf.DEMO_WC_APP_ID, "wc_app_secret": wf.DEMO_WC_APP_SECRET, "wc_token": wf.DEMO_WC_TOKEN,
            "wc_encoding_aes_key": wf.DEMO_WC_AES_KEY, "wc_encryption": "safe", "wc_account_type": "service",
            "wc_original_id": wf.DEMO_WC_ORIGINAL_ID, "company_id": cls.company.id})

    def setUp(self):
        super().setUp()
        self.fake_wc.reset()

    def report(self):
        self.wc_account.action_check_setup()
        return self.wc_account.health_report

    def test_wechat(self):
        report = self.report()
        self.assertIn("WeChat accepts the AppID", report)
        self.assertIn("IP address is on the account's IP whitelist", report)
        self.assertIn("WeChat does not show its server configuration", report)
        self.assertFalse(self.fake_wc.token_fetches, "the check never supersedes the workers' access token")
        self.fake_wc.refused_ip = True
        self.assertIn("add its public IP address to the IP whitelist", self.report())
        self.fake_wc.refused_ip = False
        self.wc_account.wc_app_secret = "0" * 32
        report = self.report()
        self.assertIn("WeChat refuses the AppID or AppSecret (error 40125)", report)
        self.assertNotIn("0" * 32, report)

    def test_server_test_with_another_token_is_counted_in_words(self):
        query = self.wf.wc_query(self.wf.wc_handshake(token="not-the-accounts-token"))
        response = self.url_open(f"/messenger/webhook/{self.wc_account.webhook_key}?{query}")
        self.assertEqual(response.status_code, 403)
        self.wc_account.invalidate_recordset()
        self.assertEqual(self.wc_account.refused_handshake_24h, 1)
        self.assertIn("the Token in WeChat's server configuration differs", self.wc_account.last_refusal_reason)
        self.assertIn("the Token in WeChat's server configuration differs", self.report())


@tagged("post_install", "-at_install")
class TestSetupChecksX(MessengerCase, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from messenger_fakes import x as fx
        cls.fx = fx
        cls.fake_x = fx.FakeX(user_id=fx.DEMO_X_USER_ID, access_token="x-health-token", consumer_secret="x-secret")
        cls.fake_x.start()
        cls.addClassCleanup(cls.fake_x.stop)
        cls.x_account = cls.env["messenger.account"].create({
            "name": "X health", "provider": "x", "api_base_url": cls.fake_x.url, "x_user_id": fx.DEMO_X_USER_ID,
            "x_consumer_secret": "x-secret", "x_access_token": "x-health-token", "company_id": cls.company.id})

    def setUp(self):
        super().setUp()
        self.fake_x.reset()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.example.com")

    def report(self):
        self.x_account.action_check_setup()
        return self.x_account.health_report

    def test_x(self):
        report = self.report()
        self.assertIn("The access token is valid", report)
        self.assertIn("The X Chat keys are not set up", report)
        self.assertIn("No webhook is set", report)
        self.fake_x.webhooks["1"] = {"id": "1", "url": "https://old.example.com/x", "valid": True}
        self.assertIn("points to another URL (https://old.example.com/x)", self.report())
        self.fake_x.webhooks["2"] = {"id": "2", "url": self.x_account.webhook_url, "valid": False}
        report = self.report()
        self.assertIn("X's last CRC check of the webhook failed", report)
        self.assertIn("not subscribed to chat.received, chat.sent", report)
        self.fake_x.webhooks["2"]["valid"] = True
        self.fake_x.subscriptions.append({"subscription_id": "1", "event_type": "chat.received", "webhook_id": "2",
                                          "filter": {"user_id": self.fx.DEMO_X_USER_ID}})
        report = self.report()
        self.assertIn("not subscribed to chat.sent on this webhook", report)
        self.x_account.x_user_id = "1500000000000000999"
        self.assertIn("not the user id 1500000000000000999", self.report())


@tagged("post_install", "-at_install")
class TestSetupTour(MessengerCase, HttpCase):
    """In the web client: the demo's WhatsApp account connected with the assistant, one wrong field at a time."""

    def test_administrator_connects_the_demo_whatsapp_account(self):
        account = self.env.ref("messenger_connector.demo_account_whatsapp")
        fake = fakes.FakeWhatsApp(phone_number_id=account.wa_phone_number_id, access_token="demo-wa-token",
                                  app_secret="demo-wa-app-secret", waba_id="300000000000009")
        fake.start()
        self.addCleanup(fake.stop)
        fake.app_webhook = {"callback_url": "https://old.example.com/webhook", "fields": ["messages"]}
        account.write({"api_base_url": fake.url, "wa_access_token": "an-expired-token",
                       "wa_app_secret": "another-apps-secret", "wa_business_account_id": "300000000000009"})
        self.start_tour(f"/odoo/action-messenger_connector.action_messenger_account/{account.id}",
                        "messenger_setup_assistant", login=self.user_manager.login)
        self.assertEqual((account.wa_access_token, account.wa_app_secret), ("demo-wa-token", "demo-wa-app-secret"))
        self.assertIn("points to another URL", account.health_report)
