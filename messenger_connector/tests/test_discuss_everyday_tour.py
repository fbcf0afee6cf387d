import threading
import time
from datetime import timedelta
from unittest.mock import patch

import requests

from odoo import SUPERUSER_ID, fields
from odoo.tests import tagged

from .common import WA_PHONE_ID, fakes
from .test_discuss_tour import WA_ID, LiveDiscussCase


@tagged("post_install", "-at_install")
class TestDiscussEverydayTour(LiveDiscussCase):
    """An agent's day in a chat: a template after the window closed, a customer's photo arriving live, and the
    chat leaving the open tab when a data-protection officer erases the person's data meanwhile."""

    def setUp(self):
        super().setUp()
        self.conversation.window_expires_at = fields.Datetime.now() - timedelta(hours=1)
        # the download job runs after the commit of the delivery that brought the file: here, in the request of
        # the next delivery, before it is processed (a transaction of its own, as the job's)
        Event = type(self.env["messenger.event"])
        process = Event._trigger_processing

        def download_then_process(records):
            Messages = records.env["messenger.message"].with_user(SUPERUSER_ID)
            Messages.search([("media_state", "=", "pending")])._download_media()
            process(records)

        self.startPatcher(patch.object(Event, "_trigger_processing", download_then_process))

    def login(self, login, password):
        session = requests.Session()
        session.post(f"{self.base_url()}/web/session/authenticate", timeout=60, json={
            "jsonrpc": "2.0", "method": "call", "params": {
                "db": self.env.cr.dbname, "login": login, "password": password}}).raise_for_status()
        return session

    def rpc(self, session, model, method, *args):
        response = session.post(f"{self.base_url()}/web/dataset/call_kw/{model}/{method}", timeout=60, json={
            "jsonrpc": "2.0", "method": "call", "params": {
                "model": model, "method": method, "args": list(args), "kwargs": {}}})
        response.raise_for_status()
        if "error" in response.json():
            raise AssertionError(response.json()["error"])
        return response.json()["result"]

    def play_platform_and_officer(self, wizard_opened, file_seen, errors):
        """The customer sends a photo once the agent opened Send Template; once the agent wrote that the photo
        arrived, the data-protection officer erases the customer's data (through the web client's RPC)."""
        try:
            if not wizard_opened.wait(120):
                raise AssertionError("the agent never opened Send Template")
            self.fake_wa.add_media("media-tour-1", b"\xff\xd8\xff tour photo", "image/jpeg")
            self.post_webhook(fakes.wa_payload(
                messages=[fakes.wa_message(WA_ID, "image", {"id": "media-tour-1", "mime_type": "image/jpeg",
                                                            "caption": "photo of the damage"}, wamid="wamid.TOUR3")],
                contacts=[{"profile": {"name": "Tina Tour"}, "wa_id": WA_ID}], phone_number_id=WA_PHONE_ID))
            # a moment later (the caption shows meanwhile) the file is downloaded, and the customer writes again
            time.sleep(2)
            self.post_webhook(fakes.wa_text_payload(WA_ID, "Can you see it?", wamid="wamid.TOUR4", name="Tina Tour",
                                                    phone_number_id=WA_PHONE_ID))
            if not file_seen.wait(120):
                raise AssertionError("the agent never saw the photo")
            time.sleep(1)  # the agent's note is answered first
            officer = self.login(self.user_manager.login, self.user_manager.login)
            request = self.rpc(officer, "messenger.data.request", "create",
                               {"partner_id": self.conversation.partner_id.id})
            self.rpc(officer, "messenger.data.request", "action_erase", [request])
        except Exception as error:  # noqa: BLE001 - reported by the test's main thread
            errors.append(error)

    def test_template_photo_and_erasure_in_the_open_chat(self):
        wizard_opened, file_seen, errors = threading.Event(), threading.Event(), []
        Conversation = type(self.env["messenger.conversation"])
        Channel = type(self.env["discuss.channel"])
        open_template, post = Conversation.action_open_send_template, Channel.message_post
        channel_id = self.conversation.channel_id.id

        def watched_open_template(records):
            wizard_opened.set()
            return open_template(records)

        def watched_post(records, **kwargs):
            message = post(records, **kwargs)
            if records.id == channel_id and "photo arrived" in str(kwargs.get("body")):
                file_seen.set()
            return message

        self.startPatcher(patch.object(Conversation, "action_open_send_template", watched_open_template))
        self.startPatcher(patch.object(Channel, "message_post", watched_post))
        actors = threading.Thread(target=self.play_platform_and_officer, args=(wizard_opened, file_seen, errors),
                                  daemon=True)
        actors.start()
        self.start_tour("/odoo/discuss", "messenger_discuss_everyday", login=self.user_agent.login, timeout=240)
        actors.join(60)
        self.assertFalse(errors, errors)
        self.assertFalse(self.conversation.exists())
        self.assertFalse(self.env["discuss.channel"].browse(channel_id).exists())
