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
