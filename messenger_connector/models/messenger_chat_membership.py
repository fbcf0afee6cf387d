"""Chat membership follows access: when a linked record's access changes (its salesperson, position, team,
interviewers, company) the conversations' chats follow in the same transaction (hr.job: see hr_job.py)."""
from odoo import fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "team_id", "company_id", "active"} & set(vals):
            self.env["messenger.conversation"]._sync_channels_of(self.sudo().messenger_conversation_ids)
        return result


class HrApplicant(models.Model):
    _inherit = "hr.applicant"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "job_id", "interviewer_ids", "company_id", "active", "candidate_id"} & set(vals):
            self.env["messenger.conversation"]._sync_channels_of(self.sudo().messenger_conversation_ids)
        return result


class HrCandidate(models.Model):
    _inherit = "hr.candidate"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "company_id", "active"} & set(vals):
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([("candidate_id", "in", self.ids)]))
        return result


class ResUsers(models.Model):
    _inherit = "res.users"

    #: what decides a user's access to conversations besides the linked records: groups, companies, archiving
    ACCESS_VALUES = ("groups_id", "company_ids", "company_id", "active")

    def write(self, vals):
        result = super().write(vals)
        if any(key in self.ACCESS_VALUES or key.startswith(("in_group_", "sel_groups_")) for key in vals):
            # a user who lost access leaves the chats at once; one who gained it joins with the chat's next change
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([
                ("channel_id.channel_member_ids.partner_id", "in", self.partner_id.ids)]))
        return result


# pylint: disable=consider-merging-classes-inherited
# kept apart from the account's own file, which is reworked into provider plug-ins
class MessengerAccount(models.Model):
    _inherit = "messenger.account"

    assign_mode = fields.Selection(
        [("manual", "Manual"), ("round_robin", "Round Robin"), ("least_active", "Least Active")],
        "Automatic Assignment", default="manual", required=True,
        help="Who gets a new chat that no routing rule assigned: the next online member of the team in turn, or "
             "the online member with the fewest open chats. Manual: the team sees it and one takes it.")
    assign_max_open = fields.Integer(
        "Max Open Chats per Agent", default=0,
        help="An agent with this many open (not closed) chats gets no new one automatically. 0: no limit.")
    assign_last_user_id = fields.Many2one("res.users", "Last Assigned", readonly=True, copy=False)

    def write(self, vals):
        result = super().write(vals)
        if {"user_ids", "audience_group_id", "company_id"} & set(vals):
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([("account_id", "in", self.ids)]))
        return result
