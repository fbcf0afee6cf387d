import datetime

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestLabels(MessengerCase):
    """Labels sort conversations: set by hand, by a routing rule and by a label's keywords."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Tag = cls.env["messenger.tag"]
        cls.tag_invoice = Tag.create({"name": "Invoice", "color": 3, "keywords": "invoice, bill"})
        cls.tag_vip = Tag.create({"name": "VIP", "color": 9})
        cls.tag_jobs = Tag.create({"name": "Jobs"})
        cls.env["messenger.routing.rule"].create({
            "name": "Job seekers", "account_id": cls.wa_account.id, "match_type": "keyword", "pattern": "career",
            "action": "assign_user", "user_id": cls.user_agent.id, "tag_ids": [(6, 0, cls.tag_jobs.ids)]})

    def first_message(self, wa_id, text):
        self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.{wa_id}.{len(text)}", name=f"P {wa_id}"))
        return self.conversation(self.wa_account, wa_id)

    def test_keyword_labels_a_conversation(self):
        conversation = self.first_message("3247200001", "Where is my INVOICE?")
        self.assertEqual(conversation.tag_ids, self.tag_invoice)
        self.assertFalse(self.first_message("3247200002", "Billing address changed").tag_ids,
                         "a keyword is a whole word, never a part of one")

    def test_keyword_of_a_later_message_adds_its_label(self):
        conversation = self.first_message("3247200003", "Hello")
        conversation.tag_ids = self.tag_vip
        self.receive(self.wa_account, self.wa_text("3247200003", "and the bill?", "wamid.later"))
        self.assertEqual(conversation.tag_ids, self.tag_vip | self.tag_invoice, "labels are added, never replaced")

    def test_routing_rule_gives_its_labels(self):
        conversation = self.first_message("3247200004", "A career with you?")
        self.assertEqual(conversation.user_id, self.user_agent)
        self.assertEqual(conversation.tag_ids, self.tag_jobs)

    def test_filter_and_group_by_label(self):
        invoice = self.first_message("3247200005", "invoice please")
        career = self.first_message("3247200006", "career please")
        plain = self.first_message("3247200007", "hello")
        Conversation = self.env["messenger.conversation"]
        ours = [("id", "in", (invoice | career | plain).ids)]
        self.assertEqual(Conversation.search(ours + [("tag_ids", "in", self.tag_invoice.ids)]), invoice)
        self.assertEqual(Conversation.search(ours + [("tag_ids", "=", "Jobs")]), career)
        self.assertEqual(Conversation.search(ours + [("tag_ids", "=", False)]), plain)
        groups = {tag and tag[0]: count for tag, count in
                  Conversation._read_group(ours, ["tag_ids"], ["__count"])}
        self.assertEqual(groups, {self.tag_invoice: 1, self.tag_jobs: 1, self.env["messenger.tag"]: 1})

    def test_agents_label_by_hand_managers_keep_the_list(self):
        conversation = self.first_message("3247200008", "hello")
        conversation.user_id = self.user_agent
        conversation.with_user(self.user_agent).tag_ids = self.tag_vip
        self.assertEqual(conversation.tag_ids, self.tag_vip)
        with self.assertRaises(AccessError):
            self.tag_vip.with_user(self.user_agent).unlink()
        self.tag_vip.with_user(self.user_manager).write({"keywords": "urgent"})


#: Friday 4 December 2026, 18:01 in Berlin (UTC+1)
FRIDAY_1801 = datetime.datetime(2026, 12, 4, 17, 1)


def chat_desk(env):
    """Working hours Monday to Friday, 8:00 to 18:00 in Berlin."""
    return env["resource.calendar"].create({
        "name": "Chat desk", "tz": "Europe/Berlin", "attendance_ids": [(5, 0, 0)] + [
            (0, 0, {"name": f"Day {day}", "dayofweek": str(day), "hour_from": 8, "hour_to": 18,
                    "day_period": "morning"}) for day in range(5)]})


@tagged("post_install", "-at_install")
class TestReplyTargets(MessengerCase):
    """Reply targets count in the account's working hours, with its leaves and public holidays."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.calendar = chat_desk(cls.env)
        cls.wa_account.write({"resource_calendar_id": cls.calendar.id, "reply_target_minutes": 15})

    def write_at(self, when, wa_id, text="Hello"):
        with freeze_time(when):
            self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.{wa_id}.{when:%H%M%S}"))
        return self.conversation(self.wa_account, wa_id)

    def test_due_time_skips_the_weekend(self):
        conversation = self.write_at(datetime.datetime(2026, 12, 4, 16, 50), "3247300001")  # Fri 17:50
        # 10 minutes on Friday, 5 on Monday from 08:00 Berlin
        self.assertEqual(conversation.reply_due_at, datetime.datetime(2026, 12, 7, 7, 5))

    def test_due_time_skips_a_public_holiday(self):
        self.env["resource.calendar.leaves"].create({
            "name": "Holiday", "calendar_id": self.calendar.id,
            "date_from": datetime.datetime(2026, 12, 6, 23, 0), "date_to": datetime.datetime(2026, 12, 7, 22, 59)})
        conversation = self.write_at(datetime.datetime(2026, 12, 4, 16, 50), "3247300002")
        self.assertEqual(conversation.reply_due_at, datetime.datetime(2026, 12, 8, 7, 5), "Monday is a holiday")

    def test_due_time_in_working_hours_and_answered(self):
        conversation = self.write_at(datetime.datetime(2026, 12, 8, 9, 0), "3247300003")  # Tue 10:00
        self.assertEqual(conversation.reply_due_at, datetime.datetime(2026, 12, 8, 9, 15))
        # a second message does not push the target
        self.write_at(datetime.datetime(2026, 12, 8, 9, 10), "3247300003", "Anyone?")
        self.assertEqual(conversation.reply_due_at, datetime.datetime(2026, 12, 8, 9, 15))
        conversation.state = "answered"
        self.assertFalse(conversation.reply_due_at, "nothing waits for an answer")

    def test_overdue_filter_and_one_activity(self):
        self.env["messenger.conversation"].search([]).write({"state": "closed"})
        conversation = self.write_at(datetime.datetime.now() - datetime.timedelta(days=3), "3247300004")
        self.wa_account.resource_calendar_id = False
        conversation.write({"user_id": self.user_agent.id, "state": "waiting"})
        fresh = self.write_at(datetime.datetime.now(), "3247300005")
        Conversation = self.env["messenger.conversation"]
        self.assertEqual(Conversation.search([("is_overdue", "=", True)]), conversation)
        self.assertIn(fresh, Conversation.search([("is_overdue", "=", False)]))
        Conversation._cron_notify_overdue()
        Conversation._cron_notify_overdue()
        activities = conversation.activity_ids
        self.assertEqual(len(activities), 1, "one activity per overdue reply, not one per run")
        self.assertEqual(activities.user_id, self.user_agent)
        self.assertFalse(fresh.activity_ids)


@tagged("post_install", "-at_install")
class TestAutoMessages(MessengerCase):
    """Greeting on a first contact, away message outside the working hours, each once per period."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.calendar = chat_desk(cls.env)
        cls.wa_account.write({"resource_calendar_id": cls.calendar.id, "greeting_message": "Welcome!",
                              "away_message": "We are closed. Back on {back}."})

    def write_at(self, when, wa_id, text="Hello"):
        with freeze_time(when):
            self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.{wa_id}.{when:%d%H%M%S}"))
        return self.conversation(self.wa_account, wa_id)

    def sent(self, conversation):
        return conversation.messenger_message_ids.filtered(lambda m: m.direction == "out").sorted("id").mapped("body")

    def test_away_on_friday_evening_says_monday(self):
        conversation = self.write_at(FRIDAY_1801, "3247400001")
        self.assertEqual(self.sent(conversation), ["We are closed. Back on Monday, 7 December, 08:00."])
        self.write_at(FRIDAY_1801 + datetime.timedelta(minutes=5), "3247400001", "Hello?")
        self.assertEqual(len(self.sent(conversation)), 1, "once per period")

    def test_greeting_once(self):
        tuesday = datetime.datetime(2026, 12, 8, 9, 0)
        conversation = self.write_at(tuesday, "3247400002")
        self.write_at(tuesday + datetime.timedelta(minutes=2), "3247400002", "Are you there?")
        self.assertEqual(self.sent(conversation), ["Welcome!"])

    def test_greeting_in_the_persons_language(self):
        self.env["res.lang"]._activate_lang("de_DE")
        self.wa_account.with_context(lang="de_DE").greeting_message = "Willkommen!"
        partner = self.env["res.partner"].create({"name": "Dora", "phone": "+32 474 00 00 03", "lang": "de_DE"})
        conversation = self.write_at(datetime.datetime(2026, 12, 8, 9, 0), "32474000003")
        self.assertEqual(conversation.partner_id, partner)
        self.assertEqual(self.sent(conversation), ["Willkommen!"])

    def test_nothing_to_an_opted_out_person(self):
        self.write_at(datetime.datetime(2026, 12, 1, 9, 0), "3247400004", "STOP")
        # outside the working hours (away message), then in them after the period (greeting): neither goes
        self.write_at(FRIDAY_1801, "3247400004", "hello")
        conversation = self.write_at(datetime.datetime(2026, 12, 8, 9, 0), "3247400004", "hello again")
        self.assertEqual(conversation._consent_state("service"), "opt_out")
        self.assertFalse([body for body in self.sent(conversation) if "closed" in body or body == "Welcome!"])

    def test_nothing_outside_the_reply_window(self):
        # a message delivered late, its 24-hour window already closed: no greeting, no away message
        with freeze_time(datetime.datetime(2026, 12, 8, 9, 0)):
            self.receive(self.wa_account, self.wa_text("3247400005", "old", "wamid.old",
                                                       timestamp=datetime.datetime(2026, 12, 6, 9, 0).replace(
                                                           tzinfo=datetime.timezone.utc).timestamp()))
        conversation = self.conversation(self.wa_account, "3247400005")
        self.assertTrue(conversation)
        self.assertFalse(self.sent(conversation))


@tagged("post_install", "-at_install")
class TestFollowUps(MessengerCase):
    """A promise made in a chat becomes an activity on its applicant, lead or contact."""

    def test_activity_on_the_applicant_with_the_message_as_note(self):
        job = self.env["hr.job"].create({"name": "Driver"})
        self.env["messenger.routing.rule"].create({
            "name": "Drivers", "account_id": self.wa_account.id, "match_type": "keyword", "pattern": "driver",
            "action": "applicant", "job_id": job.id})
        self.receive(self.wa_account, self.wa_text("3247500001", "Driver here, I will send my CV on Monday",
                                                   "wamid.cv"))
        conversation = self.conversation(self.wa_account, "3247500001")
        applicant = conversation.applicant_id
        self.assertTrue(applicant)
        post = conversation.messenger_message_ids.mail_message_id
        self.assertTrue(post)
        action = self.env["messenger.conversation"].action_schedule_followup(post.id)
        activity = Form(self.env["mail.activity"].with_context(**action["context"])).save()
        self.assertEqual((activity.res_model, activity.res_id), ("hr.applicant", applicant.id))
        self.assertIn("I will send my CV on Monday", activity.note)
        self.assertEqual(applicant.activity_ids, activity)

    def test_not_a_chat_message(self):
        partner = self.env["res.partner"].create({"name": "Nobody"})
        post = partner.message_post(body="hello")
        with self.assertRaises(UserError):
            self.env["messenger.conversation"].action_schedule_followup(post.id)
