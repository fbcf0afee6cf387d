import base64
import io

import qrcode
from markupsafe import Markup

from odoo import _, api, fields, models


class HrJob(models.Model):
    _inherit = "hr.job"

    messenger_ref = fields.Char(
        "Messenger Reference", compute="_compute_messenger_ref",
        help="Put in a click-to-chat message, it makes the person an applicant for this position.")
    messenger_apply_html = fields.Html(
        "Apply by Messenger", compute="_compute_messenger_apply_html", sanitize=False,
        help="Click-to-chat links (and their QR codes) that start an application for this position.")

    def _compute_messenger_ref(self):
        for job in self:
            job.messenger_ref = job.id and f"JOB-{job.id}" or False

    def _messenger_apply_links(self):
        """[(account, url)] of the click-to-chat links of this position, one per usable account."""
        self.ensure_one()
        accounts = self.env["messenger.account"].search([
            ("company_id", "in", [self.company_id.id or self.env.company.id])])
        return [(account, url) for account in accounts if (url := account._chat_link(self.messenger_ref))]

    @api.depends("messenger_ref")
    def _compute_messenger_apply_html(self):
        for job in self:
            links = job.id and job._messenger_apply_links() or []
            if not links:
                job.messenger_apply_html = Markup("<p class='text-muted'>%s</p>") % _(
                    "No account has click-to-chat details yet (%s).",
                    ", ".join(self.env["messenger.account"]._chat_link_hint()))
                continue
            cells = Markup("").join(
                Markup("<div class='d-inline-block text-center me-4 mb-2'>"
                       "<img alt='QR' src='data:image/png;base64,%s' style='width:140px;height:140px'/>"
                       "<div><b>%s</b></div><div><a href='%s' target='_blank'>%s</a></div></div>")
                % (self._qr_png_base64(url), account.name, url, url)
                for account, url in links)
            job.messenger_apply_html = cells

    @staticmethod
    def _qr_png_base64(value):
        image = qrcode.make(value, box_size=4, border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    def write(self, vals):
        result = super().write(vals)
        if {"interviewer_ids", "company_id"} & set(vals):
            # the interviewers of a position read its applicants' chats: the chats' members follow
            Conversation = self.env["messenger.conversation"]
            Conversation._sync_channels_of(Conversation.sudo().search([("applicant_id.job_id", "in", self.ids)]))
        return result
