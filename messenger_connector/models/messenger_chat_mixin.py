from odoo import fields, models


class MessengerChatMixin(models.AbstractModel):
    """Chats on a business record with a ``partner_id`` (lead, applicant, candidate): count, list, "Send
    Message"."""

    _name = "messenger.chat.mixin"
    _description = "Messenger Chats on a Record"
    #: field of messenger.conversation that links it to a record of this model
    _messenger_link_field = None

    messenger_conversation_count = fields.Integer("Chats", compute="_compute_messenger_conversation_count")

    def _messenger_domain(self):
        self.ensure_one()
        return [(self._messenger_link_field, "=", self.id)]

    def _compute_messenger_conversation_count(self):
        Conversation = self.env["messenger.conversation"]
        for record in self:
            record.messenger_conversation_count = record.id and Conversation.search_count(record._messenger_domain())

    def _messenger_phone(self):
        return self.partner_id.mobile or self.partner_id.phone

    def action_view_messenger_conversations(self):
        self.ensure_one()
        action = self.env["messenger.conversation"]._action_for_records(self, self._messenger_link_field)
        action["domain"] = self._messenger_domain()
        return action

    def action_messenger_send(self):
        return self.env["messenger.compose"]._action_open(self)
