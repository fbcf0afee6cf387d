from odoo import fields, models


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "messenger.chat.mixin"]
    _messenger_link_field = "lead_id"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "lead_id", string="Conversations")

    def _messenger_phone(self):
        return self.mobile or self.phone or super()._messenger_phone()

    def _check_can_update_message_content(self, messages):
        result = super()._check_can_update_message_content(messages)
        self.env["messenger.message"]._check_chatter_copies_unchanged(messages)
        return result
