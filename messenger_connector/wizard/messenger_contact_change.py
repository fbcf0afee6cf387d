from odoo import fields, models


class MessengerContactChange(models.TransientModel):
    """Moves a conversation to another contact, with the reason logged (see
    messenger.conversation.action_change_partner)."""

    _name = "messenger.contact.change"
    _description = "Messenger: Change a Conversation's Contact"

    conversation_id = fields.Many2one("messenger.conversation", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", "New Contact", required=True)
    reason = fields.Char(required=True, help="Why the chat belongs to this contact (e.g. the number is hers, she "
                                            "confirmed her name).")

    def action_confirm(self):
        self.ensure_one()
        self.conversation_id.action_change_partner(self.partner_id.id, self.reason)
        return {"type": "ir.actions.act_window_close"}
