import json
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.messenger_connector.models.discuss_channel import BY_ADDON

from .common import MessengerCase, fakes

#: mail.message fields that differ between any two posts (identity, time, generated ids)
VOLATILE = {"id", "date", "create_date", "write_date", "message_id", "display_name", "__last_update"}


@tagged("post_install", "-at_install")
class TestGroupProcessing(MessengerCase):
    """Events are applied in groups (look-ups once per group, chatter posts created together at its end); the
    result must be what applying them one by one gives, field for field."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create({"name": "Gina Group", "mobile": "+32 470 55 66 77"})

    def store(self, payload, account=None):
        """Store a delivery like the webhook does, without processing it."""
        account = account or self.wa_account
        body = json.dumps(payload).encode()
        self.env["messenger.event"]._store(account, account._get_provider().delivery_key(body), body.decode())

    def start(self, wa_id="32470556677", name="Gina Group"):
        """A conversation that exists before the group (its first message applied on its own)."""
        self.receive(self.wa_account, self.wa_text(wa_id, "Hello", f"wamid.START{wa_id}", name=name))
        return self.conversation(self.wa_account, wa_id)

    def test_group_state_is_given_to_the_group_only(self):
        """While a group is applied, its shared look-ups come with the context of its events, never through the
        cursor's cache; its posts are made after the group, without them."""
        Conversation = type(self.env["messenger.conversation"])
        Message = type(self.env["messenger.message"])
        receive, post = Conversation._receive, Message._post_to_channels
        seen = []

        def spy_receive(conversation, ev, event):
            seen.append(("receive", "messenger_batch" in conversation.env.context))
            return receive(conversation, ev, event)

        def spy_post(messages):
            seen.append(("post", bool(messages.env.context.get("messenger_batch"))))
            return post(messages)

        self.store(self.wa_text("32470556601", "state", "wamid.STATE1", name="Sam State"))
        with patch.object(Conversation, "_receive", spy_receive), patch.object(Message, "_post_to_channels", spy_post):
            self.process_in_groups()
        self.assertEqual(seen, [("receive", True), ("post", False)])
        self.assertNotIn("messenger_batch", self.env.cr.cache)

    def process_in_groups(self):
        """Process, failing the test if a group fell back to applying its events one at a time."""
        Event = type(self.env["messenger.event"])
        with patch.object(Event, "_apply_each", side_effect=AssertionError("a group was applied one by one")):
            self.process()

    def chatter(self, record):
        return self.env["mail.message"].search([("model", "=", record._name), ("res_id", "=", record.id),
                                                ("message_type", "=", "comment")], order="id")

    def values(self, mail_message):
        """The stored values of a post; for its own lines (notifications, mails): how many."""
        fields = mail_message._fields
        data = mail_message.read([name for name, field in fields.items() if field.store and name not in VOLATILE])[0]
        return {key: len(value) if fields[key].type == "one2many" else value
                for key, value in data.items() if key not in VOLATILE}

    def test_one_post_per_message_in_its_chat_and_notes_on_the_lead(self):
        lead = self.env["crm.lead"].create({"name": "Gina's chairs", "partner_id": self.customer.id})
        conversation = self.start()
        self.assertEqual(conversation.lead_id, lead)
        conversation.user_id = self.user_agent
        for i in range(3):
            self.store(self.wa_text("32470556677", f"Question {i}", f"wamid.G{i}", name="Gina Group"))
        self.process_in_groups()
        messages = self.messages(self.wa_account, direction="in").filtered(
            lambda m: m.external_id.startswith("wamid.G")).sorted("id")
        self.assertEqual(len(messages), 3)
        self.assertEqual(self.env["messenger.event"].search_count([("state", "!=", "done")]), 0)
        for message in messages:
            post = message.channel_message_id
            self.assertEqual((post.model, post.res_id), ("discuss.channel", conversation.channel_id.id))
            self.assertEqual(message.mail_message_id, post)
            self.assertEqual(post.author_id, conversation.partner_id)
            copies = message.chatter_message_ids - post
            self.assertEqual(len(copies), 1, "one note on the lead, none in the contact's chatter")
            self.assertEqual((copies.model, copies.res_id), ("crm.lead", lead.id))
            self.assertEqual(copies.subtype_id, self.env.ref("mail.mt_note"))
        # the conversation's chatter keeps what happens to it, not what is said in it
        self.assertFalse(self.chatter(conversation).filtered(lambda m: "Question" in (m.body or "")))
        self.assertEqual(self.chatter(lead).filtered(lambda m: "Question" in m.body).mapped("id"),
                         sorted(messages.chatter_message_ids.filtered(lambda m: m.model == "crm.lead").ids))
        self.assertEqual(conversation.last_message_preview, "Question 2")

    def bus_notices(self, posts):
        """The bus notices (target, type, payload without volatile values) that concern each of ``posts``."""
        self.env.cr.precommit.run()
        notices = self.env["bus.bus"].sudo().search([], order="id")

        def stable(value, post):
            if isinstance(value, dict):
                return {k: stable(v, post) for k, v in value.items() if k not in VOLATILE | {"temporary_id"}}
            if isinstance(value, list):
                return [stable(v, post) for v in value]
            return "POST" if value == post.id else value

        found = {}
        for notice in notices:
            message = json.loads(notice.message)
            for post in posts:
                if message["type"] == "discuss.channel/new_message" and \
                        message["payload"]["data"]["mail.message"][0]["id"] == post.id:
                    found.setdefault(post, []).append((notice.channel, stable(message["payload"], post)))
        return [found.get(post, []) for post in posts]

    def test_group_chat_posts_are_what_message_post_gives(self):
        """The posts in the Discuss chat of a group are made together; each must be what discuss.channel's
        message_post makes: the same stored values, the same notice on the members' bus, the same counters."""
        self.maxDiff = None
        conversation = self.start()
        channel = conversation.channel_id
        agent = channel.channel_member_ids.filtered(lambda m: m.partner_id == self.user_agent.partner_id)
        unread = agent.message_unread_counter
        self.env["bus.bus"].sudo().search([]).unlink()
        for i in range(3):
            self.store(self.wa_text("32470556677", f"Chat {i}", f"wamid.C{i}", name="Gina Group"))
        self.process_in_groups()
        messages = self.messages(self.wa_account, direction="in").filtered(
            lambda m: m.external_id.startswith("wamid.C")).sorted("id")
        grouped = messages.channel_message_id
        self.assertEqual(len(grouped), 3)
        grouped_notices = self.bus_notices(grouped)
        agent.invalidate_recordset()
        self.assertEqual(agent.message_unread_counter, unread + 3)
        self.env["bus.bus"].sudo().search([]).unlink()
        # the same messages posted again, one by one through the chat's message_post
        for message in messages:
            conversation.channel_id.with_context(messenger_channel_copy=BY_ADDON).message_post(
                body=message._chatter_body(), author_id=message._chatter_author(), message_type="comment",
                subtype_xmlid="mail.mt_comment")
        again = self.env["mail.message"].search([("model", "=", "discuss.channel"),
                                                 ("res_id", "=", channel.id)], order="id desc", limit=3).sorted("id")
        self.assertFalse(again & grouped)
        for post, post_again, notices, notices_again in zip(grouped, again, grouped_notices,
                                                            self.bus_notices(again)):
            self.assertEqual(self.values(post), self.values(post_again))
            self.assertEqual(len(notices), 1, "one new-message notice on the chat's bus per post")
            self.assertEqual(notices, notices_again)
        self.assertEqual(grouped.mapped("body"), [m._chatter_body() for m in messages], "chat order is arrival order")

    def test_group_chat_posts_push_to_members_with_a_browser(self):
        """Web push is left out of a group's chat posts only where no member has a browser to push to: once the
        agent has one, each post goes to Odoo's web push (here without keys, so it says so and sends nothing)."""
        self.start()
        self.env["ir.config_parameter"].sudo().search([("key", "like", "mail.web_push_vapid_%")]).unlink()
        self.store(self.wa_text("32470556677", "No browser", "wamid.P0", name="Gina Group"))
        with self.assertNoLogs("odoo.addons.mail.models.mail_thread", "WARNING"):
            self.process_in_groups()
        self.env["mail.push.device"].sudo().create({
            "partner_id": self.user_agent.partner_id.id, "endpoint": "https://push.example.com/agent",
            "keys": json.dumps({"p256dh": "key", "auth": "secret"})})
        for i in (1, 2):
            self.store(self.wa_text("32470556677", f"Browser {i}", f"wamid.P{i}", name="Gina Group"))
        with self.assertLogs("odoo.addons.mail.models.mail_thread", "WARNING") as logs:
            self.process_in_groups()
        self.assertEqual([line for line in logs.output if "vapid" in line and "web push" in line.lower()],
                         ["WARNING:odoo.addons.mail.models.mail_thread:Missing web push vapid keys !"] * 2)

    def test_group_links_the_prefetched_lead_and_candidate(self):
        conversation = self.start()
        self.assertFalse(conversation.lead_id)
        company = self.env["res.partner"].create({"name": "Group Corp", "is_company": True})
        self.customer.parent_id = company
        lead = self.env["crm.lead"].create({"name": "Chairs", "partner_id": company.id, "type": "opportunity"})
        candidate = self.env["hr.candidate"].create({"partner_id": self.customer.id, "partner_name": "Gina"})
        self.store(self.wa_text("32470556677", "About the chairs", "wamid.GL1", name="Gina Group"))
        self.store(self.wa_text("32470556677", "And the desks", "wamid.GL2", name="Gina Group"))
        self.process_in_groups()
        self.assertEqual(conversation.lead_id, lead, "the open lead of the contact's company")
        self.assertEqual(conversation.candidate_id, candidate)
        self.assertEqual(len(self.chatter(lead)), 2, "both messages copied to the lead's chatter")

    def test_redelivered_message_in_the_same_group_is_stored_once(self):
        conversation = self.start()
        payload = self.wa_text("32470556677", "Twice", "wamid.GD1", name="Gina Group")
        self.store(payload)
        # the same message again, in another envelope (another delivery key): one message
        self.store(fakes.wa_batch(payload, self.wa_text("32470556677", "Once", "wamid.GD2", name="Gina Group")))
        self.process_in_groups()
        self.assertEqual(len(self.messages(self.wa_account, external_id="wamid.GD1")), 1)
        self.assertEqual(len(self.messages(self.wa_account, external_id="wamid.GD2")), 1)
        bodies = self.chatter(conversation.channel_id).mapped("body")
        self.assertEqual(sum("Twice" in body for body in bodies), 1)
        self.assertLess(bodies.index(next(b for b in bodies if "Twice" in b)),
                        bodies.index(next(b for b in bodies if "Once" in b)))

    def test_failing_event_makes_the_group_apply_one_by_one(self):
        conversation = self.start()
        self.store(self.wa_text("32470556677", "first", "wamid.GF1", name="Gina Group"))
        bad = fakes.wa_payload(messages=[{
            "from": "32470556677", "id": "wamid.GFBAD", "timestamp": "1732000000", "type": "location",
            "location": {"latitude": {"deg": 50}, "longitude": 4.3}}],
            contacts=[{"profile": {"name": "Gina Group"}, "wa_id": "32470556677"}])
        self.store(bad)
        self.store(self.wa_text("32470556677", "third", "wamid.GF3", name="Gina Group"))
        Event = type(self.env["messenger.event"])
        with self.assertLogs("odoo.addons.messenger_connector.models.messenger_event", "WARNING"), \
                patch.object(Event, "_apply_each", autospec=True, side_effect=Event._apply_each) as one_by_one:
            self.process()
        self.assertEqual(one_by_one.call_count, 1, "the group failed and was applied one event at a time")
        events = self.env["messenger.event"].search([("body", "like", "wamid.GF")])
        self.assertEqual(sorted(events.mapped("state")), ["done", "done", "failed"])
        self.assertIn("wamid.GFBAD", events.filtered(lambda e: e.state == "failed").body)
        for wamid in ("wamid.GF1", "wamid.GF3"):
            message = self.messages(self.wa_account, external_id=wamid)
            self.assertEqual(len(message), 1)
            self.assertEqual(len(message.mail_message_id), 1)
        self.assertFalse(self.messages(self.wa_account, external_id="wamid.GFBAD"))
        bodies = self.chatter(conversation.channel_id).mapped("body")
        self.assertEqual(sum("first" in body for body in bodies), 1, "nothing of the rolled back group is left")

    def test_media_message_keeps_its_place_among_grouped_texts(self):
        self.start()
        self.fake_wa.add_media("media-g1", b"%PDF-1.4 group", "application/pdf")
        self.store(self.wa_text("32470556677", "before", "wamid.GM1", name="Gina Group"))
        self.store(fakes.wa_payload(messages=[{
            "from": "32470556677", "id": "wamid.GM2", "timestamp": "1732000000", "type": "document",
            "document": {"id": "media-g1", "mime_type": "application/pdf", "filename": "plan.pdf"}}],
            contacts=[{"profile": {"name": "Gina Group"}, "wa_id": "32470556677"}]))
        self.store(self.wa_text("32470556677", "after", "wamid.GM3", name="Gina Group"))
        self.process_in_groups()
        posts = [self.messages(self.wa_account, external_id=w).mail_message_id for w in ("wamid.GM1", "wamid.GM2",
                                                                                        "wamid.GM3")]
        self.assertTrue(all(posts))
        self.assertEqual([p.id for p in posts], sorted(p.id for p in posts), "chatter order is arrival order")
        self.assertTrue(posts[1].attachment_ids, "the document is attached to its post")
