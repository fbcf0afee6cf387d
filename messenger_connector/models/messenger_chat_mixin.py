from odoo import api, fields, models


class MessengerChatMixin(models.AbstractModel):
    """Chats on a business record with a ``partner_id`` (lead, applicant, candidate): count, list, "Send
    Message"."""

    _name = "messenger.chat.mixin"
    _description = "Messenger Chats on a Record"
    #: field of messenger.conversation that links it to a record of this model
    _messenger_link_field = None

    messenger_conversation_count = fields.Integer("Chats", compute="_compute_messenger_conversation_count")
    messenger_consent_ids = fields.Many2many(
        "messenger.consent", compute="_compute_messenger_consent_ids",
        help="The contact's consent entries that the current user may read.")

    def _messenger_domain(self):
        self.ensure_one()
        return [(self._messenger_link_field, "=", self.id)]

    @api.depends_context("uid")
    def _compute_messenger_conversation_count(self):
        Conversation = self.env["messenger.conversation"]
        for record in self:
            record.messenger_conversation_count = record.id and Conversation.search_count(record._messenger_domain())

    @api.depends("partner_id")
    @api.depends_context("uid")
    def _compute_messenger_consent_ids(self):
        # searched as the current user: the entries of chats the user may not read stay out (the contact's whole
        # list would make the form fail for a user who may open this record but not every chat of its contact)
        Consent = self.env["messenger.consent"]
        partners = self.partner_id
        entries = Consent.search([("partner_id", "in", partners.ids)]) \
            if partners and Consent.has_access("read") else Consent
        for record in self:
            record.messenger_consent_ids = entries.filtered(lambda e: e.partner_id == record.partner_id)  # noqa: B023 - runs at once

    def _messenger_phone(self):
        return self.partner_id.mobile or self.partner_id.phone

    def action_view_messenger_conversations(self):
        self.ensure_one()
        action = self.env["messenger.conversation"]._action_for_records(self, self._messenger_link_field)
        action["domain"] = self._messenger_domain()
        return action

    def action_messenger_send(self):
        return self.env["messenger.compose"]._action_open(self)
