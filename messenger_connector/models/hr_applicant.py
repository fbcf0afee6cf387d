from odoo import fields, models


class HrApplicant(models.Model):
    _name = "hr.applicant"
    _inherit = ["hr.applicant", "messenger.chat.mixin"]
    _messenger_link_field = "applicant_id"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "applicant_id", string="Conversations")

    def _messenger_domain(self):
        """The applicant's chats, and those of its candidate not yet tied to another application."""
        self.ensure_one()
        return ["|", ("applicant_id", "=", self.id),
                "&", ("candidate_id", "=", self.candidate_id.id), ("candidate_id", "!=", False)]

    def _messenger_phone(self):
        return self.partner_phone or super()._messenger_phone()

    def _check_can_update_message_content(self, messages):
        result = super()._check_can_update_message_content(messages)
        self.env["messenger.message"]._check_chatter_copies_unchanged(messages)
        return result


class HrCandidate(models.Model):
    _name = "hr.candidate"
    _inherit = ["hr.candidate", "messenger.chat.mixin"]
    _messenger_link_field = "candidate_id"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "candidate_id", string="Conversations")

    def _messenger_phone(self):
        return self.partner_phone or super()._messenger_phone()

    def _check_can_update_message_content(self, messages):
        result = super()._check_can_update_message_content(messages)
        self.env["messenger.message"]._check_chatter_copies_unchanged(messages)
        return result
