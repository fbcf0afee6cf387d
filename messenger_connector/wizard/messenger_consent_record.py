from odoo import _, fields, models
from odoo.exceptions import UserError

from ..models.messenger_consent import PURPOSES


class MessengerConsentRecord(models.TransientModel):
    """Record an opt-in or opt-out given outside the chat (web form, import, by hand with a reason)."""

    _name = "messenger.consent.record"
    _description = "Record Messenger Consent"

    conversation_id = fields.Many2one("messenger.conversation", required=True, ondelete="cascade")
    action = fields.Selection([("opt_in", "Opt-in"), ("opt_out", "Opt-out")], required=True, default="opt_in")
    purpose_service = fields.Boolean("Service", default=True)
    purpose_marketing = fields.Boolean("Marketing")
    purpose_recruiting = fields.Boolean("Recruiting")
    source = fields.Selection([("manual", "Manual"), ("web_form", "Web Form"), ("import", "Import")],
                              required=True, default="manual")
    evidence = fields.Text(help="The wording the person agreed to, or where the consent was given.")
    reason = fields.Char(help="Required for a consent recorded by hand: how and when the person gave it.")

    def _purposes(self):
        return [key for key, _label in PURPOSES if self[f"purpose_{key}"]]

    def action_record(self):
        self.ensure_one()
        purposes = self._purposes()
        if not purposes:
            raise UserError(_("Choose at least one purpose."))
        conversation = self.conversation_id
        method = conversation._opt_in if self.action == "opt_in" else conversation._opt_out
        method(purposes, self.source, evidence=self.evidence, reason=self.reason, confirm=False)
        return {"type": "ir.actions.act_window_close"}
