from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .messenger_consent import PURPOSES


class MessengerMessage(models.Model):
    """Legal holds and content removal of messages (retention policies, data-subject erasure)."""

    _name = "messenger.message"
    _inherit = ["messenger.message", "messenger.legal.hold.mixin"]

    purpose = fields.Selection(PURPOSES, default="service", readonly=True,
                               help="Purpose of an outgoing message (consent is checked for it).")
    chatter_message_ids = fields.Many2many(
        "mail.message", "messenger_message_chatter_rel", "messenger_message_id", "mail_message_id",
        string="Chatter Copies", readonly=True, copy=False)
    legal_hold = fields.Boolean(copy=False, help="Kept whatever the retention policies say.")
    legal_hold_reason = fields.Char(copy=False)
    anonymized = fields.Boolean(readonly=True, copy=False)

    @api.model
    def _check_chatter_copies_unchanged(self, mail_messages):
        """Refuse editing or emptying chatter posts that show what a person and the business said on a
        platform: the chat's record must keep what was sent and received."""
        # sudo: only whether the posts are copies is looked up; nothing of the messages is shown
        if mail_messages and self.sudo().search_count([
                "|", ("chatter_message_ids", "in", mail_messages.ids), ("mail_message_id", "in", mail_messages.ids)],
                limit=1):
            raise UserError(_("This post shows a message sent or received on a messenger: it is kept as it was "
                              "sent or received and cannot be edited or deleted."))

    def action_place_legal_hold(self):
        """Place a hold (button): ask for its reason first."""
        self._check_legal_hold_rights()
        return self.env["messenger.legal.hold.change"]._open(self, "place")

    def _legal_hold_conversation(self):
        self.ensure_one()
        return self.conversation_id

    @api.ondelete(at_uninstall=False)
    def _unlink_except_legal_hold(self):
        held = self.filtered("legal_hold")
        if held:
            raise UserError(_("%(count)s messages are under legal hold (%(reason)s) and cannot be deleted.",
                              count=len(held), reason=held[0].legal_hold_reason))

    @api.ondelete(at_uninstall=True)
    def _unlink_remove_content(self):
        """Whatever deletes messages (retention, erasure, privacy lookup, a manager) removes their content
        everywhere (after the hold check above: ondelete methods run in name order)."""
        self.sudo()._remove_content(delete=False)

    def _remove_content(self, delete=False):
        """Remove what the messages said everywhere it is stored; keep (or delete) the rows themselves.

        Content lives in the message body, its attachments, its chatter copies (conversation, contact, lead,
        applicant) and the raw webhook delivery it came in. Held messages are never passed here.
        """
        messages = self.sudo()
        attachments = messages.attachment_ids | messages.chatter_message_ids.attachment_ids
        chatter = messages.chatter_message_ids | messages.mail_message_id
        events = messages.with_context(active_test=False).event_id
        counts = {"messages": len(messages), "attachments": len(attachments)}
        if delete:
            messages.unlink()  # which comes back here (delete=False) for the content, then drops the rows
            return counts
        chatter.unlink()
        messages.write({"body": False, "payload": False, "location": False, "media_ref": False,
                        "reply_to_external_id": False, "error_message": False, "anonymized": True,
                        "attachment_ids": [(5, 0, 0)]})
        attachments.unlink()
        # the raw delivery holds the same text: drop it once none of its messages needs it any more
        events.filtered(lambda event: not event.message_ids.filtered("legal_hold"))._remove_content()
        return counts
