from odoo import api, models


class MailMessage(models.Model):
    _inherit = "mail.message"

    def write(self, vals):
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
        # posts being made for messages (messenger.message._post_to_channels_together) are linked right after
        linked = posts - posts.browse(self.env.cr.cache.get("messenger_unlinked_posts", ()))
        # sudo: the state of the posts the reader was allowed to fetch (a chat's posts follow its access)
        for message in self.env["messenger.message"].sudo().search([("channel_message_id", "in", linked.ids)]):
            values[message.channel_message_id.id] = {"messengerState": message._discuss_state()}
        for post in posts.sudo():
            if post.id not in values and post.message_type == "comment" and post.subtype_id.id == note:
                values[post.id] = {"messengerNote": True}
        return values
