from odoo import _, fields, models


class MessengerXChatUnlock(models.TransientModel):
    """Asks once for the X Chat PIN of an account whose keys X already keeps, unlocks and exports them.

    The PIN is never stored: it is not a column of this wizard, it goes straight from the form to X's key backup
    (the field's inverse) and is forgotten.
    """

    _name = "messenger.x.chat.unlock"
    _description = "Unlock X Chat Keys"

    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade", readonly=True)
    pin = fields.Char(
        "X Chat PIN", store=False, compute="_compute_pin", inverse="_inverse_pin",
        help="The PIN chosen for the account's X Chat (its secure key backup). Asked once, never kept.")
    done = fields.Boolean(readonly=True)

    def _compute_pin(self):
        for wizard in self:
            wizard.pin = False

    def _inverse_pin(self):
        for wizard in self:
            if wizard.pin:
                wizard.account_id._x_unlock(wizard.pin)
                wizard.done = True

    def action_unlock(self):
        self.ensure_one()
        if not self.done:
            return self.account_id._notify(_("Type the account's X Chat PIN first."), "warning")
        return {"type": "ir.actions.act_window_close",
                "infos": {"message": _("X Chat keys unlocked and kept encrypted.")}}
