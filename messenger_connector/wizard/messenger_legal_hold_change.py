from odoo import _, api, fields, models


class MessengerLegalHoldChange(models.TransientModel):
    """Asks a manager why a legal hold is placed or lifted."""

    _name = "messenger.legal.hold.change"
    _description = "Messenger Legal Hold: Place or Lift"

    mode = fields.Selection([("place", "Place"), ("lift", "Lift")], required=True, default="place")
    conversation_ids = fields.Many2many("messenger.conversation", string="Conversations")
    message_ids = fields.Many2many("messenger.message", string="Messages")
    reason = fields.Char(required=True, help="Placing: what must be kept on record, and why. Lifting: why the "
                                            "hold is no longer needed.")

    @api.model
    def _open(self, records, mode):
        field = "message_ids" if records._name == "messenger.message" else "conversation_ids"
        return {
            "type": "ir.actions.act_window", "res_model": self._name, "view_mode": "form", "target": "new",
            "name": _("Place Legal Hold") if mode == "place" else _("Lift Legal Hold"),
            "context": {"default_mode": mode, f"default_{field}": records.ids},
        }

    def action_confirm(self):
        self.ensure_one()
        for records in (self.conversation_ids, self.message_ids):
            if not records:
                continue
            if self.mode == "place":
                records.action_set_legal_hold(self.reason)
            else:
                records.action_lift_legal_hold(self.reason)
        return {"type": "ir.actions.act_window_close"}
