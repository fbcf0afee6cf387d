from odoo import api, fields, models

from odoo.addons.mail.tools.discuss import Store

from .discuss_channel import BY_ADDON

#: a messenger message's state as Odoo's notification status of its chat post (what the failure systray reads)
NOTIFICATION_STATUS = {"queued": "ready", "sending": "process", "sent": "sent", "delivered": "sent",
                       "read": "sent", "failed": "exception"}


class MessengerMessage(models.Model):
    """Each message also in the conversation's Discuss chat; an outbound one carries its delivery state there as
    an Odoo notification of its own type (like an SMS), so that a failure reaches the messaging menu."""

    _inherit = "messenger.message"

    channel_message_id = fields.Many2one("mail.message", "Chat Post", readonly=True, index="btree_not_null",
                                         ondelete="set null", copy=False)

    @api.model_create_multi
    def create(self, vals_list):
        post_id = self.env.context.get("messenger_channel_post_id")
        if post_id:
            # the agent's post in the chat is this message's post there (see discuss.channel.message_post)
            for vals in vals_list:
                vals.setdefault("channel_message_id", post_id)
        messages = super().create(vals_list)
        if post_id:
            linked = messages.filtered("channel_message_id")
            for message in linked:
                message.chatter_message_ids = [(4, message.channel_message_id.id)]
            linked._create_channel_notifications()
        return messages

    def write(self, vals):
        result = super().write(vals)
        if "state" in vals or "error_message" in vals or "pricing_type" in vals or "pricing_category" in vals:
            self.filtered(lambda m: m.direction == "out" and m.channel_message_id)._update_channel_notifications()
        return result

    def _post_to_channels(self):
        """Post each message in its conversation's chat through the chat's message_post: an inbound one as the
        person, an outbound one as its author, with its delivery state. message_post does what Odoo and the
        installed modules do with a chat's post (files moved to the chat, the members notified)."""
        for message in self.sudo():
            channel = message.conversation_id._messenger_channel()
            post = channel.with_context(
                messenger_channel_copy=BY_ADDON, mail_create_nosubscribe=True, mail_post_autofollow=False,
            ).message_post(
                body=message._chatter_body(), author_id=message._chatter_author(), message_type="comment",
                subtype_xmlid="mail.mt_comment", attachment_ids=message.attachment_ids.ids)
            message._link_channel_post(post)

    def _link_channel_post(self, post):
        """Remember the message's post in its chat: its delivery state shows there, and retention and erasure
        reach it through the chatter copies."""
        self.ensure_one()
        self.write({"channel_message_id": post.id, "chatter_message_ids": [(4, post.id)]})
        if self.direction == "out":
            self._create_channel_notifications()

    def _create_channel_notifications(self):
        # sudo: the notification is the addon's record of the delivery, read through the post
        self.env["mail.notification"].sudo().create([{
            "mail_message_id": message.channel_message_id.id,
            "res_partner_id": message.conversation_id.partner_id.id,
            "author_id": message.channel_message_id.author_id.id,
            "notification_type": "messenger",
            "notification_status": NOTIFICATION_STATUS.get(message.state, "ready"),
            "is_read": True,
        } for message in self.sudo() if message.conversation_id.partner_id])

    def _update_channel_notifications(self):
        for message in self.sudo():
            post = message.channel_message_id
            notifications = post.notification_ids.filtered(lambda n: n.notification_type == "messenger")
            failed = message.state == "failed"
            notifications.write({
                "notification_status": NOTIFICATION_STATUS.get(message.state, "ready"),
                "failure_type": "messenger" if failed else False,
                "failure_reason": (message.error_message or message.error_code) if failed else False,
            })
            channel = message.conversation_id.channel_id
            if channel:
                channel._bus_send_store(Store(post, post._messenger_store_values()[post.id]))
            # the author's messaging menu (failures) follows the notification
            post._notify_message_notification_update()

    def _download_media(self):
        result = super()._download_media()
        # the open chat shows the file as soon as it is here, as Odoo tells a message's update to its chat
        for message in self.filtered(lambda m: m.media_state == "done" and m.channel_message_id):
            post = message.channel_message_id.sudo()
            post._bus_send_store(post, {"attachment_ids": Store.many(post.attachment_ids.sorted("id"))})
        return result

    def _discuss_state(self):
        """The state the chat shows on the message."""
        self.ensure_one()
        return {
            "id": self.id,
            "state": self.state,
            "error": self.error_message or self.error_code or False,
            "direction": self.direction,
            "label": dict(self._fields["state"]._description_selection(self.env)).get(self.state),
            "pricing": self._pricing_summary(),
        }
