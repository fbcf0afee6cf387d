from odoo import fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "lead_id", string="Conversations")
    messenger_consent_ids = fields.One2many(related="partner_id.messenger_consent_ids", string="Messenger Consent")
    messenger_conversation_count = fields.Integer("Chats", compute="_compute_messenger_conversation_count")

    def _compute_messenger_conversation_count(self):
        counts = dict(self.env["messenger.conversation"]._read_group(
            [("lead_id", "in", self.ids)], ["lead_id"], ["__count"]))
        for lead in self:
            lead.messenger_conversation_count = counts.get(lead._origin, 0)

    def _messenger_phone(self):
        return self.mobile or self.phone or self.partner_id.mobile or self.partner_id.phone

    def action_view_messenger_conversations(self):
        return self.env["messenger.conversation"]._action_for_records(self, "lead_id")

    def action_messenger_send(self):
        return self.env["messenger.compose"]._action_open(self)
