import datetime
import json

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import MessengerCase, fakes
from messenger_fakes import x as fx  # noqa: I001 - tools/ is on the path once .common is imported

X_SECRET = "test-x-consumer-secret"
X_TOKEN = "test-x-user-token"
OURS = fx.DEMO_X_USER_ID
PERSON = "1500000000000000042"


@tagged("post_install", "-at_install")
class TestX(MessengerCase, HttpCase):
    """X Direct Messages end to end: the CRC and signed deliveries through the real route, replies through the
    sender against the fake X API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake_x = fx.FakeX(user_id=OURS, access_token=X_TOKEN)
        cls.fake_x.start()
        cls.addClassCleanup(cls.fake_x.stop)
        cls.x_account = cls.env["messenger.account"].create({
            "name": "X test",
            "provider": "x",
            "api_base_url": cls.fake_x.url,
            "x_user_id": OURS,
            "x_consumer_secret": X_SECRET,
            "x_access_token": X_TOKEN,
            "retry_delay": 1,
            "company_id": cls.company.id,
            "audience_group_id": False,
        })

    def setUp(self):
        super().setUp()
        self.fake_x.reset()
        self.fake_x.add_user(PERSON, "Xena Applicant", "xena", profile_image_url="https://pbs.twimg.com/p/xena.jpg")

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

    def outbound(self, conversation):
        return conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")

    def event_count(self):
        return self.env["messenger.event"].search_count([])

    # --- CRC and signatures through the route --------------------------------------------------------

    def test_crc_answered_in_json(self):
        answer = self.url_open(self.path() + "?crc_token=challenge_string")
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.headers["Content-Type"].split(";")[0], "application/json")
        self.assertEqual(answer.json(), fx.x_crc_response("challenge_string", X_SECRET))
        for query in ("", "?crc_token=", "?hub.challenge=1", "?crc_token=%7B%22for_user_id%22%3A%221%22%7D"):
            self.assertEqual(self.url_open(self.path() + query).status_code, 403, query)

    def test_unsigned_or_malformed_stores_nothing(self):
        before = self.event_count()
        payload = fx.x_message_payload(PERSON, "hi")
        for signature in ("", "sha256=", "sha256=" + "A" * 43 + "=", fx.x_signature(payload, "other")):
            self.assertEqual(self.post(payload, signature=signature).status_code, 403, signature)
        for body in (b"[]", b"{}", b'{"for_user_id": "1", "direct_message_events": 3}'):
            self.assertEqual(self.post(body).status_code, 400, body)
        self.assertEqual(self.event_count(), before)
        self.assertFalse(self.conversation(self.x_account, PERSON))

    # --- in and out --------------------------------------------------------------------------------------

    def test_message_in_and_reply_out(self):
        self.deliver(fx.x_message_payload(PERSON, "Is the job still open?", name="Xena Applicant",
                                          screen_name="xena", event_id="1800000000000000001"))
        conversation = self.conversation(self.x_account, PERSON)
        self.assertEqual(len(conversation), 1)
        (incoming,) = conversation.messenger_message_ids
        self.assertEqual((incoming.direction, incoming.body, incoming.external_id),
                         ("in", "Is the job still open?", "1800000000000000001"))
        self.assertEqual(conversation.partner_id.name, "Xena Applicant")
        self.assertFalse(conversation.window_expires_at, "X has no reply window")
        # asked of X after the message was stored
        self.assertEqual((conversation.username, conversation.profile_picture_url),
                         ("xena", "https://pbs.twimg.com/p/xena.jpg"))
        self.assertFalse(conversation.profile_pending)
        conversation.with_user(self.user_agent).action_send_text("Yes, apply here.")
        self.send_queued()
        reply = self.outbound(conversation)
        (sent,) = self.fake_x.sent
        self.assertEqual((reply.state, reply.external_id), ("sent", sent["id"]))
        self.assertEqual((sent["to"], sent["text"]), (PERSON, "Yes, apply here."))
        # the redelivered message is no second message
        self.deliver(fx.x_message_payload(PERSON, "Is the job still open?", event_id="1800000000000000001"))
        self.assertEqual(len(conversation.messenger_message_ids), 2)

    def test_own_echo_not_stored_twice(self):
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000002"))
        conversation = self.conversation(self.x_account, PERSON)
        conversation.action_send_text("Thanks for writing: https://jobs.example.com/apply?job=7")
        self.send_queued()
        (echo,) = self.fake_x.echoes
        self.assertIn("https://t.co/", echo["direct_message_events"][0]["message_create"]["message_data"]["text"])
        self.deliver(echo)
        self.deliver(echo)
        reply = self.outbound(conversation)
        self.assertEqual(len(reply), 1)
        self.assertEqual(reply.state, "sent")

    def test_echo_faster_than_the_send_answer_is_not_stored(self):
        """X may post our DM back before its send call has answered: the sender stores the id, the echo nothing."""
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000010"))
        conversation = self.conversation(self.x_account, PERSON)
        conversation.action_send_text("On its way: https://jobs.example.com/apply?job=7")
        message = self.outbound(conversation)
        message.sudo().state = "sending"
        # X gives its echo a t.co link for the URL we wrote
        self.deliver(fx.x_echo_payload(PERSON, "On its way: https://jobs.example.com/apply?job=7",
                                       "1800000000000000011"))
        self.assertEqual(self.outbound(conversation), message)

    def test_colleague_dm_in_x_stored_once_as_outbound_via_x(self):
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000003"))
        conversation = self.conversation(self.x_account, PERSON)
        payload = fx.x_colleague_payload(PERSON, "Typed in X by a colleague", event_id="1800000000000000004")
        self.deliver(payload)
        self.deliver(payload)
        self.deliver(fx.x_delivery(payload["direct_message_events"] * 2, users=payload["users"]))
        (message,) = self.outbound(conversation)
        self.assertEqual((message.body, message.external_id), ("Typed in X by a colleague", "1800000000000000004"))
        self.assertNotEqual(message.state, "queued")
        self.assertFalse(self.fake_x.sent, "a DM sent in X is never sent again")
        self.assertEqual((message.sent_via, message.author_id.id), ("X", False))
        chatter = self.env["mail.message"].search([("model", "=", "messenger.conversation"),
                                                   ("res_id", "=", conversation.id)])
        self.assertTrue(any("sent via X" in body for body in chatter.mapped("body")))

    def test_read_receipt_moves_sent_messages_to_read(self):
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000005"))
        conversation = self.conversation(self.x_account, PERSON)
        conversation.action_send_text("one")
        conversation.action_send_text("two")
        self.send_queued()
        sent = self.outbound(conversation)
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        self.deliver(fx.x_read_payload(PERSON, sent.sorted("id")[-1].external_id, timestamp=datetime.datetime.now(
            datetime.timezone.utc).timestamp() + 5))
        self.assertEqual(set(sent.mapped("state")), {"read"})

    # --- failures ----------------------------------------------------------------------------------------

    def test_403_not_accepting_dms_fails_refused_and_not_retried(self):
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000006"))
        conversation = self.conversation(self.x_account, PERSON)
        self.fake_x.refuse_dms(PERSON)
        conversation.action_send_text("Hello?")
        self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual((message.state, message.error_code), ("failed", "403"))
        self.assertFalse(message.next_attempt_at)
        self.assertIn("not permitted", message.error_message)
        self.assertTrue(conversation.blocked)
        self.send_queued()
        self.assertEqual(len([r for r in self.fake_x.requests if r.method == "POST"]), 1, "never retried")
        with self.assertRaises(UserError):
            conversation.action_send_text("again")
        # writing to us again lifts it
        self.fake_x.accept_dms(PERSON)
        self.deliver(fx.x_message_payload(PERSON, "I changed my settings", event_id="1800000000000000007"))
        self.assertFalse(conversation.blocked)

    def test_429_requeued_after_the_reset_time(self):
        self.deliver(fx.x_message_payload(PERSON, "hello", event_id="1800000000000000008"))
        conversation = self.conversation(self.x_account, PERSON)
        self.fake_x.rate_limit(n=1, reset_in=120)
        conversation.action_send_text("Busy")
        self.send_queued()
        message = self.outbound(conversation)
        self.assertEqual((message.state, message.error_code), ("queued", "429"))
        self.assertGreaterEqual(message.next_attempt_at, fields.Datetime.now() + datetime.timedelta(seconds=110))
        message.sudo().next_attempt_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.send_queued()
        self.assertEqual(message.state, "sent")
        self.assertEqual(len(self.fake_x.sent), 1)

    # --- one app, several accounts; click-to-chat ----------------------------------------------------------

    def test_delivery_for_another_of_our_x_users_goes_to_its_account(self):
        other_id = "1500000000000000777"
        sibling = self.x_account.copy({"name": "X other", "x_user_id": other_id,
                                       "x_consumer_secret": X_SECRET, "x_access_token": X_TOKEN})
        stranger = fx.x_message_payload(PERSON, "for nobody here", for_user_id="1500000000000000888",
                                        event_id="1800000000000000020")
        self.deliver(fx.x_message_payload(PERSON, "for the other one", for_user_id=other_id,
                                          event_id="1800000000000000021"))
        self.deliver(stranger)
        self.assertFalse(self.conversation(self.x_account, PERSON))
        self.assertEqual(self.conversation(sibling, PERSON).messenger_message_ids.body, "for the other one")
        self.assertFalse(self.env["messenger.message"].search([("external_id", "=", "1800000000000000020")]),
                         "a delivery for an X user of no account of ours stays on record, unapplied")

    def test_chat_link_opens_a_dm_to_the_account(self):
        self.assertEqual(self.x_account._chat_link("JOB-7"),
                         f"https://x.com/messages/compose?recipient_id={OURS}&text=JOB-7")
        self.assertIn("an X user id", self.env["messenger.account"]._chat_link_hint())

    # --- consent and access ------------------------------------------------------------------------------

    def test_first_business_initiated_message_needs_an_opt_in(self):
        """No window on X: a person who never wrote to us gets nothing before they opted in."""
        self.deliver(fx.x_colleague_payload(PERSON, "Hi from our team", event_id="1800000000000000009"))
        conversation = self.conversation(self.x_account, PERSON)
        self.assertTrue(conversation)
        with self.assertRaises(UserError):
            conversation.action_send_text("Our newsletter")
        self.env["messenger.consent"]._record(conversation, ["service"], "opt_in", "manual",
                                              evidence="Asked for updates by phone", reason="Phone call")
        conversation.action_send_text("Our newsletter")
        self.send_queued()
        self.assertEqual(len(self.fake_x.sent), 1)

    def test_credentials_for_managers_only(self):
        account = self.x_account.with_user(self.user_agent)
        for name in ("x_consumer_secret", "x_access_token"):
            with self.assertRaises(AccessError):
                account.read([name])
        manager = self.x_account.with_user(self.user_manager)
        self.assertEqual(manager.read(["x_access_token"])[0]["x_access_token"], X_TOKEN)
        self.assertNotIn(X_TOKEN, json.dumps(account.read(["name", "provider"])))
