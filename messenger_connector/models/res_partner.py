from odoo import api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    messenger_conversation_ids = fields.One2many(
        "messenger.conversation", "partner_id", string="Messenger Conversations",
        groups="base.group_user")
    messenger_conversation_count = fields.Integer(
        "Chats", compute="_compute_messenger_conversation_count",
        groups="base.group_user")

    messenger_consent_ids = fields.One2many(
        "messenger.consent", "partner_id", groups="base.group_user")

    @api.depends_context("uid")
    def _compute_messenger_conversation_count(self):
        counts = dict(self.env["messenger.conversation"]._read_group(
            [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]))
        for partner in self:
            partner.messenger_conversation_count = counts.get(partner._origin, 0)

    def action_view_messenger_conversations(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_connector.action_messenger_conversation")
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_messenger_data_request(self):
        self.ensure_one()
        request = self.env["messenger.data.request"].create({"partner_id": self.id})
        return request._reopen()
