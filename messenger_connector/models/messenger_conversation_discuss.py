from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.mail.tools.discuss import Store

from .discuss_channel import BY_ADDON

#: conversation fields whose change may change who can read the chat (see _access_domain)
ACCESS_FIELDS = frozenset({"lead_id", "applicant_id", "candidate_id", "account_id", "user_id", "team_id"})


class MessengerConversation(models.Model):
    """The conversation's chat in Discuss: created with it (or on first use for older ones), its members the
    users who may read the conversation."""

    _inherit = "messenger.conversation"

    channel_id = fields.Many2one("discuss.channel", "Chat", readonly=True, copy=False, index="btree_not_null",
                                 ondelete="set null")
    assign_note = fields.Char("Hand-over Note", readonly=True, copy=False)
    auto_assigned_at = fields.Datetime(
        "Assigned Automatically On", readonly=True, copy=False, index="btree_not_null",
        help="When the account's automatic assignment gave the chat to its agent (whose turn is next follows).")
    waiting_minutes = fields.Integer(
        "Waiting Time (min)", compute="_compute_waiting_minutes",
        help="Minutes since the person's last message, while the conversation waits for a reply.")

    @api.model_create_multi
    def create(self, vals_list):
        conversations = super().create(vals_list)
        conversations._ensure_channel()
        conversations._notify_inbox(list_changed=True)
        return conversations

    def write(self, vals):
        previous_agents = {c.id: c.user_id for c in self} if "user_id" in vals else {}
        result = super().write(vals)
        chats = self.filtered("channel_id")
        if chats and ACCESS_FIELDS & set(vals):
            chats._sync_channel_members()
        if chats and {"partner_id", "profile_name", "username"} & set(vals):
            for conversation in chats:
                conversation.channel_id.sudo().name = conversation.name
        if chats and ({"user_id", "state", "lead_id", "applicant_id", "window_expires_at"} & set(vals)):
            chats.channel_id._messenger_notify_header()
        if {"state", "user_id", "last_message_at"} & set(vals):
            self._notify_inbox()
        for conversation in self.filtered(lambda c: c.user_id and c.user_id != previous_agents.get(c.id, c.user_id)):
            conversation._announce_agent(previous_agents.get(conversation.id))
        return result

    @api.depends("state", "last_inbound_at")
    def _compute_waiting_minutes(self):
        now = fields.Datetime.now()
        for conversation in self:
            since = conversation.state == "waiting" and conversation.last_inbound_at
            conversation.waiting_minutes = int((now - since).total_seconds() // 60) if since else 0

    @api.ondelete(at_uninstall=False)
    def _unlink_with_chat(self):
        """A deleted conversation (erasure, retention, a manager) takes its chat with it through the ORM, so that
        Discuss removes it from the agents' open tabs (its delete notice), and no lead keeps a link to it."""
        # sudo: the chat and the links are the conversation's own; whoever may delete it removes them
        self.sudo().channel_id.unlink()
        self._notify_inbox(list_changed=True)
        for conversation in self.sudo():
            conversation._forget_lead_links()

    def _notify_inbox(self, list_changed=False):
        """Tell the supervisors' live inbox which conversations changed (``list_changed``: conversations came or
        went): once per transaction, after it. The inbox reads again only those rows, else the whole list."""
        data = self.env.cr.precommit.data
        notice = data.get("messenger_inbox_notice")
        if notice is not None:
            notice["ids"].update(self.ids)
            notice["list_changed"] = notice["list_changed"] or list_changed
            return
        notice = data["messenger_inbox_notice"] = {"ids": set(self.ids), "list_changed": list_changed}

        @self.env.cr.precommit.add
        def notify():
            data.pop("messenger_inbox_notice", None)
            managers = self.env.ref("messenger_connector.group_messenger_manager").sudo().users.filtered(
                lambda u: not u.share and u.active)
            payload = {"ids": sorted(notice["ids"]), "list_changed": notice["list_changed"]}
            for partner in managers.partner_id:
                partner._bus_send("messenger.inbox/updated", payload)

    # ------------------------------------------------------------------
    # The chat and its members
    # ------------------------------------------------------------------

    def _ensure_channel(self):
        """Create the missing chats (older conversations get theirs on first use)."""
        missing = self.filtered(lambda c: not c.channel_id)
        if not missing:
            return
        # sudo: the chat is part of the conversation; its members are set right after, by access
        channels = self.env["discuss.channel"].sudo().with_context(
            install_mode=True, messenger_membership=BY_ADDON).create([{
            "name": conversation.name or conversation.external_user_id,
            "channel_type": "messenger",
            "messenger_conversation_id": conversation.id,
            "description": conversation.account_id.name,
        } for conversation in missing])
        for conversation, channel in zip(missing, channels):
            # sudo: channel_id is the addon's link, not a user's choice
            conversation.sudo().write({"channel_id": channel.id})
        missing._sync_channel_members()

    def _messenger_channel(self):
        self.ensure_one()
        self._ensure_channel()
        return self.channel_id

    def _channel_audience(self):
        """Who should be in the chat, before the access check: its agent, the owners of the linked records, and
        for an unlinked chat the account's team (else its audience)."""
        self.ensure_one()
        conversation = self.sudo()
        users = conversation.user_id | conversation.lead_id.user_id | conversation.applicant_id.user_id \
            | conversation.applicant_id.interviewer_ids | conversation.applicant_id.job_id.interviewer_ids \
            | conversation.candidate_id.user_id
        if not (conversation.lead_id or conversation.applicant_id or conversation.candidate_id):
            account = conversation.account_id
            if account.user_ids:
                users |= account.user_ids
            else:
                group = account.audience_group_id
                messenger_users = self.env.ref("messenger_connector.group_messenger_user").sudo().users
                users |= messenger_users.filtered(lambda u: group in u.groups_id) if group else messenger_users
        return users.filtered(lambda u: u.active and not u.share and not u._is_superuser())

    def _readers(self, users):
        """The users of ``users`` who may read this conversation (Odoo's rules, as each of them)."""
        self.ensure_one()
        readers = self.env["res.users"]
        for user in users:
            as_user = self.with_user(user).with_context(allowed_company_ids=user.company_ids.ids)
            if as_user.has_access("read"):
                readers |= user
        return readers

    def _sync_channel_members(self):
        """Members of each chat: who works on it and may read it; anyone else leaves it at once (in the
        transaction that changed the access). A manager who opened the chat (Open Chat) stays until its people
        change: managers may read every chat, but are not in every chat."""
        Member = self.env["discuss.channel.member"].sudo().with_context(messenger_membership=BY_ADDON)
        self.env["messenger.conversation"].invalidate_model(["access_read", "access_write"])
        for conversation in self.sudo().filtered("channel_id"):
            channel = conversation.channel_id
            members = channel.channel_member_ids
            readers = conversation._readers(conversation._channel_audience())
            leaving = members.browse([m.id for m in members if not m.partner_id.user_ids & readers])
            joining = readers.partner_id - members.partner_id
            for member in leaving:
                member._bus_send_store(Store(channel, {"is_pinned": False, "isLocallyPinned": False}),
                                       notification_type="discuss.channel/leave")
            leaving.unlink()
            if joining:
                Member.create([{"channel_id": channel.id, "partner_id": partner.id} for partner in joining])
                for partner in joining:
                    partner._bus_send("discuss.channel/joined", {
                        "channel": {**channel._channel_basic_info(), "model": "discuss.channel",
                                    "is_pinned": True}})
            if leaving or joining:
                channel._bus_send_store(channel, {"memberCount": channel.member_count})

    def _discuss_infos(self):
        """What the chats' headers and the sidebar show of the conversations (in the order of ``self``), read
        together: Discuss asks for every chat of an agent at its start."""
        kinds = {}
        infos = []
        for conversation in self:
            linked = conversation.lead_id or conversation.applicant_id or conversation.candidate_id
            if linked and linked._name not in kinds:
                kinds[linked._name] = self.env["ir.model"]._get(linked._name).name
            account, agent = conversation.account_id, conversation.user_id
            platform = account._provider_class()
            infos.append({
                "conversation_id": conversation.id,
                "provider": conversation.provider,
                "icon": platform.icon if platform else "fa fa-commenting",
                "color": platform and platform.color or False,
                "account": account.name,
                "number": conversation.phone or conversation.external_user_id,
                "partner_id": conversation.partner_id.id or False,
                "state": conversation.state,
                "agent": {"id": agent.id, "name": agent.name, "partner_id": agent.partner_id.id} if agent else False,
                "assign_note": conversation.assign_note or False,
                "window_expires_at": fields.Datetime.to_string(conversation.window_expires_at)
                if conversation.window_expires_at else False,
                "has_window": account.has_window,
                "blocked": conversation.blocked,
                "has_templates": account.has_templates,
                "username": conversation.username or False,
                # a person whose number is not visible (WhatsApp username): the chat offers to ask for it
                "asks_contact_info": bool(not conversation.phone and account._provider_class()
                                          and account._provider_class().asks_contact_info),
                "linked": {"model": linked._name, "id": linked.id, "name": "%s: %s" % (
                    kinds[linked._name], linked.display_name)} if linked else False,
            })
        return infos

    # ------------------------------------------------------------------
    # One agent per conversation
    # ------------------------------------------------------------------

    def _check_reply_allowed_by_assignment(self):
        """Only the conversation's agent answers the person; the others take it over first (notes stay open)."""
        self.ensure_one()
        agent = self.sudo().user_id
        if agent and agent != self.env.user:
            raise UserError(_("%(agent)s handles the chat with %(name)s: take it over to answer (your notes stay "
                              "possible).", agent=agent.name, name=self.name))

    def _announce_agent(self, previous):
        """Say in the chat who handles it now; the agent's chat window opens on the next message."""
        if not self.channel_id:
            return
        body = _("%(agent)s handles this chat now.", agent=self.user_id.name)
        if self.assign_note:
            body = _("%(agent)s handles this chat now: %(note)s", agent=self.user_id.name, note=self.assign_note)
        # sudo: a notification of the addon in the chat, authored by whoever made the change
        self.channel_id.sudo().with_context(messenger_channel_copy=BY_ADDON).message_post(
            body=body, message_type="notification", subtype_xmlid="mail.mt_note",
            author_id=self.env.user.partner_id.id)

    def _on_inbound(self, message):
        result = super()._on_inbound(message)
        if not self.user_id and self.state != "closed" and self.account_id.assign_mode != "manual":
            self._assign_automatically()
        return result

    def _assign_automatically(self):
        """Give an unassigned chat to an online member of the account's team who may read it and has room (fewer
        open chats than the account's maximum): in turn (round robin) or the least busy."""
        self.ensure_one()
        account = self.account_id.sudo()
        team = account.user_ids.filtered(lambda u: u.active and not u.share).sorted("id")
        online = team.filtered(lambda u: u.im_status == "online")
        candidates = self._readers(online)
        if not candidates:
            return self.env["res.users"]
        load = dict(self.sudo()._read_group(
            [("user_id", "in", candidates.ids), ("state", "!=", "closed")], ["user_id"], ["__count"]))
        if account.assign_max_open:
            candidates = candidates.filtered(lambda u: load.get(u, 0) < account.assign_max_open)
        if not candidates:
            return self.env["res.users"]
        if account.assign_mode == "round_robin":
            # the turn follows the account's last automatic assignment (state of the chats, not of the account)
            last = self.sudo().search([("account_id", "=", account.id), ("auto_assigned_at", "!=", False)],
                                      order="auto_assigned_at desc, id desc", limit=1).user_id
            after = candidates.filtered(lambda u: u.id > last.id)
            agent = (after or candidates)[0]
        else:
            agent = min(candidates, key=lambda u: (load.get(u, 0), u.id))
        # sudo: the account's rule (its manager's choice) assigns; the agent may read the chat (checked above)
        self.sudo().write({"user_id": agent.id, "auto_assigned_at": fields.Datetime.now()})
        return agent

    def action_take_over(self, note=None):
        """Become the conversation's agent, with a note for the colleagues (why, what was agreed)."""
        for conversation in self:
            # sudo: the hand-over note is the addon's field; the assignment below is checked as the user
            conversation.sudo().write({"assign_note": (note or "").strip() or False})
            conversation.write({"user_id": self.env.user.id})
        return True

    def action_assign(self, user_id, note=None):
        """Hand the conversation to a colleague who may read it."""
        for conversation in self:
            conversation.sudo().write({"assign_note": (note or "").strip() or False})
            conversation.write({"user_id": user_id})
        return True

    def action_open_chat(self):
        """Open the conversation's chat in Discuss (the reader joins it: they may read the conversation)."""
        self.ensure_one()
        self.check_access("read")
        channel = self._messenger_channel()
        user = self.env.user
        if not user.share and user.partner_id not in channel.sudo().channel_member_ids.partner_id:
            self.env["discuss.channel.member"].sudo().with_context(messenger_membership=BY_ADDON).create({
                "channel_id": channel.id, "partner_id": user.partner_id.id})
        return {
            "type": "ir.actions.client",
            "tag": "mail.action_discuss",
            "params": {"active_id": f"discuss.channel_{channel.id}"},
            "context": {"active_id": f"discuss.channel_{channel.id}"},
        }

    @api.model
    def _sync_channels_after_unlink(self, conversations, link_field):
        """After the deletion of the records linked through ``link_field`` (the database unlinked them)."""
        conversations = conversations.exists()
        conversations.invalidate_recordset([link_field])
        self._sync_channels_of(conversations)

    @api.model
    def _sync_channels_of(self, conversations):
        """After a change of a linked record's access (salesperson, position, team): the chats follow."""
        conversations = conversations.sudo().filtered("channel_id")
        if conversations:
            conversations._sync_channel_members()
            conversations.channel_id._messenger_notify_header()
