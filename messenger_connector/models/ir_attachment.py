from odoo import _, api, models
from odoo.exceptions import UserError


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.ondelete(at_uninstall=False)
    def _unlink_except_messenger_file(self):
        """A file sent or received on a messenger stays: the person has it, the chat keeps showing it (the
        chat's trash icon, RPC). Erasure and retention remove files as superuser, after their own checks."""
        if self.env.su or not self:
            return
        # sudo: only whether the files belong to messenger messages or their posts is looked up
        Message = self.env["messenger.message"].sudo()
        posts = self.env["mail.message"].sudo().search([("attachment_ids", "in", self.ids)])
        if Message.search_count([("attachment_ids", "in", self.ids)], limit=1) or (posts and Message.search_count([
                "|", "|", ("chatter_message_ids", "in", posts.ids), ("mail_message_id", "in", posts.ids),
                ("channel_message_id", "in", posts.ids)], limit=1)):
            raise UserError(_("This file was sent or received on a messenger: it stays as it was and cannot be "
                              "deleted."))
