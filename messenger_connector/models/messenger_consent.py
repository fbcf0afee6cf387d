import unicodedata

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError

PURPOSES = [("service", "Service"), ("marketing", "Marketing"), ("recruiting", "Recruiting")]
SOURCES = [
    ("inbound", "Inbound Message"), ("keyword", "Keyword"), ("web_form", "Web Form"), ("import", "Import"),
    ("manual", "Manual"), ("platform", "Platform Event"),
]


def normalize_keyword(text):
    """Casefolded, NFKC-normalized text without surrounding blanks and punctuation ("Stop!" -> "stop")."""
    text = unicodedata.normalize("NFKC", text or "").strip().casefold()
    return text.strip(" \t\r\n.!?,;:'\"。！？，、")


class MessengerConsent(models.Model):
    """One entry of the consent log: append-only; the current state is the latest entry."""

    _name = "messenger.consent"
    _description = "Messenger Consent Entry"
    _order = "recorded_at desc, id desc"
    _rec_name = "identity"

    # the platforms of messenger.account, whichever are installed
    provider = fields.Selection(selection="_selection_provider", string="Platform", required=True, readonly=True)
    identity = fields.Char(
        required=True, readonly=True, index=True,
        help="The person's identity on the platform: number (wa_id), chat id, PSID, IGSID, X user id or OpenID.")
    partner_id = fields.Many2one("res.partner", "Contact", readonly=True, index="btree_not_null", ondelete="set null")
    conversation_id = fields.Many2one(
        "messenger.conversation", readonly=True, index="btree_not_null", ondelete="set null")
    company_id = fields.Many2one("res.company", required=True, readonly=True, default=lambda self: self.env.company)
    purpose = fields.Selection(PURPOSES, required=True, readonly=True)
    action = fields.Selection([("opt_in", "Opt-in"), ("opt_out", "Opt-out")], required=True, readonly=True)
    source = fields.Selection(SOURCES, required=True, readonly=True)
    evidence = fields.Text(readonly=True, help="The message received, or the wording the person agreed to.")
    reason = fields.Char(readonly=True, help="Why a person recorded this entry by hand.")
    message_id = fields.Many2one("messenger.message", readonly=True, ondelete="set null")
    user_id = fields.Many2one("res.users", "Recorded By", readonly=True, default=lambda self: self.env.user)
    recorded_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now, index=True)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("source") == "manual" and not (vals.get("reason") or "").strip():
                raise UserError(_("A consent recorded by hand needs a reason."))
            # recorded by a person from a form or an import: what the person agreed to, or why, is kept with it
            if vals.get("source") in ("web_form", "import") and not any(
                    (vals.get(key) or "").strip() for key in ("evidence", "reason")):
                raise UserError(_("A consent from a web form or an import needs its evidence (the wording the "
                                  "person agreed to, or where they gave it) or a reason."))
        return super().create(vals_list)

    def write(self, vals):
        # Append-only: only the erasure of a person's data may blank the evidence (see _erase_evidence).
        if not self.env.context.get("messenger_consent_erase") or set(vals) - {"evidence", "reason", "message_id",
                                                                              "conversation_id", "partner_id"}:
            raise UserError(_("The consent log is append-only: record a new entry instead."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_append_only(self):
        raise UserError(_("The consent log is append-only: entries cannot be deleted."))

    def _erase_evidence(self):
        """Data-subject erasure: keep the fact (so that an opt-out still holds), drop what was said."""
        return self.sudo().with_context(messenger_consent_erase=True).write({
            "evidence": False, "reason": False, "message_id": False, "conversation_id": False})

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------

    @api.model
    def _selection_provider(self):
        return self.env["messenger.account"]._fields["provider"]._description_selection(self.env)

    @api.model
    def _latest(self, provider, identity, purpose, company=None):
        """The entry that decides the current state (None when the person never said anything)."""
        return self.sudo().search([
            ("provider", "=", provider), ("identity", "=", identity), ("purpose", "=", purpose),
            ("company_id", "=", (company or self.env.company).id),
        ], order="recorded_at desc, id desc", limit=1)

    @api.model
    def _state(self, provider, identity, purpose, company=None):
        """'opt_in', 'opt_out' or False."""
        return self._latest(provider, identity, purpose, company).action or False

    @api.model
    def _record(self, conversation, purposes, action, source, evidence=None, message=None, reason=None,
                recorded_at=None):
        """Append one entry per purpose for the person of ``conversation``."""
        conversation.ensure_one()
        self.env["messenger.conversation"].invalidate_model(
            ["consent_ids", "consent_service", "consent_marketing", "consent_recruiting", "opted_out"])
        return self.sudo().create([{
            "provider": conversation.provider,
            "identity": conversation.external_user_id,
            "partner_id": conversation.partner_id.id,
            "conversation_id": conversation.id,
            "company_id": conversation.company_id.id,
            "purpose": purpose,
            "action": action,
            "source": source,
            "evidence": evidence,
            "message_id": message.id if message else False,
            "reason": reason,
            "user_id": self.env.user.id,
            "recorded_at": recorded_at or fields.Datetime.now(),
        } for purpose in purposes])


class MessengerConsentKeyword(models.Model):
    """A word that, sent alone, opts a person out (or back in)."""

    _name = "messenger.consent.keyword"
    _inherit = ["messenger.cached.mixin"]  # _keyword_actions
    _description = "Messenger Opt-out / Opt-in Keyword"
    _order = "action, lang, keyword"

    keyword = fields.Char(required=True, help="Matched against the whole message, case-insensitive.")
    action = fields.Selection([("opt_out", "Opt-out"), ("opt_in", "Opt-in")], required=True, default="opt_out")
    lang = fields.Char("Language", help="Language this word belongs to (information only; every keyword is "
                                        "recognized whatever the person's language).")
    active = fields.Boolean(default=True)

    _sql_constraints = [("keyword_unique", "UNIQUE(keyword, action)", "This keyword exists already.")]

    def _cached_state(self):
        # what _keyword_actions caches
        return [(keyword.id, keyword.active, keyword.keyword, keyword.action) for keyword in self.sudo()]

    @api.model
    def _match(self, text):
        """'opt_out', 'opt_in' or None for an inbound text."""
        word = normalize_keyword(text)
        if not word or len(word) > 40:
            return None
        return self._keyword_actions().get(word)

    @api.model
    @tools.ormcache()
    def _keyword_actions(self):
        """{normalized keyword: action} of the active keywords (cached: looked up for every inbound message)."""
        return {normalize_keyword(k.keyword): k.action for k in self.sudo().search([])}
