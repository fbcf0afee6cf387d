from odoo import api, fields, models

from odoo.addons.mail.tools.discuss import Store

from .discuss_channel import BY_ADDON

#: a messenger message's state as Odoo's notification status of its chat post (what the failure systray reads)
NOTIFICATION_STATUS = {"queued": "ready", "sending": "process", "sent": "sent", "delivered": "sent",
                       "read": "sent", "failed": "exception"}
#: chat posts read together when sent to the chats' members (a few: see _post_to_channels_together)
POSTS_READ_TOGETHER = 8


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

    def _post_to_chatters(self):
        result = super()._post_to_chatters()
        if self.env.cr.cache.get("messenger_batch") is None:
            self._post_to_channels()
        return result

    def _post_to_channels(self):
        """Post the messages in their conversation's chat: an inbound one as the person, an outbound one as
        its author, with its delivery state. A message with files goes through message_post (which moves them
        to the chat); the others are posted together, in runs that keep the order of every chat."""
        for run in self.sudo().filtered(lambda m: not m.channel_message_id)._runs_by_files():
            if run.attachment_ids:
                run._post_to_channel_one()
            else:
                run._post_to_channels_together()

    def _post_to_channel_one(self):
        self.ensure_one()
        channel = self.conversation_id._messenger_channel()
        post = channel.with_context(messenger_channel_copy=BY_ADDON, mail_create_nosubscribe=True).message_post(
            body=self._chatter_body(), author_id=self._chatter_author(), message_type="comment",
            subtype_xmlid="mail.mt_comment", attachment_ids=self.attachment_ids.ids)
        self._link_channel_posts(post)

    def _post_to_channels_together(self):
        """What ``_post_to_channel_one`` does, for many messages at once (without files): discuss.channel's
        message_post with its values computed once per chat, the posts created in one go, then each one's
        after-hook and notification (the members' bus, unread counters, web push) as message_post runs them.
        The chats' members, and which of them have a browser to push to, are looked up once for the run
        (discuss.channel._messenger_recipients, _notify_thread_by_web_push). Checked field by field, bus notices
        included, against message_post by tests/test_processing.py."""
        channels = {message: message.conversation_id._messenger_channel() for message in self}
        chats = self.env["discuss.channel"].sudo().union(*channels.values()).with_context(
            messenger_channel_copy=BY_ADDON, mail_create_nosubscribe=True, mail_post_autofollow=False)
        chats.last_interest_dt = fields.Datetime.now()  # what discuss.channel.message_post writes first
        comment = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_comment")
        post_values = self._message_post_values([
            (chats.browse(channels[message].id), message._chatter_author(), message._chatter_body(), comment, False)
            for message in self])
        posts = chats._message_create(post_values)
        authors = {}
        for values in post_values:
            authors.setdefault(values["res_id"], set()).add(values["author_id"])
        cache = self.env.cr.cache
        recipients = cache["messenger_chat_recipients"] = chats._messenger_recipients(authors)
        # sudo: which of the chats' members have a browser to push to (discuss.channel._notify_thread_by_web_push)
        cache["messenger_chat_push_partners"] = set(self.env["mail.push.device"].sudo().search([
            ("partner_id", "in", list({r["id"] for rs in recipients.values() for r in rs}))]).partner_id.ids)
        cache["messenger_unlinked_posts"] = set(posts.ids)
        try:
            for start in range(0, len(posts), POSTS_READ_TOGETHER):
                # Odoo's serialization of a post for the bus walks all the posts it was read with: a few at a time
                chunk = posts[start:start + POSTS_READ_TOGETHER].with_prefetch()
                for post, values in zip(chunk, post_values[start:start + POSTS_READ_TOGETHER]):
                    chat = chats.browse(values["res_id"])
                    chat._message_post_after_hook(post, values)
                    chat._notify_thread(post, values)
        finally:
            cache.pop("messenger_chat_recipients", None)
            cache.pop("messenger_chat_push_partners", None)
            cache.pop("messenger_unlinked_posts", None)
        self._link_channel_posts(posts)

    def _link_channel_posts(self, posts):
        """Remember each message's post in its chat (``posts``, in the order of ``self``): its delivery state
        shows there, and retention and erasure reach it through the chatter copies. Set for all at once."""
        pairs = [(message.id, post.id) for message, post in zip(self, posts)]
        if not pairs:
            return
        self.flush_recordset(["channel_message_id"])
        self.env.cr.execute_values(
            "UPDATE messenger_message AS m SET channel_message_id = v.post, write_uid = %d, "
            "write_date = (now() AT TIME ZONE 'UTC') FROM (VALUES %%s) AS v(id, post) WHERE m.id = v.id"
            % self.env.uid, pairs)
        self.invalidate_recordset(["channel_message_id", "write_uid", "write_date"])
        self._remember_chatter_posts(pairs)
        self.filtered(lambda m: m.direction == "out")._create_channel_notifications()

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
