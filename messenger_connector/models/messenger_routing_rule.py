import re

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

#: punctuation around a word that does not belong to it ("job!", "(price)", "«stop»")
WORD_PUNCTUATION = ".,;:!?¡¿'\"()[]{}<>«»“”‘’…。！？，、"
#: scripts written without spaces between words (Chinese, Japanese, Thai): their keywords match inside the text
UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def words_of(text):
    """The words of ``text``, casefolded, without the punctuation around them ("JOB-3" is one word)."""
    return [word for word in (w.strip(WORD_PUNCTUATION) for w in (text or "").casefold().split()) if word]


def keywords_match(pattern, text):
    """Whether one of the comma-separated keywords of ``pattern`` is in ``text``: as whole words (a keyword of
    several words: those words in a row), never a part of a word; inside the text in unspaced scripts."""
    text = text or ""
    words = words_of(text)
    for keyword in (pattern or "").split(","):
        if UNSPACED_SCRIPT.search(keyword):
            if keyword.strip().casefold() in text.casefold():
                return True
            continue
        wanted = words_of(keyword)
        if wanted and any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)):
            return True
    return False


class MessengerRoutingRule(models.Model):
    """A pre-selection rule of an account: when an inbound message matches, do one thing.

    Rules are tried in sequence at the start of a conversation (or on every message for rules that say so);
    the first match acts; when none matches, the account's fallback rule acts.
    """

    _name = "messenger.routing.rule"
    _description = "Messenger Routing Rule"
    _order = "account_id, is_fallback, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    is_fallback = fields.Boolean("Fallback", help="Acts when no other rule matched.")
    match_type = fields.Selection([
        ("keyword", "Keywords"), ("regex", "Regular Expression"), ("payload", "Button / Start Payload"),
    ], default="keyword", required=True)
    pattern = fields.Char(
        help="Keywords: comma-separated words, any of which as a whole word in the message (case-insensitive). "
             "Regular expression: searched in the message text (case-insensitive). "
             "Payload: comma-separated values, one of which equals the button or start payload.")
    apply_on = fields.Selection([
        ("start", "Conversation Start"), ("every", "Every Message"),
    ], default="start", required=True, help="Rules run once, on the first message of a conversation, "
                                            "unless they are set to run on every message.")
    action = fields.Selection([
        ("lead", "Link or Create a Lead"),
        ("applicant", "Create an Applicant"),
        ("assign_user", "Assign to a User"),
        ("assign_team", "Assign to a Team"),
        ("reply", "Send an Automatic Reply"),
    ], required=True, default="assign_user")
    team_id = fields.Many2one("crm.team", "Sales Team")
    job_id = fields.Many2one("hr.job", "Job Position")
    user_id = fields.Many2one("res.users", domain=[("share", "=", False)])
    reply_text = fields.Text(
        "Automatic Reply", help="Sent when the rule acts (required for 'Send an Automatic Reply').")

    @api.constrains("match_type", "pattern", "is_fallback", "action", "team_id", "job_id", "user_id", "reply_text")
    def _check_rule(self):
        for rule in self:
            if not rule.is_fallback and not (rule.pattern or "").strip():
                raise ValidationError(_("Rule '%s' needs a pattern (or be the fallback).", rule.name))
            if rule.match_type == "regex" and rule.pattern:
                try:
                    re.compile(rule.pattern)
                except re.error as error:
                    raise ValidationError(_("Rule '%(name)s': invalid regular expression: %(error)s",
                                            name=rule.name, error=error)) from None
            needed = {"applicant": "job_id", "assign_user": "user_id", "assign_team": "team_id",
                      "reply": "reply_text"}.get(rule.action)
            if needed and not rule[needed]:
                raise ValidationError(_("Rule '%(name)s' needs a %(field)s.", name=rule.name,
                                        field=rule._fields[needed].string))

    def _matches(self, message):
        self.ensure_one()
        text = message.body or ""
        if self.match_type == "keyword":
            return keywords_match(self.pattern, text)
        if self.match_type == "regex":
            return bool(re.search(self.pattern, text, re.IGNORECASE))
        if self.match_type == "payload":
            values = {v.strip() for v in (self.pattern or "").split(",") if v.strip()}
            return bool(message.payload) and message.payload.strip() in values
        return False

    def _route(self, conversation, message, job_decided=False):
        """Run the rules of ``self`` (an account's rules) for an inbound message; return the rule that acted.

        ``job_decided``: the message's job reference already decided: it is an application, so only the rules
        that answer applicants act (sending their reply; they create no other application).
        """
        rules = self.filtered("active")
        if job_decided:
            rules = rules.filtered(lambda r: r.action in ("applicant", "reply"))
        if conversation.routed:
            rules = rules.filtered(lambda r: r.apply_on == "every")
        else:
            conversation.routed = True
        rule = next((r for r in rules if not r.is_fallback and r._matches(message)), None) \
            or next((r for r in rules if r.is_fallback), None)
        if rule:
            rule._act(conversation, job_decided=job_decided)
        return rule

    def _act(self, conversation, job_decided=False):
        self.ensure_one()
        if self.action == "lead":
            if not conversation.lead_id:
                conversation._create_lead(self.team_id)
            elif self.team_id:
                conversation.team_id = self.team_id
        elif self.action == "applicant" and conversation.partner_id and not job_decided:
            conversation._apply_for_job(self.job_id)
        elif self.action == "assign_user":
            conversation.user_id = self.user_id
        elif self.action == "assign_team":
            conversation.write({"team_id": self.team_id.id,
                                "user_id": conversation._least_busy(self.team_id.member_ids).id or False})
        if self.reply_text:
            conversation._auto_reply(self.reply_text)
        conversation.message_post(body=_("Routing rule applied: %s", self.name),
                                  message_type="notification", subtype_xmlid="mail.mt_note")
