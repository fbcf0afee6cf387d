import pathlib
import subprocess
import sys

from odoo.tests import HttpCase, tagged

from .common import MessengerCase, fakes

from messenger_fakes import meta as meta_fakes  # noqa: E402 - tools/ is on the path once .common is imported
from messenger_fakes import wechat as wechat_fakes  # noqa: E402

TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools"
DEMO_ACCOUNTS = {
    "whatsapp": "demo_account_whatsapp",
    "telegram": "demo_account_telegram",
    "messenger": "demo_account_messenger",
    "instagram": "demo_account_instagram",
    "wechat": "demo_account_wechat",
}


@tagged("post_install", "-at_install")
class TestDemo(HttpCase, MessengerCase):
    """A new user tries each platform of the demo: tools/send_as_customer.py writes as a customer to the demo
    account, which talks to its local fake platform (as scripts/demo starts them)."""

    def setUp(self):
        super().setUp()
        self.accounts = {platform: self.env.ref(f"messenger_connector.{xmlid}", raise_if_not_found=False)
                         for platform, xmlid in DEMO_ACCOUNTS.items()}
        if not self.accounts["whatsapp"]:
            self.skipTest("a database without the demo data")
        self.assertEqual([p for p, account in self.accounts.items() if not account], [],
                         "the demo has an account of each platform (X Chat's comes with its keys)")
        self.accounts["wechat"].active = True  # left out of the other tests (see MessengerCase)
        self.fakes = {
            "whatsapp": fakes.FakeWhatsApp(phone_number_id=fakes.DEMO_WA_PHONE_NUMBER_ID,
                                           access_token=fakes.DEMO_WA_TOKEN),
            "telegram": fakes.FakeTelegram(bot_token=fakes.DEMO_TG_TOKEN),
            "messenger": meta_fakes.FakeMeta("messenger"),
            "instagram": meta_fakes.FakeMeta("instagram"),
            "wechat": wechat_fakes.FakeWeChat(),
        }
        for platform, fake in self.fakes.items():
            fake.start()
            self.addCleanup(fake.stop)
            # as scripts/demo does when the fakes run on other ports than the demo's
            self.accounts[platform].api_base_url = fake.url

    def send_as_customer(self, platform, sender, text, *args):
        return subprocess.run(
            [sys.executable, str(TOOLS / "send_as_customer.py"), platform, sender, text, *args,
             "--url", self.base_url(), "--db", self.env.cr.dbname, "--login", "admin", "--password", "admin"],
            capture_output=True, text=True, timeout=120, check=False)

    def test_each_platform_of_the_demo_can_be_tried(self):
        senders = {"whatsapp": ("+32 470 99 88 71", "32470998871"), "telegram": ("4242401", "4242401"),
                   "messenger": ("7100000000000901", "7100000000000901"),
                   "instagram": ("7200000000000901", "7200000000000901"),
                   "wechat": ("oDemoTest00000000000000901", "oDemoTest00000000000000901")}
        for platform, (sender, identity) in senders.items():
            with self.subTest(platform=platform):
                text = f"Hello from {platform}"
                sent = self.send_as_customer(platform, sender, text, "--name", "Demo Dora")
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                self.assertTrue(sent.stdout.startswith("200 delivered"), sent.stdout)
                self.process()
                conversation = self.conversation(self.accounts[platform], identity)
                self.assertEqual(conversation.messenger_message_ids.mapped("body"), [text])
                self.assertIn(text, conversation.channel_id.message_ids.mapped("body")[0],
                              "the message is in the chat of the demo")
                self.assertEqual((conversation.partner_id.name, conversation.channel_id.name),
                                 ("Demo Dora", "Demo Dora"), "the chat is named after the person, not their id")
                conversation.action_send_text(f"Thanks, {platform}")
                self.send_queued()
                answer = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
                self.assertEqual(answer.state, "sent", answer.error_message)
                self.assertTrue(self.fakes[platform].sent, "the answer reached the demo's fake platform")

    def test_the_demo_dates_agree(self):
        demo = self.env["ir.model.data"].search([
            ("module", "=", "messenger_connector"), ("model", "=", "messenger.conversation")])
        self.assertGreaterEqual(len(demo), 4)
        for conversation in self.env["messenger.conversation"].browse(demo.mapped("res_id")):
            messages = conversation.messenger_message_ids
            times = {m: m.received_at or m.failed_at or m.sent_at for m in messages}
            self.assertTrue(all(times.values()), conversation.name)
            self.assertEqual(max(times.values()).replace(microsecond=0),
                             conversation.last_message_at.replace(microsecond=0), conversation.name)
            inbound = [times[m] for m in messages if m.direction == "in"]
            self.assertEqual(max(inbound).replace(microsecond=0),
                             conversation.last_inbound_at.replace(microsecond=0), conversation.name)
            for message in messages:
                for post in message.chatter_message_ids:
                    self.assertLess(abs((post.date - times[message]).total_seconds()), 2,
                                    f"{conversation.name}: {message.body}")
            self.assertLess(abs((conversation.channel_id.last_interest_dt
                                 - conversation.last_message_at).total_seconds()), 2, conversation.name)
