import json

from odoo import Command
from odoo.api import call_kw
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from .common import MessengerCase, fakes

MESSENGER = "messenger_connector.group_messenger_user"


@tagged("post_install", "-at_install")
class TestWhoSeesWhat(MessengerCase):
    """Restricted users (salespeople "Own Documents Only", a recruitment officer, an interviewer) open what Odoo
    lets them open, and see of the chats only those whose lead or application they may read."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env

        def user(login, groups):
            return new_test_user(env, login=login, groups=",".join(["base.group_user", *groups]), name=login)

        cls.sales_a = user("wsw_sales_a", ["sales_team.group_sale_salesman", MESSENGER])
        cls.sales_b = user("wsw_sales_b", ["sales_team.group_sale_salesman", MESSENGER])
        cls.sales_plain = user("wsw_sales_plain", ["sales_team.group_sale_salesman"])  # no Messenger group
        cls.officer = user("wsw_officer", ["hr_recruitment.group_hr_recruitment_user"])
        cls.interviewer = user("wsw_interviewer", ["hr_recruitment.group_hr_recruitment_interviewer", MESSENGER])

        # contact C: B's lead has the chat (with consent entries); admin then gives A a second lead for C
        cls.customer = env["res.partner"].create({"name": "Carla Customer", "mobile": "+32 470 88 00 01"})
        cls.lead_b = env["crm.lead"].create({"name": "B's quote", "partner_id": cls.customer.id,
                                             "user_id": cls.sales_b.id, "type": "opportunity"})
        cls.receive_as_class(cls.wa_account, "32470880001", "Here is my quote question", "wamid.WSW1")
        cls.chat_b = cls.find(cls.wa_account, "32470880001")
        cls.lead_a = env["crm.lead"].create({"name": "A's other deal", "partner_id": cls.customer.id,
                                             "user_id": cls.sales_a.id, "type": "opportunity"})

        # a candidate applied to position A (the interviewer's), later to position B through a chat
        cls.job_a = env["hr.job"].create({"name": "Position A", "interviewer_ids": [Command.set(cls.interviewer.ids)]})
        cls.job_b = env["hr.job"].create({"name": "Position B"})
        cls.applicant_partner = env["res.partner"].create({"name": "Paul Applicant", "mobile": "+32 470 88 00 02"})
        cls.candidate = env["hr.candidate"].create({"partner_id": cls.applicant_partner.id,
                                                    "partner_name": "Paul Applicant"})
        cls.app_a = env["hr.applicant"].create({"candidate_id": cls.candidate.id, "job_id": cls.job_a.id})
        cls.receive_as_class(cls.wa_account, "32470880002", f"JOB-{cls.job_b.id} my private application",
                             "wamid.WSW2")
        cls.chat_app = cls.find(cls.wa_account, "32470880002")
        cls.app_b = cls.chat_app.applicant_id
        for chat in (cls.chat_b, cls.chat_app):
            env["messenger.consent"].create({
                "provider": "whatsapp", "identity": chat.external_user_id, "partner_id": chat.partner_id.id,
                "conversation_id": chat.id, "company_id": chat.company_id.id, "purpose": "marketing",
                "action": "opt_in", "source": "inbound", "evidence": "yes please"})

    @classmethod
    def receive_as_class(cls, account, wa_id, text, wamid):
        payload = fakes.wa_text_payload(wa_id, text, wamid=wamid, name="Someone",
                                        phone_number_id=account.wa_phone_number_id)
        body = json.dumps(payload)
        provider = account._get_provider()
        cls.env["messenger.event"]._store(account, provider.delivery_key(body.encode()), body)
        cls.env["messenger.event"]._cron_process()

    @classmethod
    def find(cls, account, external_user_id):
        return cls.env["messenger.conversation"].search([
            ("account_id", "=", account.id), ("external_user_id", "=", external_user_id)])

    def our_fields(self, record, user):
        visible = record.with_user(user).fields_get(attributes=["type"])
        return [name for name, field in record._fields.items()
                if field._module == "messenger_connector" and name in visible]

    def assert_opens(self, user, record):
        """The form opens (web_read with the form's own specification) and every field we add reads."""
        as_user = record.with_user(user)
        with self.subTest(user=user.login, record=record._name):
            Form(as_user)  # get_views + web_read(spec of the form), as the web client does
            names = self.our_fields(record, user)
            self.assertTrue(names)
            spec = {name: ({"fields": {"display_name": {}}}
                           if record._fields[name].type in ("one2many", "many2many") else {}) for name in names}
            as_user.web_read(spec)

    def test_preconditions(self):
        self.assertEqual(self.chat_b.lead_id, self.lead_b)
        self.assertEqual(self.app_b.job_id, self.job_b)
        self.assertEqual(self.chat_app.candidate_id, self.candidate)

    def test_every_form_opens_for_each_restricted_role(self):
        self.assert_opens(self.sales_a, self.lead_a)
        self.assert_opens(self.sales_plain, self.env["crm.lead"].create({
            "name": "Plain's deal", "partner_id": self.customer.id, "user_id": self.sales_plain.id}))
        self.assert_opens(self.sales_plain, self.customer)
        self.assert_opens(self.sales_a, self.customer)
        self.assert_opens(self.sales_b, self.lead_b)
        self.assert_opens(self.interviewer, self.app_a)
        self.assert_opens(self.interviewer, self.applicant_partner)
        self.assert_opens(self.interviewer, self.job_a)
        self.assert_opens(self.officer, self.app_a)
        self.assert_opens(self.officer, self.app_b)
        self.assert_opens(self.officer, self.candidate)
        self.assert_opens(self.officer, self.job_b)
        self.assert_opens(self.sales_b, self.chat_b)
        self.assert_opens(self.officer, self.chat_app)

    def test_consent_list_shows_what_the_user_may_read(self):
        consent_b = self.env["messenger.consent"].search([("conversation_id", "=", self.chat_b.id)])
        self.assertEqual(self.lead_b.with_user(self.sales_b).messenger_consent_ids, consent_b)
        self.assertFalse(self.lead_a.with_user(self.sales_a).messenger_consent_ids)
        self.assertFalse(self.customer.with_user(self.sales_a).messenger_consent_ids)
        self.assertFalse(self.app_a.with_user(self.interviewer).messenger_consent_ids)
        self.assertTrue(self.app_a.with_user(self.officer).messenger_consent_ids)

    def test_chat_opens_when_the_person_also_chats_with_another_account(self):
        jobs = self.wa_account.copy({"name": "WA jobs", "wa_phone_number_id": "100000000000077"})
        elsewhere = self.env["messenger.conversation"].create({
            "account_id": jobs.id, "external_user_id": self.chat_b.external_user_id, "lead_id": self.lead_a.id})
        hidden = self.env["messenger.consent"]._record(elsewhere, ["recruiting"], "opt_in", "inbound",
                                                       evidence="only for A's eyes")
        self.assert_opens(self.sales_b, self.chat_b)
        self.assertNotIn(hidden, self.chat_b.with_user(self.sales_b).consent_ids)
        self.assertEqual(self.chat_b.with_user(self.sales_b).consent_recruiting, "opt_in",
                         "the person's state counts every entry, shown or not")

    def test_no_chat_text_in_the_contact_chatter(self):
        Message = self.env["mail.message"]
        for partner in (self.customer, self.applicant_partner):
            self.assertFalse(Message.search([("model", "=", "res.partner"), ("res_id", "=", partner.id),
                                             ("body", "ilike", "quote question")]))
            self.assertFalse(Message.search([("model", "=", "res.partner"), ("res_id", "=", partner.id),
                                             ("body", "ilike", "private application")]))
        # the copies are where the access is the conversation's
        self.assertTrue(Message.search([("model", "=", "crm.lead"), ("res_id", "=", self.lead_b.id),
                                        ("body", "ilike", "quote question")]))
        self.assertTrue(Message.search([("model", "=", "hr.applicant"), ("res_id", "=", self.app_b.id),
                                        ("body", "ilike", "private application")]))
        # salesperson A reads the contact: no text of B's chat, and no chat of B in its tab or Chats button
        partner = self.customer.with_user(self.sales_a)
        self.assertFalse(partner.messenger_conversation_ids)
        self.assertEqual(partner.messenger_conversation_count, 0)
        self.env.invalidate_all()  # a new request: nothing cached from A's reads
        self.assertEqual(self.customer.with_user(self.sales_b).messenger_conversation_ids, self.chat_b)
        self.env.invalidate_all()
        action = partner.action_view_messenger_conversations()
        self.assertFalse(self.env["messenger.conversation"].with_user(self.sales_a).search(action["domain"]))
        self.assertFalse(self.applicant_partner.with_user(self.sales_a).messenger_conversation_ids)

    def test_unlinked_chats_default_audience_leaves_out_recruitment_only_users(self):
        account = self.env["messenger.account"].create({"name": "New bot", "provider": "telegram"})
        self.assertEqual(account.audience_group_id, self.env.ref("sales_team.group_sale_salesman"))
        self.tg_account.audience_group_id = account.audience_group_id
        self.assertFalse(self.tg_account.user_ids)
        self.receive(self.tg_account, fakes.tg_update(9101, text="hello?", chat_id=9101, first_name="Una"))
        chat = self.conversation(self.tg_account, "9101")
        self.assertFalse(chat.lead_id or chat.applicant_id or chat.candidate_id)
        self.assertTrue(chat.with_user(self.sales_a).has_access("read"))
        self.assertFalse(chat.with_user(self.interviewer).has_access("read"))
        self.tg_account.audience_group_id = False  # the manager's choice: every Messenger user
        self.assertTrue(chat.with_user(self.interviewer).has_access("read"))

    def test_hand_over_to_someone_who_cannot_read_is_refused(self):
        chat = self.chat_b.with_user(self.sales_b)
        with self.assertRaises(UserError) as caught:  # (rolled back like the request would be)
            chat.user_id = self.sales_a
        self.assertIn("cannot open the chat", str(caught.exception))
        self.assertIn("B's quote", str(caught.exception), "says how to hand over")
        self.assertFalse(self.env["mail.followers"].search([
            ("res_model", "=", "messenger.conversation"), ("res_id", "=", self.chat_b.id),
            ("partner_id", "=", self.sales_a.partner_id.id)]), "not made a follower either")
        # the way Odoo hands over: the lead goes to A, the chat follows, then A can be its agent
        self.lead_b.with_user(self.sales_b).user_id = self.sales_a
        self.chat_b.with_user(self.sales_a).user_id = self.sales_a
        self.assertEqual(self.chat_b.user_id, self.sales_a)

    def test_salesperson_starts_a_chat_from_their_own_lead(self):
        newcomer = self.env["res.partner"].create({"name": "Nico New", "mobile": "+32 470 88 00 09"})
        lead = self.env["crm.lead"].create({"name": "Nico's sofa", "partner_id": newcomer.id,
                                           "user_id": self.sales_a.id, "type": "opportunity"})
        action = lead.with_user(self.sales_a).action_messenger_send()
        form = Form(self.env["messenger.compose"].with_user(self.sales_a).with_context(**action["context"]))
        form.account_id = self.wa_account
        form.mode = "template"
        form.template_name = "hello"
        form.template_language = "en"
        form.record_consent = True
        form.consent_reason = "Asked at the showroom"
        form.save().action_send()
        chat = self.conversation(self.wa_account, "32470880009")
        self.assertEqual((chat.lead_id, chat.user_id), (lead, self.sales_a))
        self.assertTrue(chat.with_user(self.sales_a).has_access("write"))

    def test_send_message_on_a_lead_whose_contact_chats_under_another_lead(self):
        action = self.lead_a.with_user(self.sales_a).action_messenger_send()
        form = Form(self.env["messenger.compose"].with_user(self.sales_a).with_context(**action["context"]))
        form.account_id = self.wa_account
        form.mode = "template"
        form.template_name = "hello"
        form.template_language = "en"
        wizard = form.save()
        self.assertFalse(wizard.conversation_id, "B's chat is not shown to A")
        with self.assertRaises(UserError) as caught:
            wizard.action_send()
        self.assertIn("hand it over", str(caught.exception))
        self.assertEqual(self.chat_b.lead_id, self.lead_b, "B's chat stays on B's lead")

    def test_create_lead_needs_crm_rights(self):
        agent = self.user_agent  # Messenger user without CRM rights
        self.receive(self.wa_account, self.wa_text("32470880003", "hi", "wamid.WSW3"))
        chat = self.conversation(self.wa_account, "32470880003")
        arch = chat.with_user(agent).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertNotIn("action_create_lead", arch)
        self.assertIn("action_create_lead", chat.with_user(self.sales_a).get_views(
            [(False, "form")])["views"]["form"]["arch"])
        with self.assertRaises(AccessError) as caught:
            chat.with_user(agent).action_create_lead()
        self.assertIn("CRM", str(caught.exception))
        self.assertFalse(chat.lead_id)

    def test_searching_sms_errors_on_conversations(self):
        # the domains of Odoo's SMS failure systray and of the chatter filters, as an agent would run them
        Conversation = self.env["messenger.conversation"].with_user(self.sales_b)
        if "message_has_sms_error" in Conversation._fields:  # with the sms module installed
            self.assertFalse(Conversation.search([("message_has_sms_error", "=", True)]))
        self.assertFalse(Conversation.search([("message_has_error", "=", True)]))
        self.assertFalse(Conversation.search([("message_needaction", "=", True)]))
        self.assertEqual(self.chat_b._fields["messenger_message_ids"].comodel_name, "messenger.message")
        self.assertEqual(self.chat_b._fields["message_ids"].comodel_name, "mail.message")


@tagged("post_install", "-at_install")
class TestAccountActionsForManagers(MessengerCase):
    """Every account action is for Messenger managers of the account's company, whatever the call path."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Second Co"})
        cls.portal = new_test_user(cls.env, login="acc_portal", groups="base.group_portal")
        cls.internal = new_test_user(cls.env, login="acc_internal", groups="base.group_user")
        cls.manager_b = new_test_user(
            cls.env, login="acc_manager_b", groups="base.group_user,messenger_connector.group_messenger_manager",
            company_id=cls.company_b.id, company_ids=[Command.set(cls.company_b.ids)])

    def call(self, user, method, account):
        env = self.env(user=user)
        return call_kw(env["messenger.account"], method, [account.ids], {})

    def test_non_managers_are_refused_on_every_path(self):
        calls = [(account, method) for account in (self.wa_account, self.tg_account)
                 for method in ("action_test_connection", "action_regenerate_webhook_key")]
        calls.append((self.tg_account, "action_register_webhook"))
        for user in (self.portal, self.internal, self.user_agent, self.manager_b):
            for account, method in calls:
                with self.subTest(user=user.login, method=method, account=account.name), \
                        self.assertRaises(AccessError):
                    self.call(user, method, account)
        self.assertFalse(self.fake_wa.requests, "nothing reached the platform")
        self.assertFalse(self.fake_tg.requests, "nothing reached the platform")

    def test_manager_of_the_company_may(self):
        result = self.call(self.user_manager, "action_test_connection", self.tg_account)
        self.assertEqual(result["params"]["type"], "success")
        result = self.call(self.user_manager, "action_register_webhook", self.tg_account)
        self.assertEqual(result["params"]["type"], "success")


@tagged("post_install", "-at_install")
class TestNumbersAndJobReferences(MessengerCase):
    """A contact is found from its number however it is written; a job reference decides the application."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.germany = cls.env.ref("base.de")

    def test_national_formats_are_the_same_person(self):
        Partner = self.env["res.partner"]
        national = Partner.create({"name": "Nina National", "mobile": "0171 2345678", "country_id": self.germany.id})
        bracketed = Partner.create({"name": "Bruno Bracket", "mobile": "+32 470 99 99 99",
                                    "phone": "+49 (0)170 / 666 66 66", "country_id": self.germany.id})
        self.receive(self.wa_account, self.wa_text("491712345678", "hallo", "wamid.NAT1", name="N."))
        self.receive(self.wa_account, self.wa_text("491706666666", "hallo", "wamid.NAT2", name="B."))
        self.assertEqual(self.conversation(self.wa_account, "491712345678").partner_id, national)
        self.assertEqual(self.conversation(self.wa_account, "491706666666").partner_id, bracketed,
                         "the phone counts as well as the mobile")

    def test_national_format_read_in_the_company_country(self):
        self.company.country_id = self.germany
        nameless_country = self.env["res.partner"].create({"name": "Kai Kein Land", "phone": "0172 1112223"})
        self.receive(self.wa_account, self.wa_text("491721112223", "moin", "wamid.NAT3", name="K."))
        self.assertEqual(self.conversation(self.wa_account, "491721112223").partner_id, nameless_country)

    def test_search_conversations_by_any_formatting_of_the_number(self):
        self.company.country_id = self.germany
        self.receive(self.wa_account, self.wa_text("491701111111", "hi", "wamid.NUM1", name="Sam Search"))
        conversation = self.conversation(self.wa_account, "491701111111")
        Conversation = self.env["messenger.conversation"]
        for typed in ("+49 170 1111111", "0049 170 111 11 11", "0170 1111111", "491701111111"):
            self.assertEqual(Conversation.search([("number_search", "ilike", typed)]), conversation, typed)
        self.assertFalse(Conversation.search([("number_search", "ilike", "+49 170 1111112")]))
        self.assertFalse(Conversation.search([("number_search", "ilike", "Room 1")]), "words are no number")
        # what the search view's main field does with what is typed
        self.assertEqual(Conversation.search(["|", ("name", "ilike", "+49 170 1111111"),
                                              ("number_search", "ilike", "+49 170 1111111")]), conversation)

    def test_job_reference_decides_the_application(self):
        job_3 = self.env["hr.job"].create({"name": "Position 3"})
        job_4 = self.env["hr.job"].create({"name": "Position 4"})
        self.env["messenger.routing.rule"].create({
            "name": "Job seekers", "account_id": self.tg_account.id, "match_type": "keyword",
            "pattern": "job, jobs, career", "action": "applicant", "job_id": job_4.id,
            "apply_on": "every", "reply_text": "A recruiter will answer you here."})
        self.env["messenger.routing.rule"].create({
            "name": "Everything else is sales", "account_id": self.tg_account.id, "is_fallback": True,
            "action": "lead"})
        self.receive(self.tg_account, fakes.tg_update(81, text=f"/start JOB-{job_3.id}", chat_id=818181,
                                                      first_name="Jo"))
        applicants = self.env["hr.applicant"].search([("job_id", "in", (job_3 | job_4).ids)])
        self.assertEqual(applicants.job_id, job_3)
        self.assertFalse(self.conversation(self.tg_account, "818181").lead_id, "an application is no sales lead")
        # a later message that asks for a job in words goes through the rule
        self.receive(self.tg_account, fakes.tg_update(82, text="Do you have other jobs?", chat_id=818181,
                                                      first_name="Jo"))
        self.assertEqual(self.env["hr.applicant"].search([("job_id", "in", (job_3 | job_4).ids)]).job_id,
                         job_3 | job_4)

    def test_keywords_match_whole_words(self):
        rule = self.env["messenger.routing.rule"].create({
            "name": "Jobs", "account_id": self.tg_account.id, "match_type": "keyword",
            "pattern": "job, price list, 工作", "action": "reply", "reply_text": "ok"})

        def matches(text):
            return rule._matches(self.env["messenger.message"].new({"body": text}))

        self.assertTrue(matches("I need a Job!"))
        self.assertTrue(matches("send the price list, please"))
        self.assertFalse(matches("/start JOB-3"))
        self.assertFalse(matches("jobs"))
        self.assertFalse(matches("a blowjob"))
        self.assertFalse(matches("list price"))
        self.assertTrue(matches("我想找工作"), "Chinese is written without spaces between words")
