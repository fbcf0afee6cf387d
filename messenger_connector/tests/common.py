import json
import pathlib
import sys

import requests

from odoo.tests import common, new_test_user
from odoo.tests.common import JsonRpcException

# The fake platforms are test and demo tooling of the repository (tools/), not part of the shipped addon.
TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.append(str(TOOLS))
import messenger_fakes as fakes  # noqa: E402

WA_SECRET = "test-app-secret"
WA_VERIFY = "test-verify-token"
WA_TOKEN = "test-wa-token"
WA_PHONE_ID = "100000000000001"
TG_TOKEN = "123456:test-telegram-token"
TG_SECRET = "test-telegram-secret"


class MessengerCase(common.TransactionCase):
    """Accounts pointing at real local fake platforms (HTTP on 127.0.0.1), users and helpers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_wa = fakes.FakeWhatsApp(phone_number_id=WA_PHONE_ID, access_token=WA_TOKEN)
        cls.fake_tg = fakes.FakeTelegram(bot_token=TG_TOKEN)
        cls.fake_wa.start()
        cls.fake_tg.start()
        cls.addClassCleanup(cls.fake_wa.stop)
        cls.addClassCleanup(cls.fake_tg.stop)
        # Odoo's own e-mail notifications (e.g. "assigned to you") are queued, not sent, in these tests
        cls.env = cls.env(context=dict(cls.env.context, mail_notify_force_send=False))
        cls.company = cls.env.ref("base.main_company")
        cls.wa_account = cls.env["messenger.account"].create({
            "name": "WA test",
            "provider": "whatsapp",
            "api_base_url": cls.fake_wa.url,
            "wa_phone_number_id": WA_PHONE_ID,
            "wa_access_token": WA_TOKEN,
            "wa_app_secret": WA_SECRET,
            "wa_verify_token": WA_VERIFY,
            "retry_delay": 1,
            "company_id": cls.company.id,
            "audience_group_id": False,  # unlinked chats for every Messenger user: these agents sell nothing
        })
        cls.tg_account = cls.env["messenger.account"].create({
            "name": "TG test",
            "provider": "telegram",
            "api_base_url": cls.fake_tg.url,
            "tg_bot_token": TG_TOKEN,
            "tg_secret_token": TG_SECRET,
            "company_id": cls.company.id,
            "audience_group_id": False,
        })
        # the demo's WeChat account would ask its local fake platform (not running here) for a QR code of every
        # position shown: these tests bring their own accounts
        demo_wechat = cls.env.ref("messenger_connector.demo_account_wechat", raise_if_not_found=False)
        if demo_wechat:
            demo_wechat.active = False
        cls.user_agent = new_test_user(
            cls.env, login="mc_agent", groups="base.group_user,messenger_connector.group_messenger_user",
            name="Agent Smith")
        cls.user_manager = new_test_user(
            cls.env, login="mc_manager", groups="base.group_user,messenger_connector.group_messenger_manager",
            name="Manager Mary")

    def setUp(self):
        super().setUp()
        self.fake_wa.reset()
        self.fake_tg.reset()

    # --- inbound helpers (the same path the webhook takes, without HTTP) ------------------------------

    def receive(self, account, payload):
        """Store a delivery like the webhook does, then run the processing cron's method."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        provider = account._get_provider()
        provider.parse(body)
        self.env["messenger.event"]._store(account, provider.delivery_key(body), body.decode())
        self.process()

    def process(self):
        """The processing cron, then the follow-up job it triggers (media, button presses) after its commit."""
        self.env["messenger.event"]._cron_process()
        self.env["messenger.message"]._cron_followups()

    def send_queued(self):
        self.env["messenger.message"]._cron_send()

    def wa_text(self, wa_id, text, wamid, name="Jane Customer", **kw):
        return fakes.wa_text_payload(wa_id, text, wamid=wamid, name=name, phone_number_id=WA_PHONE_ID, **kw)

    def conversation(self, account, external_user_id):
        return self.env["messenger.conversation"].search([
            ("account_id", "=", account.id), ("external_user_id", "=", external_user_id)])

    def messages(self, account, **domain):
        return self.env["messenger.message"].search(
            [("account_id", "=", account.id)] + [(k, "=", v) for k, v in domain.items()])


class JsonRpcMixin:
    """Model calls as the browser makes them (``/web/dataset/call_kw``), for HttpCase tests of what RPC allows."""

    def rpc(self, model, method, *args, context=None, **kwargs):
        if context:
            kwargs["context"] = context
        return self.make_jsonrpc_request(f"/web/dataset/call_kw/{model}/{method}", {
            "model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def assertRefused(self, call, *args, **kwargs):
        try:
            result = call(*args, **kwargs)
        except (JsonRpcException, requests.HTTPError):
            return
        self.fail(f"{args} answered {result!r}")
