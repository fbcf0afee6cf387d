from odoo import fields, models


class HrApplicant(models.Model):
    _inherit = "hr.applicant"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "applicant_id", string="Conversations")
    messenger_conversation_count = fields.Integer("Chats", compute="_compute_messenger_conversation_count")
    messenger_consent_ids = fields.One2many(related="partner_id.messenger_consent_ids", string="Messenger Consent")

    def _compute_messenger_conversation_count(self):
        Conversation = self.env["messenger.conversation"]
        for applicant in self:
            applicant.messenger_conversation_count = Conversation.search_count(applicant._messenger_domain())

    def _messenger_domain(self):
        self.ensure_one()
        return ["|", ("applicant_id", "=", self.id),
                "&", ("candidate_id", "=", self.candidate_id.id), ("candidate_id", "!=", False)]

    def _messenger_phone(self):
        return self.partner_phone or self.partner_id.mobile or self.partner_id.phone

    def action_view_messenger_conversations(self):
        self.ensure_one()
        action = self.env["messenger.conversation"]._action_for_records(self, "applicant_id")
        action["domain"] = self._messenger_domain()
        return action

    def action_messenger_send(self):
        return self.env["messenger.compose"]._action_open(self)


class HrCandidate(models.Model):
    _inherit = "hr.candidate"

    messenger_conversation_ids = fields.One2many("messenger.conversation", "candidate_id", string="Conversations")
    messenger_conversation_count = fields.Integer("Chats", compute="_compute_messenger_conversation_count")
    messenger_consent_ids = fields.One2many(related="partner_id.messenger_consent_ids", string="Messenger Consent")

    def _compute_messenger_conversation_count(self):
        counts = dict(self.env["messenger.conversation"]._read_group(
            [("candidate_id", "in", self.ids)], ["candidate_id"], ["__count"]))
        for candidate in self:
            candidate.messenger_conversation_count = counts.get(candidate._origin, 0)

    def _messenger_phone(self):
        return self.partner_phone or self.partner_id.mobile or self.partner_id.phone

    def action_view_messenger_conversations(self):
        return self.env["messenger.conversation"]._action_for_records(self, "candidate_id")

    def action_messenger_send(self):
        return self.env["messenger.compose"]._action_open(self)
