from odoo import fields, models


class MessengerTemplateSend(models.TransientModel):
    _name = "messenger.template.send"
    _description = "Send a Messenger Template"

    conversation_id = fields.Many2one("messenger.conversation", required=True, ondelete="cascade")
    template_name = fields.Char("Template", required=True, help="Name of the template approved by Meta.")
    language = fields.Char(required=True, default="en_US", help="Language code of the approved template, e.g. en_US.")
    params_text = fields.Text(
        "Parameters", help="One value per line, in the order of the template's {{1}}, {{2}}, ... placeholders.")

    def action_send(self):
        self.ensure_one()
        params = [line.strip() for line in (self.params_text or "").splitlines() if line.strip()]
        self.conversation_id.action_send_template(self.template_name, self.language, params)
        return {"type": "ir.actions.act_window_close"}
