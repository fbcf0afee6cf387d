from odoo import fields, models


class MessengerTemplateParam(models.TransientModel):
    """The value of one placeholder of a template being sent (in the send-template and send-message dialogs)."""

    _name = "messenger.template.param"
    _description = "Messenger Template Parameter"
    _order = "sequence, id"

    send_id = fields.Many2one("messenger.template.send", ondelete="cascade")
    compose_id = fields.Many2one("messenger.compose", ondelete="cascade")
    sequence = fields.Integer()
    name = fields.Char("Placeholder", readonly=True)
    value = fields.Char()
