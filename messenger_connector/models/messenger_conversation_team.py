import datetime

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext


#: message kinds whose text a person typed or chose (keywords and automatic messages answer those)
TEXT_KINDS = ("text", "button", "callback")


class MessengerConversation(models.Model):
    """Team work on a conversation: labels, the reply target, greeting and away messages, follow-ups."""

    _name = "messenger.conversation"
    _inherit = ["messenger.conversation", "mail.activity.mixin"]

    tag_ids = fields.Many2many("messenger.tag", string="Labels")
    waiting_since = fields.Datetime(
        readonly=True, copy=False, help="The person's first message that is not answered yet.")
    reply_due_at = fields.Datetime(
        "Reply Due", compute="_compute_reply_due_at", store=True, index="btree_not_null",
        help="When the current reply is due, counted in the account's working hours. Empty when nothing waits "
             "for an answer.")
    is_overdue = fields.Boolean("Overdue", compute="_compute_is_overdue", search="_search_is_overdue")
    window_closes_first = fields.Boolean(
        compute="_compute_is_overdue", help="The platform's reply window closes before the reply is due.")
    overdue_notified = fields.Boolean(
        readonly=True, copy=False, help="The agent (else the team leader) was given an activity for this reply.")
    greeted_at = fields.Datetime(readonly=True, copy=False)
    away_sent_at = fields.Datetime(readonly=True, copy=False)

    @api.depends("waiting_since", "account_id.resource_calendar_id", "account_id.reply_target_minutes")
    def _compute_reply_due_at(self):
        for conversation in self:
            conversation.reply_due_at = conversation.waiting_since \
                and conversation.account_id._reply_due(conversation.waiting_since)

    @api.depends("reply_due_at", "window_expires_at")
    def _compute_is_overdue(self):
        now = fields.Datetime.now()
        for conversation in self:
            due = conversation.reply_due_at
            conversation.is_overdue = bool(due) and due < now
            conversation.window_closes_first = bool(due and conversation.window_expires_at) \
                and conversation.window_expires_at < due

    def _search_is_overdue(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(_("Search on overdue conversations with = or != and True or False."))
        overdue = [("reply_due_at", "<", fields.Datetime.now())]
        return overdue if (operator == "=") == value else ["!", *overdue]

    def write(self, vals):
        result = super().write(vals)
        if "state" in vals:
            # the reply target runs from the person's first unanswered message until an answer (or closing)
            if vals["state"] == "waiting" and vals.get("last_inbound_at"):
                self.filtered(lambda c: not c.waiting_since).write({"waiting_since": vals["last_inbound_at"]})
            elif vals["state"] != "waiting":
                self.filtered(lambda c: c.waiting_since or c.overdue_notified).write(
                    {"waiting_since": False, "overdue_notified": False})
        return result

    # ------------------------------------------------------------------
    # Inbound: labels by keyword, greeting and away messages
    # ------------------------------------------------------------------

    def _on_inbound(self, message):
        previous = self.env["messenger.message"].search([
            ("conversation_id", "=", self.id), ("direction", "=", "in"), ("id", "!=", message.id)],
            order="received_at desc, id desc", limit=1)
        result = super()._on_inbound(message)
        if message.content_type in TEXT_KINDS and message.body:
            # sudo: the processor labels the chat whatever the reader's rights on the labels
            tags = self.env["messenger.tag"].sudo().search([("keywords", "!=", False)])._matching(message.body)
            if tags - self.tag_ids:
                self.tag_ids = [fields.Command.link(tag.id) for tag in tags]
        self._send_auto_messages(message, previous)
        return result

    def _send_auto_messages(self, message, previous):
        """The account's away message when the person writes outside the working hours, else its greeting on a
        first contact; each at most once per conversation and period, through the automatic replies' checks
        (reply window, block, consent)."""
        account = self.account_id
        if self.env["messenger.consent.keyword"]._match(message.body or ""):
            return  # STOP / START are answered by their confirmation only
        now = fields.Datetime.now()
        period = datetime.timedelta(hours=max(account.auto_message_period_hours, 0))
        account = account.with_context(lang=self._person_lang())
        opening = account._next_opening(now)
        if account.away_message and opening != now and not (self.away_sent_at and now - self.away_sent_at < period):
            if self._auto_reply(self._away_text(account, opening)):
                self.away_sent_at = now
            return
        first_contact = not previous or (previous.received_at and now - previous.received_at >= period)
        if account.greeting_message and first_contact and not (self.greeted_at and now - self.greeted_at < period):
            if self._auto_reply(account.greeting_message):
                self.greeted_at = now

    def _away_text(self, account, opening):
        text = account.away_message
        if not opening:
            return text.replace("{back}", "").strip()
        back = account._format_opening(opening)
        if "{back}" in text:
            return text.replace("{back}", back)
        return "%s\n%s" % (text, _("We are back on %(when)s.", when=back))

    def _person_lang(self):
        """The person's language among the installed ones: the contact's, else the one the platform reported."""
        if self.partner_id.lang:
            return self.partner_id.lang
        code = (self.profile_language or "").replace("-", "_")
        if code:
            langs = [lang for lang, _name in self.env["res.lang"].get_installed()]
            for candidate in (code, code.split("_")[0]):
                match = next((lang for lang in langs if lang == candidate or lang.split("_")[0] == candidate), None)
                if match:
                    return match
        return self.env.context.get("lang")

    # ------------------------------------------------------------------
    # Overdue replies: one activity per reply
    # ------------------------------------------------------------------

    @api.model
    def _cron_notify_overdue(self):
        """Give each overdue reply's agent (else the team leader, else the account's first user) one to-do."""
        overdue = self.search([("state", "=", "waiting"), ("is_overdue", "=", True),
                               ("overdue_notified", "=", False)], limit=500)
        for conversation in overdue:
            user = conversation.user_id or conversation.team_id.user_id or conversation.account_id.user_ids[:1]
            if user:
                conversation.activity_schedule(
                    "mail.mail_activity_data_todo", user_id=user.id,
                    summary=_("Reply overdue: %(name)s", name=conversation.name),
                    note=_("The reply was due at %(due)s.", due=conversation._format_time(conversation.reply_due_at)))
            conversation.overdue_notified = True
        return overdue

    # ------------------------------------------------------------------
    # Follow-ups: a promise made in a chat becomes an activity
    # ------------------------------------------------------------------

    @api.model
    def action_schedule_followup(self, mail_message_id):
        """Open Schedule Activity on the record behind a chat message (its applicant, else its lead, else its
        contact), with the message as note, so that a colleague sees what was promised."""
        post = self.env["mail.message"].browse(mail_message_id).exists()
        if not post:
            raise UserError(_("This message no longer exists."))
        post.check_access("read")
        if post.model == "messenger.conversation":
            conversation = self.browse(post.res_id)
        elif post.model == "discuss.channel":
            conversation = self.env["discuss.channel"].browse(post.res_id).messenger_conversation_id
        else:
            conversation = self.browse()
        if not conversation:
            raise UserError(_("This message is not part of a messenger chat."))
        conversation.check_access("read")
        target = conversation.applicant_id or conversation.lead_id or conversation.partner_id
        if not target:
            raise UserError(_("The chat has no applicant, lead or contact to schedule an activity on."))
        target.check_access("write")
        text = html2plaintext(post.body or "").strip()
        note = Markup("<p>%s</p><p><em>%s</em></p>") % (
            _("From the chat with %(name)s:", name=conversation.name), text)
        return {
            "type": "ir.actions.act_window",
            "name": _("Schedule Activity"),
            "res_model": "mail.activity",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_res_model": target._name,
                "default_res_id": target.id,
                "default_note": note,
                "default_summary": text[:80],
            },
        }


class MessengerRoutingRule(models.Model):
    _inherit = "messenger.routing.rule"

    tag_ids = fields.Many2many("messenger.tag", string="Labels", help="Given to the conversation when the rule acts.")

    def _act(self, conversation, job_decided=False):
        result = super()._act(conversation, job_decided=job_decided)
        if self.tag_ids:
            conversation.tag_ids = [fields.Command.link(tag.id) for tag in self.tag_ids]
        return result
