from odoo import _, api, models
from odoo.exceptions import AccessError

#: what a post says about itself: who wrote it, when, what kind of post it is and where it belongs
POST_IDENTITY_FIELDS = frozenset({"author_id", "author_guest_id", "email_from", "date", "subtype_id",
                                  "message_type", "model", "res_id", "record_name", "message_id", "parent_id",
                                  "partner_ids"})


class MailMessage(models.Model):
    _inherit = "mail.message"

    def write(self, vals):
        # in a messenger chat or a conversation's chatter, a post stays the person's, the agent's or the
        # addon's: nobody rewrites its author, date or kind (a customer's message turned into a member's note)
        if not self.env.su and POST_IDENTITY_FIELDS & set(vals) and self._messenger_posts():
            raise AccessError(_("The author, date and kind of a messenger chat's posts cannot be changed."))
        # the chatter posts of a chat show what was sent and received: users keep them as they are, whatever
        # the call (the web client's edit goes through the thread's own check, in sudo)
        if not self.env.su and {"body", "attachment_ids"} & set(vals):
            self.env["messenger.message"]._check_chatter_copies_unchanged(self)
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_messenger_copy(self):
        # erasure and retention remove the copies as superuser, after their own checks
        if not self.env.su:
            self.env["messenger.message"]._check_chatter_copies_unchanged(self)

    def _messenger_posts(self):
        """The posts of ``self`` in messenger chats and conversations' chatters."""
        # sudo: where the posts belong, for a check of the current user's write
        posts = self.sudo()
        chats = posts.filtered(lambda m: m.model == "discuss.channel")
        chat_ids = set(self.env["discuss.channel"].sudo().search(
            [("id", "in", chats.mapped("res_id")), ("channel_type", "=", "messenger")]).ids) if chats else set()
        return posts.filtered(lambda m: m.model == "messenger.conversation" or (
            m.model == "discuss.channel" and m.res_id in chat_ids))

    def _extras_to_store(self, store, format_reply):
        result = super()._extras_to_store(store, format_reply=format_reply)
        for message_id, values in self._messenger_store_values().items():
            store.add(self.browse(message_id), values)
        return result

    def _messenger_store_values(self):
        """{post id: what a messenger chat shows on it}: the delivery state of a message sent to the person, or
        the mark of an internal note."""
        posts = self.filtered(lambda m: m.model == "discuss.channel")
        if not posts:
            return {}
        values = {}
        note = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note")
        # sudo: the state of the posts the reader was allowed to fetch (a chat's posts follow its access)
        for message in self.env["messenger.message"].sudo().search([("channel_message_id", "in", posts.ids)]):
            values[message.channel_message_id.id] = {"messengerState": message._discuss_state()}
        for post in posts.sudo():
            if post.id not in values and post.message_type == "comment" and post.subtype_id.id == note:
                values[post.id] = {"messengerNote": True}
        return values
