import base64
import datetime
import json
import threading
import time
from contextlib import closing
from types import SimpleNamespace
from unittest.mock import patch

import chat_xdk

from odoo import SUPERUSER_ID, api, fields, sql_db, tools
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from ..models.messenger_account_x import KEY_OPTION
from ..providers import x as x_provider
from .common import MessengerCase, fakes
from messenger_fakes import x as fx  # noqa: I001 - tools/ is on the path once .common is imported

X_SECRET = "test-x-consumer-secret"
X_TOKEN = "test-x-user-token"
OURS = fx.DEMO_X_USER_ID
PERSON = "1500000000000000042"
CONVERSATION = f"{OURS}:{PERSON}"
AT_REST_KEY = "test-at-rest-key-0123456789abcdef"


@tagged("post_install", "-at_install")
class TestXChat(MessengerCase, HttpCase):
    """X Direct Messages through X Chat end to end: signed deliveries through the real route, opened with the
    account's keys; replies through the sender, read by the person (the fake X, with X's own SDK)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_x = fx.FakeX(user_id=OURS, access_token=X_TOKEN, consumer_secret=X_SECRET)
        cls.fake_x.start()
        cls.addClassCleanup(cls.fake_x.stop)
        cls.startClassPatcher(patch.dict(tools.config.options, {KEY_OPTION: AT_REST_KEY}))
        cls.x_account = cls.env["messenger.account"].create({
            "name": "X test",
            "provider": "x",
            "api_base_url": cls.fake_x.url,
            "x_user_id": OURS,
            "x_consumer_secret": X_SECRET,
            "x_access_token": X_TOKEN,
            "x_refresh_token": fx.DEMO_X_REFRESH_TOKEN,
            "x_client_id": fx.DEMO_X_CLIENT_ID,
            "retry_delay": 1,
            "company_id": cls.company.id,
            "audience_group_id": False,
        })

    def setUp(self):
        super().setUp()
        self.fake_x.reset()
        self.fake_x.add_person(PERSON, "Xena Applicant", "xena")
        self.x_account.action_x_chat_setup_keys()

    def path(self):
        return f"/messenger/webhook/{self.x_account.webhook_key}"

    def post(self, payload, secret=X_SECRET, signature=None):
        body = payload if isinstance(payload, bytes) else fakes.body_bytes(payload)
        headers = fx.x_headers(body, secret)
        if signature is not None:
            headers["x-twitter-webhooks-signature"] = signature
        return self.url_open(self.path(), data=body, headers=headers)

    def deliver(self, payload):
        self.assertEqual(self.post(payload).status_code, 200)
        self.process()

    def inbound(self):
        return self.conversation(self.x_account, PERSON).messenger_message_ids.filtered(
            lambda m: m.direction == "in").sorted("id")

    def outbound(self, conversation):
        return conversation.messenger_message_ids.filtered(lambda m: m.direction == "out").sorted("id")

    def opted_in_conversation(self):
        self.deliver(self.fake_x.person_sends(PERSON, "Hello, is the job open?"))
        return self.conversation(self.x_account, PERSON)

    # --- keys ---------------------------------------------------------------------------------------------

    def test_keys_generated_registered_and_kept_encrypted(self):
        (row,) = self.fake_x.keys[OURS].rows
        self.assertEqual(self.x_account.x_chat_key_version, row["public_key_version"])
        (kept,) = self.env["messenger.x.key"].sudo().search([("account_id", "=", self.x_account.id)])
        blob = dict(self.env["messenger.x.key"]._read(self.x_account))[row["public_key_version"]]
        self.assertEqual(len(blob), 64)
        for form in (blob.hex(), base64.b64encode(blob).decode()):
            self.assertNotIn(form, kept.secret, "the blob is kept encrypted")
        # set up again: X has the keys and Odoo too, nothing registered twice
        self.x_account.action_x_chat_setup_keys()
        self.assertEqual(len(self.fake_x.keys[OURS].rows), 1)

    def test_keys_refused_without_the_configuration_option(self):
        with patch.dict(tools.config.options, {KEY_OPTION: ""}):
            with self.assertRaisesRegex(UserError, KEY_OPTION):
                self.x_account.action_x_chat_setup_keys()

    def test_sending_without_the_configuration_option_fails_with_the_reason(self):
        conversation = self.opted_in_conversation()
        conversation.action_send_text("Hello")
        with patch.dict(tools.config.options, {KEY_OPTION: ""}):
            self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual((message.state, message.error_code), ("failed", "config"))
        self.assertIn(KEY_OPTION, message.error_message)
        self.assertFalse(self.fake_x.received)

    def test_existing_keys_unlocked_once_with_the_pin_never_kept(self):
        (blob,) = self.env["messenger.x.key"]._read(self.x_account).values()
        self.env["messenger.x.key"].sudo().search([]).unlink()
        self.fake_x.keys[OURS].rows[0]["juicebox_config"] = {"realms": [{"id": "r1"}]}
        action = self.x_account.action_x_chat_setup_keys()
        self.assertEqual(action["res_model"], "messenger.x.chat.unlock")
        wizard = self.env["messenger.x.chat.unlock"].browse(action["res_id"])
        configs = []

        class BackedUpChat:
            """X's key backup (Juicebox realms) cannot run here: the SDK's Chat is replaced for the unlock only,
            holding the keys the account really has."""

            def __init__(self, config=None):
                configs.append(json.loads(config))
                self.unlocked = False

            def unlock(self, pin):
                if pin != "2580":
                    raise ValueError("Juicebox error: Invalid PIN: guesses_remaining=19")
                self.unlocked = True

            def export_keys(self):
                return bytearray(blob) if self.unlocked else None

        def chat(config=None):
            # only the Chat of the key backup (made with its configuration) is replaced
            return BackedUpChat(config) if config else chat_xdk.Chat()

        stand_in = SimpleNamespace(Chat=chat, guesses_remaining=chat_xdk.guesses_remaining)
        with patch.object(x_provider, "chat_xdk", stand_in):
            with self.assertRaisesRegex(UserError, "wrong PIN \\(19 guesses left\\)"):
                wizard.pin = "0000"
            self.assertFalse(self.env["messenger.x.key"]._read(self.x_account))
            wizard.pin = "2580"
        self.assertEqual(configs[-1], {"realms": [{"id": "r1"}]})
        self.assertEqual(wizard.action_unlock()["type"], "ir.actions.act_window_close")
        self.assertEqual(self.env["messenger.x.key"]._read(self.x_account),
                         {self.x_account.x_chat_key_version: blob})
        self.env.cr.execute("SELECT * FROM messenger_x_chat_unlock WHERE id = %s", [wizard.id])
        self.assertNotIn("2580", json.dumps(self.env.cr.dictfetchall(), default=str))
        # the unlocked keys read what the person writes
        self.deliver(self.fake_x.person_sends(PERSON, "after the unlock"))
        self.assertEqual(self.inbound().body, "after the unlock")

    def test_no_field_of_the_account_holds_key_material_over_rpc(self):
        self.opted_in_conversation()
        blob = next(iter(self.env["messenger.x.key"]._read(self.x_account).values()))
        conversation_key = next(iter(self.env["messenger.x.key"]._read(self.x_account, CONVERSATION).values()))
        self.authenticate("admin", "admin")
        names = list(self.env["messenger.account"].fields_get())
        answer = self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "messenger.account", "method": "read", "args": [[self.x_account.id], names], "kwargs": {}})
        text = json.dumps(answer)
        for secret in (blob, conversation_key):
            for form in (secret.hex(), base64.b64encode(secret).decode(), secret.decode("latin-1")):
                self.assertNotIn(form, text)
        kept = self.env["messenger.x.key"].sudo().search([], limit=1)
        self.assertNotIn(kept.secret, text)
        admin = self.env.ref("base.user_admin")
        with self.assertRaises(AccessError):
            self.env["messenger.x.key"].with_user(admin).search_read([], ["secret"])
        with self.assertRaises(AccessError):
            self.env["messenger.x.key"].sudo().search([]).with_user(admin).export_data(["secret"])

    # --- webhook and subscriptions ---------------------------------------------------------------------------

    def test_register_webhook_runs_the_crc_and_subscribes(self):
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.x_account.action_register_webhook()
        (webhook,) = self.fake_x.webhooks.values()
        self.assertEqual(webhook["url"], self.x_account.webhook_url)
        self.assertEqual(self.x_account.x_webhook_id, webhook["id"])
        self.assertEqual(sorted(s["event_type"] for s in self.fake_x.subscriptions), ["chat.received", "chat.sent"])
        self.assertEqual({s["filter"]["user_id"] for s in self.fake_x.subscriptions}, {OURS})

    # --- inbound -------------------------------------------------------------------------------------------

    def test_text_file_reaction_and_reply_in(self):
        first = self.fake_x.person_sends(PERSON, "Is the job still open?")
        self.deliver(first)
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
        self.deliver(self.fake_x.person_sends(PERSON, "my CV", media=png, filename="cv.png"))
        self.deliver(self.fake_x.person_sends(PERSON, react_to=first["data"]["payload"]["encoded_event"]))
        self.deliver(self.fake_x.person_sends(PERSON, "and one more thing", reply_to=first["data"]["payload"][
            "encoded_event"]))
        text, file, reaction, reply = self.inbound()
        self.assertEqual((text.body, text.external_id, text.x_decrypt_state),
                         ("Is the job still open?", first["data"]["payload"]["id"], "ok"))
        self.assertEqual((file.body, file.content_type, file.media_state), ("my CV", "image", "done"))
        self.assertEqual((file.attachment_ids.raw, file.attachment_ids.name), (png, "cv.png"))
        self.assertEqual((reaction.body, reaction.reply_to_external_id), ("\U0001f44d", text.external_id))
        self.assertEqual((reply.body, reply.reply_to_external_id), ("and one more thing", text.external_id))
        self.assertEqual(self.conversation(self.x_account, PERSON).partner_id.name, "Xena Applicant")

    def test_several_files_in_one_message_none_dropped_unsaid(self):
        """X lets a person send several images in one message: the first is kept as the message's file, the
        others are named in its text."""
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
        self.deliver(self.fake_x.person_sends(PERSON, "three photos", media=[
            (png, "front.png"), (png + b"\x01", "back.png"), (png + b"\x02", "side.png")]))
        message = self.inbound()
        self.assertEqual((message.attachment_ids.raw, message.attachment_ids.name), (png, "front.png"))
        self.assertTrue(message.body.startswith("three photos"), message.body)
        self.assertIn("2 more files", message.body)
        self.assertIn("back.png, side.png", message.body)

    def test_deletion_kept_with_the_delivery_message_stays(self):
        """As on the other platforms, a message the person deletes stays on record; the deletion is kept."""
        self.deliver(self.fake_x.person_sends(PERSON, "sent by mistake"))
        (message,) = self.inbound()
        self.deliver(self.fake_x.person_deletes(PERSON, [message.x_sequence_id]))
        self.assertEqual(self.inbound(), message)
        event = self.env["messenger.event"].search([("account_id", "=", self.x_account.id)], limit=1)
        self.assertEqual((event.state, event.info), ("done", "1 X Chat MessageDeleted"))

    def test_redelivery_is_one_message(self):
        delivery = self.fake_x.person_sends(PERSON, "once")
        self.deliver(delivery)
        self.deliver(delivery)
        # the same message in a new delivery (X's replay gives a new event_uuid)
        delivery["data"]["event_uuid"] = "9999999999"
        self.deliver(delivery)
        self.assertEqual(self.inbound().mapped("body"), ["once"])

    def test_tampered_event_kept_unread_never_garbage(self):
        self.deliver(self.fake_x.person_sends(PERSON, "first"))
        answer = self.post(fx.tamper(self.fake_x.person_sends(PERSON, "the secret text")))
        self.assertEqual(answer.status_code, 200)
        self.process()
        tampered = self.inbound()[-1]
        self.assertEqual(tampered.x_decrypt_state, "failed")
        self.assertTrue(tampered.body.startswith("Encrypted message could not be read"), tampered.body)
        self.assertNotIn("the secret text", tampered.body)
        self.assertTrue(tampered.sudo().x_encoded_event, "the event is kept as it came")

    def test_envelope_naming_our_account_never_makes_the_person_s_message_ours(self):
        """Who signed decides who wrote: a person's message whose envelope names our account (an echo by the
        envelope) is never stored as something we sent, nor with its text."""
        self.deliver(self.fake_x.person_sends(PERSON, "first"))
        delivery = self.fake_x.person_sends(PERSON, "written by the person")
        delivery["data"]["payload"]["sender_id"] = OURS
        self.deliver(delivery)
        messages = self.conversation(self.x_account, PERSON).messenger_message_ids
        self.assertNotIn("written by the person", messages.mapped("body"))
        self.assertFalse(messages.filtered(lambda m: m.direction == "out" and m.x_decrypt_state == "ok"))

    def test_bad_signature_403_nothing_stored(self):
        before = self.env["messenger.event"].search_count([])
        delivery = self.fake_x.person_sends(PERSON, "forged")
        self.assertEqual(self.post(delivery, secret="another-secret").status_code, 403)
        for body in (b"{}", b'{"data": {"event_type": "chat.received", "payload": {"id": 1}}}'):
            self.assertEqual(self.post(body).status_code, 400)
        self.assertEqual(self.env["messenger.event"].search_count([]), before)
        self.assertFalse(self.conversation(self.x_account, PERSON))

    def test_message_waiting_for_its_key_read_when_it_arrives(self):
        conversation = self.opted_in_conversation()
        # the person rotates the key; X loses the key change at first
        self.fake_x.person_rotates_conversation_key(PERSON)
        change = self.fake_x.conversations[CONVERSATION]["changes"].pop()
        self.deliver(self.fake_x.person_sends(PERSON, "under the new key", with_key_change=False))
        waiting = self.inbound()[-1]
        self.assertEqual(waiting.x_decrypt_state, "pending_key")
        self.assertNotIn("under the new key", waiting.body)
        self.fake_x.conversations[CONVERSATION]["changes"].append(change)
        self.deliver(self.fake_x.person_sends(PERSON, "next one"))
        self.assertEqual(self.inbound().mapped("body")[-2:], ["under the new key", "next one"])
        self.assertEqual(waiting.x_decrypt_state, "ok")
        posts = waiting.mail_message_id | waiting.chatter_message_ids
        self.assertTrue(posts)
        self.assertTrue(all("under the new key" in body for body in posts.mapped("body")))
        self.assertTrue(conversation)

    def test_old_message_read_with_a_key_from_a_later_page_of_events(self):
        """A late delivery without its key change: its key is fetched from the conversation's events, page by page
        until X gives no next_token (X's meta may leave has_more out)."""
        self.fake_x.events_page_limit, self.fake_x.events_has_more = 1, False
        late = self.fake_x.person_sends(PERSON, "written before two key rotations", with_key_change=False)
        for _rotation in range(2):
            time.sleep(0.005)  # key versions are millisecond timestamps
            self.fake_x.person_rotates_conversation_key(PERSON)
        self.deliver(late)
        message = self.inbound()
        self.assertEqual((message.body, message.x_decrypt_state), ("written before two key rotations", "ok"))

    def test_key_rotation_by_the_person(self):
        conversation = self.opted_in_conversation()
        old = self.inbound().x_key_version
        new = self.fake_x.person_rotates_conversation_key(PERSON)
        self.deliver(self.fake_x.person_sends(PERSON, "rotated"))
        self.assertEqual(self.inbound()[-1].x_key_version, new)
        self.assertNotEqual(old, new)
        conversation.action_send_text("Answer under the newest key")
        self.send_queued()
        self.assertEqual(self.fake_x.received[-1]["key_version"], new)
        self.assertEqual(self.fake_x.received[-1]["text"], "Answer under the newest key")

    def test_new_keys_of_the_person_fetched_when_they_sign_with_them(self):
        """The person set up X Chat again (new identity and signing keys): their next message is signed with keys
        Odoo has not seen yet, which it fetches and verifies once, then reads the message."""
        self.opted_in_conversation()
        self.fake_x.person_rotates_identity(PERSON)
        self.fake_x.person_rotates_conversation_key(PERSON)
        self.deliver(self.fake_x.person_sends(PERSON, "from my new phone"))
        message = self.inbound()[-1]
        self.assertEqual((message.body, message.x_decrypt_state), ("from my new phone", "ok"))
        conversation = self.conversation(self.x_account, PERSON)
        self.assertEqual(len(conversation.x_public_keys[PERSON]), 2)

    def test_legacy_conversation_carries_on(self):
        """The person's conversation from legacy DMs (keyed on their X user id) goes on with X Chat."""
        legacy = self.env["messenger.conversation"].create({
            "account_id": self.x_account.id, "external_user_id": PERSON, "profile_name": "Xena"})
        self.deliver(self.fake_x.person_sends(PERSON, "still me"))
        self.assertEqual(self.conversation(self.x_account, PERSON), legacy)
        self.assertEqual(legacy.messenger_message_ids.body, "still me")

    # --- outbound ------------------------------------------------------------------------------------------

    def test_reply_creates_the_conversation_key_then_reuses_it(self):
        # a conversation X has no key for yet (an upgraded legacy one): the first reply makes it
        conversation = self.env["messenger.conversation"].create({
            "account_id": self.x_account.id, "external_user_id": PERSON, "profile_name": "Xena"})
        self.env["messenger.consent"]._record(conversation, ["service"], "opt_in", "manual",
                                              evidence="Asked by phone", reason="Phone call")
        conversation.action_send_text("Hello Xena")
        self.send_queued()
        conversation.action_send_text("Second message")
        self.send_queued()
        first, second = self.outbound(conversation)
        self.assertEqual([(m["id"], m["text"], m["verified"]) for m in self.fake_x.received],
                         [(first.external_id, "Hello Xena", True), (second.external_id, "Second message", True)])
        keys_posts = [r for r in self.fake_x.requests if r.path.endswith("/keys")]
        self.assertEqual(len(keys_posts), 1, "the second reply reuses the conversation key")
        self.assertEqual(set(self.env["messenger.x.key"]._read(self.x_account, CONVERSATION)),
                         {keys_posts[0].json["conversation_key_version"]})

    def test_echo_of_our_reply_not_stored_twice(self):
        conversation = self.opted_in_conversation()
        conversation.action_send_text("Thanks for writing")
        self.send_queued()
        (echo,) = self.fake_x.echoes
        self.deliver(echo)
        self.deliver(echo)
        (reply,) = self.outbound(conversation)
        self.assertEqual((reply.state, reply.body), ("sent", "Thanks for writing"))

    def test_reply_gives_back_the_conversation_token(self):
        """X's own sample bot gives the conversation_token of the person's message back with its reply."""
        delivery = self.fake_x.person_sends(PERSON, "Hello, is the job open?")
        self.deliver(delivery)
        conversation = self.conversation(self.x_account, PERSON)
        conversation.action_send_text("It is")
        self.send_queued()
        (received,) = self.fake_x.received
        self.assertEqual(received["text"], "It is")
        self.assertEqual(received["conversation_token"], delivery["data"]["payload"]["conversation_token"])

    def test_retry_sends_the_same_body(self):
        conversation = self.opted_in_conversation()
        self.fake_x.fail_next(1, 503, {"title": "Service Unavailable"})
        conversation.action_send_text("Through a hiccup")
        self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual(message.state, "queued")
        message.sudo().next_attempt_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.send_queued()
        sends = [r.json for r in self.fake_x.requests if r.path.endswith("/messages")]
        self.assertEqual(len(sends), 2)
        self.assertEqual(sends[0], sends[1])
        self.assertEqual((message.state, message.external_id), ("sent", sends[0]["message_id"]))
        self.assertEqual([m["text"] for m in self.fake_x.received], ["Through a hiccup"])

    def test_file_reply_read_by_the_person(self):
        conversation = self.opted_in_conversation()
        attachment = self.env["ir.attachment"].create({
            "name": "offer.pdf", "raw": b"%PDF-1.4 offer", "mimetype": "application/pdf",
            "res_model": conversation._name, "res_id": conversation.id})
        conversation.action_send_text("Your offer", attachment_ids=attachment.ids)
        self.send_queued()
        (received,) = self.fake_x.received
        media = received["attachments"][0]["media"]
        self.assertEqual(self.fake_x.decrypt_media(PERSON, media["media_hash_key"]), b"%PDF-1.4 offer")

    def test_file_reply_when_only_finalize_names_the_hash_key(self):
        """X's documents disagree on the upload step that names the media hash key: finalize alone works too."""
        self.fake_x.media_hash_key_at = "finalize"
        conversation = self.opted_in_conversation()
        attachment = self.env["ir.attachment"].create({
            "name": "offer.pdf", "raw": b"%PDF-1.4 offer", "mimetype": "application/pdf",
            "res_model": conversation._name, "res_id": conversation.id})
        conversation.action_send_text("Your offer", attachment_ids=attachment.ids)
        self.send_queued()
        self.assertEqual(self.outbound(conversation).state, "sent")
        (received,) = self.fake_x.received
        media = received["attachments"][0]["media"]
        self.assertEqual(self.fake_x.decrypt_media(PERSON, media["media_hash_key"]), b"%PDF-1.4 offer")

    def test_person_without_keys_cannot_be_written_to(self):
        conversation = self.env["messenger.conversation"].create({
            "account_id": self.x_account.id, "external_user_id": PERSON, "profile_name": "Xena"})
        self.env["messenger.consent"]._record(conversation, ["service"], "opt_in", "manual",
                                              evidence="Asked by phone", reason="Phone call")
        self.fake_x.person_has_no_keys(PERSON)
        conversation.action_send_text("Hello?")
        self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual((message.state, message.error_code), ("failed", "no_recipient_keys"))
        self.assertIn("no X Chat keys", message.error_message)
        self.assertFalse(conversation.blocked, "not the person's refusal")
        self.assertFalse(self.fake_x.received)

    def test_refusal_by_the_person(self):
        conversation = self.opted_in_conversation()
        self.fake_x.refuse(PERSON)
        conversation.action_send_text("Hello?")
        self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual((message.state, message.error_code), ("failed", "403"))
        self.assertTrue(conversation.blocked)

    # --- tokens --------------------------------------------------------------------------------------------

    def test_token_refreshed_before_expiry(self):
        conversation = self.opted_in_conversation()
        self.x_account.sudo().x_token_expires_at = fields.Datetime.now() + datetime.timedelta(minutes=1)
        conversation.action_send_text("with a fresh token")
        self.send_queued()
        self.assertEqual(self.fake_x.refreshes, 1)
        self.x_account.invalidate_recordset()  # renewed in a transaction of its own
        self.assertEqual(self.x_account.sudo().x_access_token, self.fake_x.account_token())
        self.assertEqual(self.fake_x.received[-1]["text"], "with a fresh token")

    def test_token_refreshed_once_on_a_401(self):
        conversation = self.opted_in_conversation()
        self.fake_x.expire_token()
        conversation.action_send_text("after a 401")
        self.send_queued()
        self.assertEqual(self.fake_x.refreshes, 1)
        self.assertEqual(self.outbound(conversation).state, "sent")

    def test_failed_refresh_asks_the_manager_to_reconnect(self):
        conversation = self.opted_in_conversation()
        self.fake_x.expire_token()
        self.fake_x.refresh_token = "not-ours-any-more"
        conversation.action_send_text("no token")
        self.send_queued()
        self.x_account.invalidate_recordset()  # marked in a transaction of its own
        self.assertTrue(self.x_account.x_reconnect_needed)
        self.assertEqual(self.outbound(conversation).state, "failed")
        self.assertEqual(len(self.x_account.activity_ids), 1)
        self.assertIn("Reconnect", self.x_account.activity_ids.summary)

    def test_refresh_x_did_not_answer_is_retried_no_reconnect(self):
        """X's token endpoint answering 503 is no refusal: the send waits and goes with the next attempt's token,
        nobody is asked to reconnect the account."""
        conversation = self.opted_in_conversation()
        self.fake_x.expire_token()
        self.fake_x.refresh_unavailable = 1
        conversation.action_send_text("after a hiccup")
        self.send_queued()
        message = self.outbound(conversation)
        self.x_account.invalidate_recordset()
        self.assertNotEqual(message.state, "failed")
        self.assertFalse(self.x_account.x_reconnect_needed)
        self.assertFalse(self.x_account.activity_ids)
        message.sudo().next_attempt_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.send_queued()
        self.assertEqual((message.state, self.fake_x.received[-1]["text"]), ("sent", "after a hiccup"))

    def test_two_workers_one_refresh(self):
        dbname = self.env.cr.dbname
        with closing(sql_db.db_connect(dbname).cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account_id = env["messenger.account"].create({
                "name": "X shared", "provider": "x", "api_base_url": self.fake_x.url, "x_user_id": "1500000000000000555",
                "x_consumer_secret": X_SECRET, "x_access_token": "expired", "x_refresh_token": self.fake_x.refresh_token,
                "x_client_id": fx.DEMO_X_CLIENT_ID, "company_id": self.company.id}).id
            cr.commit()
        try:
            self.fake_x.refresh_delay = 0.5  # the first refresh is slow: the second worker comes while it runs
            tokens, errors = [], []
            barrier = threading.Barrier(2)

            def worker():
                try:
                    with closing(sql_db.db_connect(dbname).cursor()) as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        barrier.wait()
                        tokens.append(env["messenger.account"].browse(account_id)._x_locked_refresh("expired"))
                except Exception as error:  # noqa: BLE001 - reported by the assertion below
                    errors.append(error)

            threads = [threading.Thread(target=worker) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            self.assertEqual(errors, [])
            self.assertEqual(self.fake_x.refreshes, 1)
            self.assertEqual(len(set(tokens)), 1)
        finally:
            with closing(sql_db.db_connect(dbname).cursor()) as cr:
                cr.execute("DELETE FROM messenger_account WHERE id = %s", [account_id])
                cr.commit()
