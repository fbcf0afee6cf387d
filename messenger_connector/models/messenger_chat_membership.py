"""Chat membership follows access: when a linked record's access changes (its salesperson, position, team,
interviewers, company) the conversations' chats follow in the same transaction (hr.job: see hr_job.py)."""
from odoo import Command, api, fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "team_id", "company_id", "active"} & set(vals):
            self.env["messenger.conversation"]._sync_channels_of(self.sudo().messenger_conversation_ids)
        return result

    def unlink(self):
        # the chat of a deleted lead is unlinked: its people leave, the account's team joins
        conversations = self.sudo().messenger_conversation_ids
        result = super().unlink()
        self.env["messenger.conversation"]._sync_channels_after_unlink(conversations, "lead_id")
        return result


class HrApplicant(models.Model):
    _inherit = "hr.applicant"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "job_id", "interviewer_ids", "company_id", "active", "candidate_id"} & set(vals):
            self.env["messenger.conversation"]._sync_channels_of(self.sudo().messenger_conversation_ids)
        return result

    def unlink(self):
        conversations = self.sudo().messenger_conversation_ids
        result = super().unlink()
        self.env["messenger.conversation"]._sync_channels_after_unlink(conversations, "applicant_id")
        return result


class HrCandidate(models.Model):
    _inherit = "hr.candidate"

    def write(self, vals):
        result = super().write(vals)
        if {"user_id", "company_id", "active"} & set(vals):
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([("candidate_id", "in", self.ids)]))
        return result

    def unlink(self):
        conversations = self.env["messenger.conversation"].sudo().search([("candidate_id", "in", self.ids)])
        result = super().unlink()
        self.env["messenger.conversation"]._sync_channels_after_unlink(conversations, "candidate_id")
        return result


class ResUsers(models.Model):
    _inherit = "res.users"

    #: what decides a user's access to conversations besides the linked records: groups, companies, archiving
    ACCESS_VALUES = ("groups_id", "company_ids", "company_id", "active")

    def write(self, vals):
        result = super().write(vals)
        if any(key in self.ACCESS_VALUES or key.startswith(("in_group_", "sel_groups_")) for key in vals):
            self._messenger_sync_chats()
        return result

    def _messenger_sync_chats(self):
        """A user who lost access leaves the chats at once; one who gained it joins with the chat's next
        change."""
        Conversation = self.env["messenger.conversation"]
        Conversation._sync_channels_of(Conversation.sudo().search([
            ("channel_id.channel_member_ids.partner_id", "in", self.partner_id.ids)]))


class ResGroups(models.Model):
    _inherit = "res.groups"

    def write(self, vals):
        # Settings > Groups takes access away as res.users.write does: whoever lost it leaves the chats (adding
        # users or implied groups, as module installs do, only grants: they join with the chat's next change)
        changes_access = any(
            not isinstance(command, (list, tuple)) or command[0] in (Command.DELETE, Command.UNLINK, Command.CLEAR,
                                                                     Command.SET)
            for key in ("users", "implied_ids") for command in vals.get(key) or ())
        users = self.sudo().users if changes_access else None
        result = super().write(vals)
        if changes_access:
            (users | self.sudo().users)._messenger_sync_chats()
        return result


class BusBus(models.Model):
    _inherit = "bus.bus"

    def _poll(self, channels, last=0, ignore_ids=None):
        # a websocket keeps the channels it subscribed to until it subscribes again: the messenger chats its user
        # has left since are dropped here, so that a client that ignores the leave notice receives no more of them
        channel_ids = {self._messenger_channel_id(channel) for channel in channels} - {None}
        if channel_ids:
            # sudo: which of these channels are chats, and whether the websocket's user is still in them
            chats = self.env["discuss.channel"].sudo().search(
                [("id", "in", list(channel_ids)), ("channel_type", "=", "messenger")])
            partner = self.env.user.partner_id if self.env.uid else self.env["res.partner"]
            kept = self.env["discuss.channel.member"].sudo().search(
                [("channel_id", "in", chats.ids), ("partner_id", "=", partner.id)]).channel_id \
                if chats and partner else chats.browse()
            left = set((chats - kept).ids)
            if left:
                channels = [channel for channel in channels if self._messenger_channel_id(channel) not in left]
        return super()._poll(channels, last=last, ignore_ids=ignore_ids)

    @api.model
    def _messenger_channel_id(self, channel):
        """The id of the discuss.channel a bus channel belongs to (its own or a subchannel of it), else None:
        as a record, (record, subchannel), or as a websocket holds it, (db, model, id[, subchannel])."""
        if isinstance(channel, tuple) and channel and isinstance(channel[0], models.BaseModel):
            channel = channel[0]
        if isinstance(channel, models.BaseModel):
            return channel.id if channel._name == "discuss.channel" and len(channel) == 1 else None
        if isinstance(channel, (tuple, list)) and len(channel) >= 3 and channel[1] == "discuss.channel":
            return channel[2]
        return None


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

    def write(self, vals):
        result = super().write(vals)
        if {"user_ids", "audience_group_id", "company_id"} & set(vals):
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([("account_id", "in", self.ids)]))
        return result
