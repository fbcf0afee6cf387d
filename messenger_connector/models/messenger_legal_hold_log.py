from odoo import _, api, fields, models
from odoo.exceptions import UserError


class MessengerLegalHoldLog(models.Model):
    """Who placed, changed or lifted a legal hold, when and why (append-only, managers only)."""

    _name = "messenger.legal.hold.log"
    _description = "Messenger Legal Hold Change"
    _order = "create_date desc, id desc"
    _rec_name = "action"

    action = fields.Selection([("placed", "Placed"), ("changed", "Changed"), ("lifted", "Lifted")],
                              required=True, readonly=True)
    reason = fields.Char(readonly=True, help="The hold's reason, or why it was lifted.")
    user_id = fields.Many2one("res.users", "By", required=True, readonly=True)
    conversation_id = fields.Many2one("messenger.conversation", readonly=True, index=True, ondelete="set null")
    message_id = fields.Many2one("messenger.message", readonly=True, ondelete="set null")
    company_id = fields.Many2one("res.company", readonly=True, default=lambda self: self.env.company)

    def write(self, vals):  # pylint: disable=method-required-super  # append-only: never written after creation
        raise UserError(_("The legal hold log is append-only."))

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise UserError(_("The legal hold log is append-only."))
