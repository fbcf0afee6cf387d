"""Fault and hostile-input behaviours that fit in seconds (the long runs are bench/faults.py and bench/hostile.py)."""
import json
import socket
from unittest.mock import patch
from urllib.parse import urlsplit

import psycopg2

from odoo import sql_db
from odoo.sql_db import TestCursor
from odoo.tests import HttpCase, tagged

from odoo.addons.messenger_connector.models import messenger_message
from .common import WA_PHONE_ID, WA_SECRET, MessengerCase, fakes

MIB = 1024 * 1024


@tagged("post_install", "-at_install")
class TestWebhookFaults(MessengerCase, HttpCase):

    def path(self, account=None, key=None):
        return f"/messenger/webhook/{key or (account or self.wa_account).webhook_key}"

    def events(self):
        return self.env["messenger.event"].search_count([])

    def raw_post(self, path, body, headers, chunked=False, send_body=True):
        """POST without requests (a chunked body, no declared length) and return the answer's status.

        ``send_body=False`` sends the head only and waits for the answer: a status then proves that the
        server refused the request without reading its body.
        """
        url = urlsplit(self.base_url())
        lines = [f"POST {path} HTTP/1.1", f"Host: {url.hostname}:{url.port}", "Connection: close"]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                               for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
        lines += [f"{name}: {value}" for name, value in headers.items()]
        with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload if send_body else b""))
            head = sock.recv(64)
        return int(head.split(b" ")[1])

    def signed(self, payload):
        body = json.dumps(payload).encode()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": fakes.wa_signature(body, WA_SECRET)}

    def test_chunked_body_refused_without_reading_it(self):
        """Odoo offers no public bounded read of a body without a declared length: such a body is refused (411)
        before any of it is read, whatever its size."""
        before = self.events()
        body, headers = self.signed(self.wa_text("32470000101", "x" * (MIB + 100), "wamid.CHUNK"))
        self.assertEqual(self.raw_post(self.path(), body, headers, chunked=True, send_body=False), 411)
        small, headers = self.signed(self.wa_text("32470000102", "small chunked", "wamid.CHUNK2"))
        self.assertEqual(self.raw_post(self.path(), small, headers, chunked=True), 411)
        self.assertEqual(self.events(), before)
        self.assertEqual(self.raw_post(self.path(), small, headers), 200, "the same body with its length is read")
        self.assertEqual(self.events(), before + 1)

    def test_declared_length_over_limit_refused(self):
        """werkzeug reads (and discards) such a body before Odoo answers 413: nothing of it is kept."""
        before = self.events()
        body, headers = self.signed(self.wa_text("32470000106", "x" * MIB, "wamid.LONG"))
        self.assertEqual(self.raw_post(self.path(), body, headers), 413)
        self.assertEqual(self.events(), before)

    def test_form_body_over_limit_refused_before_parsing(self):
        before = self.events()
        status = self.raw_post(self.path(), b"a=" + b"x" * (MIB + 10),
                               {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 413)
        self.assertEqual(self.events(), before)

    def test_hostile_keys_not_found(self):
        for key in ("%00" + self.wa_account.webhook_key, "k" * 3000, "%ff%fe", "short"):
            response = self.url_open(f"/messenger/webhook/{key}", data=b"{}")
            self.assertEqual(response.status_code, 404, key[:20])

    def test_database_failure_answers_5xx_and_stores_nothing(self):
        """The provider must retry: a 5xx, never a 200 for a delivery that was not stored."""
        before = self.events()
        body, headers = self.signed(self.wa_text("32470000103", "db down", "wamid.DBDOWN"))
        Event = type(self.env["messenger.event"])
        with patch.object(Event, "_store", side_effect=psycopg2.OperationalError("server closed the connection")), \
                self.assertLogs("odoo.addons.messenger_connector.controllers.main", level="WARNING"):
            response = self.url_open(self.path(), data=body, headers=headers)
        self.assertEqual(response.status_code, 503)
        self.assertEqual(self.events(), before)
        # the connection lost when the delivery commits: a 503 too (Odoo's own commit after the route answers 500)
        with patch.object(TestCursor, "commit", side_effect=psycopg2.OperationalError("server closed the connection")), \
                self.assertLogs("odoo.addons.messenger_connector.controllers.main", level="WARNING"):
            response = self.url_open(self.path(), data=body, headers=headers)
        self.assertEqual(response.status_code, 503)
        self.assertEqual(self.events(), before)
        response = self.url_open(self.path(), data=body, headers=headers)  # Meta's retry
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.events(), before + 1)

    def test_parser_crash_is_a_bad_request(self):
        """A provider bug on a hostile body is answered 400, not 500, and stores nothing."""
        before = self.events()
        body, headers = self.signed(self.wa_text("32470000104", "boom", "wamid.BOOM"))
        provider_class = type(self.wa_account._get_provider())
        with patch.object(provider_class, "parse", side_effect=TypeError("unexpected")), \
                self.assertLogs("odoo.addons.messenger_connector.controllers.main", level="WARNING"):
            response = self.url_open(self.path(), data=body, headers=headers)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.events(), before)

    def test_nul_characters_do_not_break_processing(self):
        payload = fakes.wa_text_payload("32470000105", "zero\u0000byte", wamid="wamid.NUL", name="Nul\u0000Name",
                                        phone_number_id=WA_PHONE_ID)
        self.receive(self.wa_account, payload)
        message = self.messages(self.wa_account, external_id="wamid.NUL")
        self.assertEqual(message.body, "zerobyte")
        self.assertEqual(message.event_id.sudo().state, "done")


@tagged("post_install", "-at_install")
class TestSenderFaults(MessengerCase):

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("32470888001", "Hello", "wamid.SF1", name="Sam Sender"))
        self.conv = self.conversation(self.wa_account, "32470888001")

    def queue(self, n):
        Message = self.env["messenger.message"]
        return Message.browse([self.conv.action_send_text(f"Reply {i}") for i in range(n)])

    def test_interrupted_send_reconciled_at_once_not_resent(self):
        """Under the sender lock a message in "sending" can only be a crash's leftover: failed, never resent."""
        message = self.queue(1)
        message.write({"state": "sending", "attempts": 1})  # intent recorded, outcome never saved
        other = self.queue(1)
        self.send_queued()
        self.assertEqual((message.state, message.error_code), ("failed", "interrupted"))
        self.assertEqual(other.state, "sent")
        self.assertEqual([s["text"] for s in self.fake_wa.sent], ["Reply 0"], "only the other one was sent")

    def test_sender_lock_held_elsewhere_sends_nothing(self):
        message = self.queue(1)
        other = sql_db.db_connect(self.env.cr.dbname).cursor()  # a real second session, not the test's
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [messenger_message.SENDER_LOCK_KEY])
            self.send_queued()
            self.assertEqual(message.state, "queued", "another sender runs: it will send it")
        finally:
            other.execute("SELECT pg_advisory_unlock(%s)", [messenger_message.SENDER_LOCK_KEY])
            other.close()
        self.send_queued()
        self.assertEqual(message.state, "sent")

    def test_sender_paces_itself_under_the_platform_cap(self):
        """With a cap of 5/s at the platform and our limit at 5/s, no send is ever refused for the rate."""
        self.fake_wa.rate_cap = 5
        messages = self.queue(12)
        self.wa_account.rate_limit = 5
        self.send_queued()
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake_wa.sent), 12)
        self.assertFalse([r for r in self.fake_wa.requests if r.path.endswith("/messages")][12:],
                         "no refused call, no retry")

    def test_throttled_account_pauses_and_sends_each_once(self):
        throttle = fakes.wa_error_body(130429, "(#130429) Rate limit hit")
        self.fake_wa.fail_next(1, 429, throttle, headers={"Retry-After": "1"})
        self.wa_account.retry_delay = 30  # the throttled message waits longer than the account's 1 s pause
        messages = self.queue(3)
        self.send_queued()
        first, *others = messages
        # the throttled message waits for its retry delay; it is not sent twice
        self.assertEqual((first.state, first.attempts, first.error_code), ("queued", 1, "130429"))
        self.assertTrue(first.next_attempt_at)
        self.assertEqual({m.state for m in others}, {"sent"}, "the account resumed after its pause")
        first.sudo().next_attempt_at = False
        self.send_queued()
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(sorted(s["text"] for s in self.fake_wa.sent), ["Reply 0", "Reply 1", "Reply 2"],
                         "each sent exactly once")
