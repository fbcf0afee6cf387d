from odoo import api, fields, models


class MessengerTemplateParam(models.TransientModel):
    """The value of one placeholder of a template being sent (in the send-template and send-message dialogs)."""

    _name = "messenger.template.param"
    _description = "Messenger Template Parameter"
    _order = "sequence, id"

    send_id = fields.Many2one("messenger.template.send", ondelete="cascade")
    compose_id = fields.Many2one("messenger.compose", ondelete="cascade")
    sequence = fields.Integer()
    name = fields.Char("Placeholder Name", readonly=True)
    label = fields.Char("Placeholder", compute="_compute_label")
    value = fields.Char()

    @api.depends("name")
    def _compute_label(self):
        for param in self:
            param.label = "{{%s}}" % param.name if param.name else False
