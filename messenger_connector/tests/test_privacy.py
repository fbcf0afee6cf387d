import base64
import datetime
import io
import json
import zipfile

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import WA_PHONE_ID, MessengerCase, fakes

WORDS = "zebra-quartz secret"
NAME = "Quentin Quasar"


@tagged("post_install", "-at_install")
class TestPrivacyCopies(MessengerCase):
    """Erasure and retention leave no copy of what a person said, wherever our code wrote it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = new_test_user(
            cls.env, login="mc_priv_sales", name="Sally Sales",
            groups="base.group_user,sales_team.group_sale_salesman,messenger_connector.group_messenger_user")
        # a Messenger manager who may not edit contacts (no "Contact Creation" right)
        cls.privacy_manager = new_test_user(
            cls.env, login="mc_priv_manager", name="Petra Privacy",
            groups="base.group_user,messenger_connector.group_messenger_manager")
        assert not cls.privacy_manager.has_group("base.group_partner_manager")

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("4917011110001", f"first: {WORDS}", "wamid.P1", name=NAME))
        self.wa = self.conversation(self.wa_account, "4917011110001")
        self.partner = self.wa.partner_id
        # the platform's preference event (carries the person's number, no message of ours)
        self.receive(self.wa_account, fakes.wa_payload(
            field="user_preferences", phone_number_id=WA_PHONE_ID,
            contacts=[fakes.wa_contact("4917011110001", NAME)],
            value_extra={"user_preferences": [fakes.wa_preference("4917011110001", "stop")]}))
        self.receive(self.wa_account, self.wa_text("4917011110001", "START", "wamid.P2", name=NAME))
        self.lead = self.env["crm.lead"].browse(self.wa.action_create_lead()["res_id"])
        self.wa.messenger_message_ids[:1].attachment_ids = self.env["ir.attachment"].create({
            "name": "notes.txt", "raw": f"scan: {WORDS}".encode(), "res_model": "messenger.conversation",
            "res_id": self.wa.id})
        # Telegram: an edit and a member change carry the person's words and name without a message of ours
        update = fakes.tg_update(9001, text=f"hello {WORDS}", chat_id=77001, first_name="Quentin",
                                 last_name="Quasar")
        self.receive(self.tg_account, update)
        self.tg = self.conversation(self.tg_account, "77001")
        self.tg.partner_id = self.partner
        edited = fakes.tg_update(9002, text=f"edited {WORDS}", chat_id=77001, first_name="Quentin",
                                 last_name="Quasar", message_id=9001)
        edited["edited_message"] = edited.pop("message")
        self.receive(self.tg_account, edited)
        self.receive(self.tg_account, fakes.tg_member_update(9003, "kicked", chat_id=77001, first_name="Quentin"))
        self.receive(self.tg_account, fakes.tg_member_update(9004, "member", chat_id=77001, first_name="Quentin"))
        # somebody else, untouched by either
        self.receive(self.wa_account, self.wa_text("4917011110002", "other person's words", "wamid.P3",
                                                   name="Olga Other"))
        self.other = self.conversation(self.wa_account, "4917011110002")

    def assert_no_copy_left(self, conversations):
        """Nothing of the person's words or name is left in any place our code writes to."""
        Sudo = self.env(su=True)
        Sudo.flush_all()
        for text in ("zebra-quartz", "Quasar"):
            where = {
                "chatter": Sudo["mail.message"].search([("body", "ilike", text)]),
                "chatter record names": Sudo["mail.message"].search([
                    ("model", "=", "messenger.conversation"), ("res_id", "in", conversations.ids),
                    ("record_name", "ilike", text)]),
                "tracking": Sudo["mail.tracking.value"].search([
                    ("mail_message_id.model", "=", "messenger.conversation"),
                    "|", ("old_value_char", "ilike", text), ("new_value_char", "ilike", text)]),
                "messages": Sudo["messenger.message"].search([("body", "ilike", text)]),
                "deliveries": Sudo["messenger.event"].search([("body", "ilike", text)]),
                "consent evidence": Sudo["messenger.consent"].search([("evidence", "ilike", text)]),
                "lead description": Sudo["crm.lead"].search([("description", "ilike", text)]),
                "activity notes": Sudo["mail.activity"].search([("note", "ilike", text)]),
                "attachments": Sudo["ir.attachment"].search([("index_content", "ilike", text)]),
            }
            if text == "Quasar":  # the contact keeps its name; our records must not
                del where["chatter"]
                del where["lead description"]
            for place, found in where.items():
                self.assertFalse(found, f"{text!r} left in {place}")
        self.assertFalse(Sudo["messenger.event"].search([("body", "like", "77001")]), "Telegram deliveries")
        self.assertFalse(Sudo["messenger.event"].search([("body", "like", "4917011110001")]), "WhatsApp deliveries")
        self.assertEqual(self.other.messenger_message_ids.body, "other person's words", "another person is untouched")

    def test_every_copy_exists_before(self):
        """The places the test checks do hold the words before (so that the checks below mean something)."""
        Sudo = self.env(su=True)
        Sudo.flush_all()
        self.assertTrue(Sudo["messenger.event"].search([("body", "ilike", "edited zebra-quartz")]))
        self.assertTrue(Sudo["messenger.event"].search([("body", "like", '"my_chat_member"')]))
        self.assertTrue(Sudo["messenger.event"].search([("body", "like", '"user_preferences"')]))
        self.assertTrue(Sudo["messenger.consent"].search([("evidence", "ilike", "zebra-quartz")]))
        self.assertTrue(Sudo["ir.attachment"].search([("index_content", "ilike", "zebra-quartz")]))
        self.assertIn(f"/odoo/messenger.conversation/{self.wa.id}", self.lead.description)
        self.assertNotIn("zebra-quartz", self.lead.description, "the lead links to the chat, never copies it")

    def test_erasure_leaves_no_copy(self):
        # the conversation's contact changed once: its tracking row keeps the old name
        self.wa.partner_id = self.env["res.partner"].create({"name": "Someone Else"})
        self.wa.partner_id = self.partner
        self.assertTrue(self.env["mail.tracking.value"].sudo().search([("old_value_char", "ilike", "Quasar")]))
        request = self.env["messenger.data.request"].with_user(self.privacy_manager).create(
            {"partner_id": self.partner.id})
        request.action_erase()  # by a manager who may not edit contacts
        self.assertFalse((self.wa | self.tg).exists())
        self.assert_no_copy_left(self.wa | self.tg)
        self.assertIn("erased on request", self.partner.message_ids[0].body)

    def test_anonymization_leaves_no_copy(self):
        self.wa.partner_id = self.env["res.partner"].create({"name": "Someone Else"})
        self.wa.partner_id = self.partner
        policy = self.env.ref("messenger_connector.retention_inactive")
        policy.write({"active": True, "days": 30, "action": "anonymize"})
        past = fields.Datetime.now() - datetime.timedelta(days=40)
        (self.wa | self.tg).write({"last_message_at": past})
        policy._apply()
        self.assertTrue(self.wa.anonymized and self.tg.anonymized)
        self.assert_no_copy_left(self.wa | self.tg)

    def test_consent_without_conversation_stays_managers_only(self):
        entries = self.env["messenger.consent"].sudo().search([("identity", "=", "77001")])
        self.assertFalse(self.tg.lead_id)
        self.assertEqual(entries.with_user(self.user_agent).search([("id", "in", entries.ids)]), entries,
                         "before: the agent reads the consent of a conversation they may read")
        self.env["messenger.data.request"].with_user(self.privacy_manager).create(
            {"partner_id": self.partner.id}).action_erase()
        self.assertTrue(entries.exists())
        self.assertFalse(entries.conversation_id)
        for user in (self.user_agent, self.salesman):
            self.assertFalse(entries.with_user(user).search([("id", "in", entries.ids)]), user.name)
            with self.assertRaises(AccessError):
                entries.with_user(user).read(["identity"])
        self.assertEqual(entries.with_user(self.privacy_manager).search([("id", "in", entries.ids)]), entries)

    def test_chat_opens_when_the_person_writes_again_after_erasure(self):
        self.env["messenger.data.request"].with_user(self.privacy_manager).create(
            {"partner_id": self.partner.id}).action_erase()
        self.receive(self.tg_account, fakes.tg_update(9010, text="me again", chat_id=77001, first_name="Q"))
        chat = self.conversation(self.tg_account, "77001").with_user(self.user_agent)
        # the opt-out kept without its conversation still decides, and the form still opens for the agent
        self.assertEqual(chat.consent_service, "opt_in")
        self.assertFalse(chat.consent_ids)
        chat.web_read({"consent_ids": {"fields": {"display_name": {}, "evidence": {}}}, "consent_marketing": {}})


@tagged("post_install", "-at_install")
class TestDataRequestScope(MessengerCase):
    """Export and erasure act in the user's current companies, say what they left out, and name files safely."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.account_b = cls.env["messenger.account"].create({
            "name": "WA B", "provider": "whatsapp", "api_base_url": cls.fake_wa.url,
            "wa_phone_number_id": "100000000000009", "wa_access_token": "b-token", "wa_app_secret": "b-secret",
            "wa_verify_token": "b-verify", "company_id": cls.company_b.id})
        cls.manager_a = new_test_user(
            cls.env, login="mc_manager_a", name="Manager of A",
            groups="base.group_user,messenger_connector.group_messenger_manager",
            company_id=cls.company.id, company_ids=[(6, 0, cls.company.ids)])

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("4917022220001", "A: my question", "wamid.S1", name="Sam Shared"))
        self.mine = self.conversation(self.wa_account, "4917022220001")
        self.partner = self.mine.partner_id
        self.partner.company_id = False  # a contact shared by both companies
        self.theirs = self.env["messenger.conversation"].create({
            "account_id": self.account_b.id, "external_user_id": "4917022220001", "partner_id": self.partner.id})
        self.env["messenger.message"].create({
            "conversation_id": self.theirs.id, "direction": "in", "state": "received",
            "body": "Company B only: my medical details"})
        self.env["messenger.consent"]._record(self.theirs, ["service"], "opt_in", "inbound",
                                              evidence="Company B only: my medical details")

    def request(self, user):
        return self.env["messenger.data.request"].with_user(user).create({"partner_id": self.partner.id})

    def test_export_stays_in_the_company_and_says_what_it_left_out(self):
        request = self.request(self.manager_a)
        request.action_export()
        raw = zipfile.ZipFile(io.BytesIO(base64.b64decode(request.export_file))).read("messenger_data.json").decode()
        self.assertIn("A: my question", raw)
        self.assertNotIn("medical", raw)
        self.assertNotIn(str(self.theirs.id), [str(c["id"]) for c in json.loads(raw)["conversations"]])
        self.assertIn("Not included: 1 conversations and 1 consent entries", request.done)
        self.assertIn("Company B", request.left_out)

    def test_erasure_stays_in_the_company_and_says_what_it_left_out(self):
        request = self.request(self.manager_a)
        request.action_erase()
        self.assertFalse(self.mine.exists())
        self.assertTrue(self.theirs.exists())
        self.assertEqual(self.theirs.messenger_message_ids.body, "Company B only: my medical details")
        self.assertTrue(self.env["messenger.consent"].search([("evidence", "ilike", "medical")]))
        self.assertIn("Not included: 1 conversations", request.done)

    def test_archive_entry_names_are_safe(self):
        names = ["../../../../tmp/x.html", "..\\..\\win.ini", "a" * 300 + ".pdf", "..", "ok name.jpg"]
        message = self.mine.messenger_message_ids
        message.attachment_ids = self.env["ir.attachment"].create([{
            "name": name, "raw": b"data", "res_model": "messenger.conversation", "res_id": self.mine.id}
            for name in names])
        request = self.request(self.manager_a)
        request.action_export()
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(request.export_file)))
        entries = [n for n in archive.namelist() if n != "messenger_data.json"]
        self.assertEqual(len(entries), len(names))
        for entry in entries:
            folder, _sep, name = entry.partition("/")
            self.assertEqual(folder, "attachments")
            self.assertNotIn("/", name)
            self.assertNotIn("\\", name)
            self.assertNotIn("..", name)
            self.assertLessEqual(len(name), 120)
        self.assertTrue(any(n.endswith("-x.html") for n in entries))
        self.assertTrue(any(n.endswith(".pdf") and "aaaa" in n for n in entries), "the extension stays")
        self.assertTrue(any(n.endswith("-ok name.jpg") for n in entries))


@tagged("post_install", "-at_install")
class TestMediaTypes(MessengerCase):
    """Media stored by the cron (as superuser) are never kept as a type a browser would run."""

    def media_message(self, media_id, content, mime, filename):
        self.fake_wa.add_media(media_id, content, mime, filename)
        payload = fakes.wa_payload(
            messages=[fakes.wa_message("4917033330001", "document",
                                       {"id": media_id, "mime_type": mime, "filename": filename},
                                       wamid=f"wamid.{media_id}")],
            contacts=[fakes.wa_contact("4917033330001", "Mal Ware")], phone_number_id=WA_PHONE_ID)
        self.receive(self.wa_account, payload)
        return self.messages(self.wa_account, external_id=f"wamid.{media_id}")

    def test_active_types_are_stored_as_plain_text_or_download(self):
        cases = [
            ("m-html", b"<html><script>alert(1)</script></html>", "text/html", "x.html", "text/plain"),
            ("m-svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml", "x.svg",
             "text/plain"),
            ("m-xhtml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>", "application/xhtml+xml", "x.xhtml",
             "text/plain"),
            ("m-js", b"alert(1)", "application/javascript", "x.js", ("application/octet-stream", "text/plain")),
            ("m-pdf", b"%PDF-1.4 fine", "application/pdf", "fine.pdf", "application/pdf"),
        ]
        for media_id, content, mime, filename, stored in cases:
            with self.subTest(mime=mime):
                message = self.media_message(media_id, content, mime, filename)
                self.assertEqual(message.media_state, "done")
                self.assertIn(message.attachment_ids.mimetype, stored if isinstance(stored, tuple) else (stored,))
                self.assertEqual(message.attachment_ids.raw, content, "the content itself is kept")


@tagged("post_install", "-at_install")
class TestLegalHold(MessengerCase):
    """Placing and lifting a legal hold is for Messenger managers, through any call path, and logged."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = new_test_user(
            cls.env, login="mc_hold_sales", name="Hold Sales", groups="base.group_user,sales_team.group_sale_salesman")

    def setUp(self):
        super().setUp()
        self.receive(self.wa_account, self.wa_text("4917044440001", "keep me", "wamid.H1", name="Hana Hold"))
        self.conv = self.conversation(self.wa_account, "4917044440001")
        self.lead = self.env["crm.lead"].create({
            "name": "Hold lead", "partner_id": self.conv.partner_id.id, "user_id": self.salesman.id})
        self.conv.lead_id = self.lead
        self.message = self.conv.messenger_message_ids
        self.conv.with_user(self.user_manager).action_set_legal_hold("Court order 7")
        self.message.with_user(self.user_manager).action_set_legal_hold("Price promise")

    def test_non_managers_can_neither_lift_nor_place(self):
        self.receive(self.wa_account, self.wa_text("4917044440002", "free words", "wamid.H2", name="Fred Free"))
        free = self.conversation(self.wa_account, "4917044440002")  # no lead: the agents' own conversation
        free.with_user(self.user_manager).action_set_legal_hold("Audit")
        free.messenger_message_ids.with_user(self.user_manager).action_set_legal_hold("Audit")
        # each may write the conversation otherwise: the refusal is about the hold
        for user, conversation in ((self.salesman, self.conv), (self.user_agent, free)):
            conv, message = conversation.with_user(user), conversation.messenger_message_ids.with_user(user)
            self.assertTrue(conv.access_write, user.name)
            conv.write({"needs_review": True})
            for call in (
                lambda: conv.write({"legal_hold": False}),
                lambda: conv.write({"legal_hold_reason": "changed"}),
                lambda: conv.action_lift_legal_hold("no longer needed"),
                lambda: conv.action_lift_legal_hold(),
                lambda: message.write({"legal_hold": False}),
                lambda: message.action_lift_legal_hold("no longer needed"),
                lambda: message.action_set_legal_hold("mine"),
            ):
                with self.subTest(user=user.name), self.assertRaises(AccessError):
                    call()
        self.assertTrue(self.conv.legal_hold and self.message.legal_hold and free.legal_hold)
        with self.assertRaises(AccessError):
            self.env["messenger.conversation"].with_user(self.user_agent).create({
                "account_id": self.wa_account.id, "external_user_id": "4917044440009", "legal_hold": True,
                "legal_hold_reason": "x"})

    def test_lifting_needs_a_reason_and_every_change_is_logged(self):
        with self.assertRaisesRegex(UserError, "needs a reason"):
            self.conv.with_user(self.user_manager).write({"legal_hold": False})
        with self.assertRaisesRegex(UserError, "needs a reason"):
            self.message.with_user(self.user_manager).action_lift_legal_hold(" ")
        self.conv.with_user(self.user_manager).action_lift_legal_hold("Case closed")
        self.message.with_user(self.user_manager).action_lift_legal_hold("Promise kept")
        self.assertFalse(self.conv.legal_hold or self.message.legal_hold)
        log = self.env["messenger.legal.hold.log"].search([("conversation_id", "=", self.conv.id)], order="id")
        self.assertEqual([(e.action, e.reason, e.user_id) for e in log], [
            ("placed", "Court order 7", self.user_manager), ("placed", "Price promise", self.user_manager),
            ("lifted", "Case closed", self.user_manager), ("lifted", "Promise kept", self.user_manager)])
        self.assertEqual(log.message_id, self.message)
        notes = self.env["mail.message"].search([("model", "=", "messenger.conversation"),
                                                 ("res_id", "=", self.conv.id), ("body", "ilike", "lifted by")])
        self.assertEqual(len(notes), 2)
        self.assertIn("Manager Mary", notes[0].body)
        with self.assertRaises(AccessError):
            log.with_user(self.user_agent).read(["reason"])

    def test_button_asks_for_the_reason(self):
        action = self.conv.with_user(self.user_manager).action_lift_legal_hold()
        self.assertEqual(action["res_model"], "messenger.legal.hold.change")
        wizard = self.env["messenger.legal.hold.change"].with_user(self.user_manager).with_context(
            **action["context"]).create({"reason": "Appeal withdrawn"})
        wizard.action_confirm()
        self.assertFalse(self.conv.legal_hold)
        self.assertEqual(self.env["messenger.legal.hold.log"].search([], order="id desc", limit=1).reason,
                         "Appeal withdrawn")


@tagged("post_install", "-at_install")
class TestPrivacySettings(MessengerCase):

    def test_settings_show_help_texts(self):
        view = self.env.ref("messenger_connector.res_config_settings_view_form_messenger")
        from lxml import etree
        settings = etree.fromstring(view.arch).xpath("//setting")
        self.assertTrue(settings)
        for setting in settings:
            # Odoo shows a setting's help only under its title
            self.assertTrue(setting.get("string") and setting.get("help"), etree.tostring(setting))

    def test_preview_says_when_nothing_is_due(self):
        policy = self.env.ref("messenger_connector.retention_inactive")
        policy.write({"active": True, "days": 3650})
        action = policy.action_preview()
        self.assertEqual(action.get("tag"), "display_notification")
        self.assertIn("nothing to anonymize", action["params"]["message"])
        self.assertIn("3650 days", action["params"]["message"])
