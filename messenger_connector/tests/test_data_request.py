import base64
import io
import json
import zipfile

from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestDataRequest(MessengerCase):

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("3249100001", "my private question", "wamid.D1", name="Dana Data"))
        self.receive(self.wa_account, self.wa_text("3249100002", "someone else's words", "wamid.D2", name="Other Otto"))
        self.mine = self.conversation(self.wa_account, "3249100001")
        self.other = self.conversation(self.wa_account, "3249100002")
        self.mine.messenger_message_ids.attachment_ids = self.env["ir.attachment"].create({
            "name": "passport.jpg", "raw": b"JPEGDATA", "res_model": "messenger.conversation",
            "res_id": self.mine.id})
        self.mine.action_send_text("our answer")
        self.partner = self.mine.partner_id

    def request(self):
        return self.env["messenger.data.request"].create({"partner_id": self.partner.id})

    def test_export_contains_everything_of_the_person_and_nothing_else(self):
        request = self.request()
        request.action_export()
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(request.export_file)))
        data = json.loads(archive.read("messenger_data.json"))
        texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
        self.assertEqual(sorted(texts), ["my private question", "our answer"])
        self.assertEqual(data["conversations"][0]["external_user_id"], "3249100001")
        self.assertEqual([e["evidence"] for e in data["consent"]], ["my private question"])
        files = [n for n in archive.namelist() if n.startswith("attachments/")]
        self.assertEqual(len(files), 1)
        self.assertEqual(archive.read(files[0]), b"JPEGDATA")
        self.assertNotIn("someone else", archive.read("messenger_data.json").decode())
        self.assertNotIn("3249100002", archive.read("messenger_data.json").decode())

    def test_erase_leaves_no_content_and_respects_holds(self):
        held = self.env["messenger.conversation"].create({
            "account_id": self.tg_account.id, "external_user_id": "990001", "partner_id": self.partner.id,
            "legal_hold": True, "legal_hold_reason": "Court order 42"})
        self.env["messenger.message"].create({"conversation_id": held.id, "direction": "in", "body": "held words",
                                               "state": "received"})
        request = self.request()
        self.assertIn("Court order 42", request.holds)
        messages = self.mine.messenger_message_ids
        attachments = messages.attachment_ids
        request.action_erase()
        self.assertIn("Court order 42", request.done)
        self.assertFalse(self.mine.exists())
        self.assertFalse(messages.exists())
        self.assertFalse(attachments.exists())
        for text in ("my private question", "our answer"):
            self.assertFalse(self.env["mail.message"].sudo().search([("body", "ilike", text)]), text)
            self.assertFalse(self.env["messenger.message"].sudo().search([("body", "=", text)]), text)
            self.assertFalse(self.env["messenger.event"].sudo().search([("body", "ilike", text)]), text)
        consent = self.env["messenger.consent"].sudo().search([("identity", "=", "3249100001")])
        self.assertTrue(consent, "the consent facts stay")
        self.assertFalse(consent.evidence)
        self.assertEqual(held.messenger_message_ids.body, "held words")
        self.assertEqual(self.other.messenger_message_ids.body, "someone else's words", "another person is untouched")

    def test_opt_out_holds_after_erasure(self):
        self.receive(self.wa_account, self.wa_text("3249100001", "STOP", "wamid.D3", name="Dana Data"))
        self.request().action_erase()
        self.receive(self.wa_account, self.wa_text("3249100001", "hello again", "wamid.D4", name="Dana Data"))
        again = self.conversation(self.wa_account, "3249100001")
        self.assertTrue(again.opted_out)

    def test_deleting_a_conversation_any_way_removes_copies_and_respects_holds(self):
        from odoo.exceptions import UserError
        copies = self.mine.messenger_message_ids.chatter_message_ids
        self.assertTrue(copies)
        self.mine.messenger_message_ids[:1].action_set_legal_hold("Evidence for claim 7")
        with self.assertRaisesRegex(UserError, "legal hold"):
            self.mine.unlink()
        self.mine.messenger_message_ids.action_lift_legal_hold("Claim 7 settled")
        self.mine.unlink()
        self.assertFalse(copies.exists())

    def test_privacy_lookup_finds_the_person_s_messenger_data(self):
        if "privacy.lookup.wizard" not in self.env:
            self.skipTest("privacy_lookup is not installed")
        self.partner.email = "dana@example.com"
        wizard = self.env["privacy.lookup.wizard"].create({"name": "Dana Data", "email": "dana@example.com"})
        wizard.action_lookup()
        found = {(line.res_model, line.res_id) for line in wizard.line_ids}
        self.assertIn(("messenger.conversation", self.mine.id), found)
        consent = self.env["messenger.consent"].sudo().search([("partner_id", "=", self.partner.id)])
        self.assertIn(("messenger.consent", consent.id), found)
        self.assertNotIn(("messenger.conversation", self.other.id), found)
