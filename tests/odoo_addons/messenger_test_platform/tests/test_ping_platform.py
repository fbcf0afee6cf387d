import http.server
import json
import threading

from odoo.tests import HttpCase, tagged

from odoo.addons.messenger_connector.providers import PROVIDERS


class PingServer(http.server.ThreadingHTTPServer):
    """The Ping platform's API on a real socket: records what it is sent, answers with an id."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PingHandler)
        self.sent = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class PingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/send" or self.headers.get("X-Ping-Token") != "ping-secret":
            self.send_response(403)
            self.end_headers()
            return
        self.server.sent.append(body)
        answer = json.dumps({"id": f"ping-out-{len(self.server.sent)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@tagged("post_install", "-at_install")
class TestPingPlatform(HttpCase):
    """A platform added by a module of its own (provider module, model file, view file): no core file names it,
    and a message goes in through the webhook and out through the sender."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = PingServer()
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.server.server_close)
        cls.addClassCleanup(cls.server.shutdown)
        cls.account = cls.env["messenger.account"].create({
            "name": "Ping desk", "provider": "ping", "ping_token": "ping-secret", "api_base_url": cls.server.url,
            "audience_group_id": False,
        })

    def post(self, payload, token="ping-secret"):
        return self.url_open(f"/messenger/webhook/{self.account.webhook_key}", data=json.dumps(payload).encode(),
                             headers={"Content-Type": "application/json", "X-Ping-Token": token})

    def test_capabilities_come_from_the_provider(self):
        self.assertIn("ping", PROVIDERS)
        self.assertEqual(self.account._utm_source().name, "Ping")
        self.assertFalse(self.account.has_templates or self.account.has_window or self.account.starts_by_phone)
        arch = self.env["messenger.account"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="ping_token"', arch)

    def test_message_in_and_reply_out(self):
        self.assertEqual(self.post({"messages": [{"id": "p1", "from": "u42", "text": "hello"}]},
                                   token="wrong").status_code, 403)
        self.assertFalse(self.env["messenger.event"].search([("account_id", "=", self.account.id)]))
        answer = self.post({"messages": [{"id": "p1", "from": "u42", "name": "Pat Ping", "text": "Hallo!"}]})
        self.assertEqual((answer.status_code, answer.text), (200, "OK"))
        self.env["messenger.event"]._cron_process()
        conversation = self.env["messenger.conversation"].search([("account_id", "=", self.account.id)])
        self.assertEqual((conversation.external_user_id, conversation.profile_name), ("u42", "Pat Ping"))
        self.assertEqual(conversation.messenger_message_ids.mapped("body"), ["Hallo!"])
        self.assertEqual(conversation.partner_id.name, "Pat Ping")

        conversation.action_send_text("Hello Pat")
        self.env["messenger.message"]._cron_send()
        self.assertEqual(self.server.sent, [{"to": "u42", "text": "Hello Pat"}])
        reply = conversation.messenger_message_ids.filtered(lambda m: m.direction == "out")
        self.assertEqual((reply.state, reply.external_id), ("sent", "ping-out-1"))
