from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import html2plaintext

from odoo.addons.mail.tools.discuss import Store

#: Discuss starts with an agent's most recently active messenger chats; the others come back with their next
#: message, or open from their conversation (Open Chat). Odoo reads every chat it starts with (about 1.5 ms
#: each, bench/discuss.py): 2,000 chats would keep Discuss's start busy for seconds.
MESSENGER_CHATS_AT_START = 200

#: what the addon's own code puts in the context when it sets a chat's members or posts a message of the
#: platform (as the person): an object, which no RPC call can send (a request's context is JSON)
BY_ADDON = object()


def by_addon(env, key):
    """Whether the context ``key`` was set by the addon's code (see BY_ADDON), not by a caller."""
    return env.context.get(key) is BY_ADDON


class DiscussChannel(models.Model):
    """The Discuss chat of a messenger conversation: one per conversation, its members those who may read it."""

    _inherit = "discuss.channel"

    channel_type = fields.Selection(selection_add=[("messenger", "Messenger Chat")],
                                    ondelete={"messenger": "cascade"})
    messenger_conversation_id = fields.Many2one(
        "messenger.conversation", index="btree_not_null", ondelete="cascade", readonly=True)

    _sql_constraints = [
        ("messenger_conversation_unique", "UNIQUE(messenger_conversation_id)",
         "A messenger conversation has one chat."),
    ]

    # ------------------------------------------------------------------
    # Membership: set by the addon alone, from who may read the conversation
    # ------------------------------------------------------------------

    @api.model
    def _messenger_check_membership_by_addon(self):
        if not by_addon(self.env, "messenger_membership"):
            raise AccessError(_("The members of a messenger chat are the people who may read its conversation: "
                                "nobody can be invited or join otherwise."))

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("channel_type") == "messenger" or vals.get("messenger_conversation_id")
               for vals in vals_list):
            self._messenger_check_membership_by_addon()
        return super().create(vals_list)

    def write(self, vals):
        if "messenger_conversation_id" in vals or (
                {"channel_member_ids", "channel_partner_ids", "group_ids", "group_public_id"} & set(vals)
                and any(channel.channel_type == "messenger" for channel in self)):
            self._messenger_check_membership_by_addon()
        return super().write(vals)

    def add_members(self, partner_ids=None, guest_ids=None, **kwargs):
        if (partner_ids or guest_ids) and any(channel.channel_type == "messenger" for channel in self):
            self._messenger_check_membership_by_addon()
        return super().add_members(partner_ids=partner_ids, guest_ids=guest_ids, **kwargs)

    def _create_sub_channel(self, from_message_id=None, name=None):
        if self.channel_type == "messenger":
            raise UserError(_("A messenger chat has no threads: its members follow the conversation's access."))
        return super()._create_sub_channel(from_message_id=from_message_id, name=name)

    # ------------------------------------------------------------------
    # Posting: a comment is sent to the person, a note stays with the colleagues
    # ------------------------------------------------------------------

    @api.returns("mail.message", lambda value: value.id)
    def message_post(self, **kwargs):
        if len(self) != 1 or self.channel_type != "messenger" or by_addon(self.env, "messenger_channel_copy"):
            return super().message_post(**kwargs)
        # a member posts as themselves: the person's posts and the addon's notices come from the addon alone
        author_id = kwargs.get("author_id")
        if author_id and author_id != self.env.user.partner_id.id:
            raise AccessError(_("You can only post in a messenger chat as yourself."))
        if kwargs.get("partner_ids"):
            # mentions notify colleagues in the chat, never the person (nor anyone else) by e-mail
            members = self.sudo().channel_member_ids.partner_id
            kwargs["partner_ids"] = [pid for pid in kwargs["partner_ids"] if pid in members.ids]
        if not self._messenger_is_reply(kwargs):
            # a note or a notification: for the colleagues in the chat, never sent
            if kwargs.get("message_type") == "comment":
                kwargs["subtype_xmlid"] = "mail.mt_note"
                kwargs.pop("subtype_id", None)
            return super().message_post(**kwargs)
        # as the user, whatever the caller's sudo (Odoo's post route posts in sudo after checking the channel):
        # the send checks and the access to the conversation are the user's
        user = self.env.user
        if not user or user.share:
            raise AccessError(_("Only employees answer messenger chats."))
        conversation = self.messenger_conversation_id.sudo(False)
        conversation.check_access("write")
        conversation._check_reply_allowed_by_assignment()
        attachment_ids = list(kwargs.get("attachment_ids") or [])
        if len(attachment_ids) > 1:
            raise UserError(_("Send one file per message."))
        body = kwargs.get("body") or ""
        text = html2plaintext(body) if isinstance(body, Markup) or kwargs.get("body_is_html") else body
        if not text.strip() and not attachment_ids:
            raise UserError(_("Write a message first."))
        # refused before anything is posted: the agent sees why at once, nothing is queued
        conversation._check_can_send()
        post = super().message_post(**kwargs)
        conversation.with_context(messenger_channel_post_id=post.id).action_send_text(
            text.strip(), attachment_ids=post.attachment_ids.ids)
        return post

    def _messenger_is_reply(self, values):
        """Whether message_post ``values`` are a comment of a user to the person (not a note)."""
        if values.get("message_type", "notification") != "comment":
            return False
        IrModelData = self.env["ir.model.data"]
        subtype_id = values.get("subtype_id") or IrModelData._xmlid_to_res_id(
            values.get("subtype_xmlid") or "mail.mt_comment")
        return subtype_id == IrModelData._xmlid_to_res_id("mail.mt_comment")

    def _check_can_update_message_content(self, message):
        result = super()._check_can_update_message_content(message)
        if self.channel_type == "messenger":
            self.env["messenger.message"]._check_chatter_copies_unchanged(message)
        return result

    # ------------------------------------------------------------------
    # Web client
    # ------------------------------------------------------------------

    def _get_channels_as_member(self):
        channels = super()._get_channels_as_member()
        chats = channels.filtered(lambda c: c.channel_type == "messenger")
        if len(chats) <= MESSENGER_CHATS_AT_START:
            return channels
        recent = chats.sorted(lambda c: (c.last_interest_dt or c.create_date, c.id), reverse=True)
        return (channels - chats) + recent[:MESSENGER_CHATS_AT_START]

    def _to_store(self, store: Store):
        result = super()._to_store(store)
        chats = self.filtered(lambda c: c.channel_type == "messenger")
        if chats:
            # sudo: the header of chats the user is a member of (members may read the conversation)
            for channel, info in zip(chats, chats.sudo().messenger_conversation_id._discuss_infos()):
                store.add(channel, {"messenger": info})
        return result

    def _messenger_notify_header(self):
        """Send the chats' messenger header (agent, window, state) to their members, once per chat and
        transaction, with its state at the end of it: a group of a hundred messages changes a chat's state a
        hundred times, its members need the last one."""
        data = self.env.cr.precommit.data
        pending = data.get("messenger_header_channels")
        if pending is None:
            pending = data["messenger_header_channels"] = set()

            @self.env.cr.precommit.add
            def notify():
                channels = self.env["discuss.channel"].sudo().browse(sorted(data.pop("messenger_header_channels", ())))
                for channel in channels.exists().filtered(lambda c: c.channel_type == "messenger"):
                    info = channel.messenger_conversation_id._discuss_infos()[0]
                    channel._bus_send_store(Store(channel, {"messenger": info}))
        pending.update(self.ids)  # the chats of conversations: other channels are left out when sending


class DiscussChannelMember(models.Model):
    _inherit = "discuss.channel.member"

    @api.model_create_multi
    def create(self, vals_list):
        # every way into a chat (invitation link, invite, join, a member created over RPC, in sudo or not) ends
        # here: only the addon's membership sync and Open Chat add members
        channel_ids = {vals["channel_id"] for vals in vals_list if vals.get("channel_id")}
        if channel_ids and self.env["discuss.channel"].sudo().search_count(
                [("id", "in", list(channel_ids)), ("channel_type", "=", "messenger")], limit=1):
            self.env["discuss.channel"]._messenger_check_membership_by_addon()
        return super().create(vals_list)
