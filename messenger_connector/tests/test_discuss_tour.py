import threading
import time
from unittest.mock import patch

import requests

from odoo import SUPERUSER_ID
from odoo.tests import HttpCase, tagged

from odoo.addons.bus.models.bus import dispatch
from odoo.addons.bus.websocket import WebsocketConnectionHandler

from .common import WA_PHONE_ID, WA_SECRET, MessengerCase, fakes

WA_ID = "4917055550009"


class LiveDiscussCase(HttpCase, MessengerCase):
    """Agents in Discuss with a live bus; the test plays the platform (signed webhooks, fake API)."""

    def setUp(self):
        super().setUp()
        # the cron's wake-ups do their work at once: no cron runs in a test
        Event = type(self.env["messenger.event"])
        Message = type(self.env["messenger.message"])

        def process_now(records):
            Events = records.env["messenger.event"].with_user(SUPERUSER_ID)
            Events.search([("state", "=", "pending")])._process()

        def send_now(records, at=None):
            if at is None:
                Messages = records.env["messenger.message"].with_user(SUPERUSER_ID)
                Messages._send_due()

        self.startPatcher(patch.object(Event, "_trigger_processing", process_now))
        # the web client's websocket, which Odoo closes in tests; the bus's NOTIFY waits for a real commit,
        # which a test never makes: a pump tells the connected websockets to look for news, as NOTIFY would
        self.startPatcher(patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True))
        pumping = threading.Event()
        pumping.set()

        def pump():
            while pumping.is_set():
                for websockets in list(dispatch._channels_to_ws.values()):
                    for websocket in list(websockets):
                        websocket.trigger_notification_dispatching()
                time.sleep(0.3)

        threading.Thread(target=pump, daemon=True).start()
        self.addCleanup(pumping.clear)
        self.startPatcher(patch.object(Message, "_trigger_sender", send_now))
        self.env["mail.canned.response"].create({
            "source": "saturday", "substitution": "Yes, we deliver on Saturdays between 9 and 12.",
            "group_ids": [(4, self.env.ref("base.group_user").id)]})
        self.receive(self.wa_account, self.wa_text(WA_ID, "where is my order?", "wamid.TOUR1", name="Tina Tour"))
        self.conversation = self.conversation(self.wa_account, WA_ID)
        self.env["res.users"].search([("share", "=", False)]).odoobot_state = "disabled"

    def post_webhook(self, payload):
        body = fakes.body_bytes(payload)
        response = requests.post(
            f"{self.base_url()}/messenger/webhook/{self.wa_account.webhook_key}", data=body, timeout=30,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, WA_SECRET)})
        response.raise_for_status()


@tagged("post_install", "-at_install")
class TestDiscussTour(LiveDiscussCase):
    """An agent answers a live chat in Discuss; the test plays the platform (signed webhooks, fake API)."""

    def play_platform(self, opened, errors):
        """The customer writes once the agent looks at the chat; the answer is read once it reached the fake."""
        try:
            if not opened.wait(120):
                raise AssertionError("the agent never opened the chat")
            time.sleep(1)
            self.post_webhook(fakes.wa_text_payload(WA_ID, "Do you deliver on Saturday?", wamid="wamid.TOUR2",
                                                    name="Tina Tour", phone_number_id=WA_PHONE_ID))
            deadline = time.monotonic() + 120
            while not self.fake_wa.sent and time.monotonic() < deadline:
                time.sleep(0.2)
            sent = self.fake_wa.sent
            if not sent:
                raise AssertionError("the answer never reached the platform")
            # the person reads it a moment later, as people do: the agent's client has shown the sent answer by then
            time.sleep(2)
            self.post_webhook(fakes.wa_payload(statuses=[{
                "id": sent[-1]["id"], "status": "read", "timestamp": str(int(time.time())), "recipient_id": WA_ID}],
                phone_number_id=WA_PHONE_ID))
        except Exception as error:  # noqa: BLE001 - reported by the test's main thread
            errors.append(error)

    def test_agent_answers_live_and_colleague_sees_it_assigned(self):
        opened, errors = threading.Event(), []
        MailMessage = type(self.env["mail.message"])
        fetch = MailMessage._message_fetch
        channel_id = self.conversation.channel_id.id

        def watched_fetch(records, domain, *args, **kwargs):
            if ("res_id", "=", channel_id) in [tuple(term) for term in domain if isinstance(term, (list, tuple))]:
                opened.set()
            return fetch(records, domain, *args, **kwargs)

        self.startPatcher(patch.object(MailMessage, "_message_fetch", watched_fetch))
        platform = threading.Thread(target=self.play_platform, args=(opened, errors), daemon=True)
        platform.start()
        self.start_tour("/odoo/discuss", "messenger_discuss_live", login=self.user_agent.login, timeout=180)
        platform.join(30)
        self.assertFalse(errors, errors)
        self.assertEqual(self.fake_wa.sent[-1]["payload"]["text"]["body"],
                         "Yes, we deliver on Saturdays between 9 and 12.")
        answer = self.conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((answer.state, answer.author_id), ("read", self.user_agent))
        self.assertEqual(self.conversation.user_id, self.user_agent)
        self.start_tour("/odoo/discuss", "messenger_discuss_assigned", login=self.user_manager.login, timeout=120)
        self.assertEqual(len(self.conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")), 1)
        note = self.conversation.channel_id.message_ids.filtered(lambda m: "called the shop" in (m.body or ""))
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))

