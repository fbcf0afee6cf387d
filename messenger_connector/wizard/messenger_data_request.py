import base64
import io
import json
import re
import unicodedata
import zipfile

from odoo import _, api, fields, models
from odoo.exceptions import UserError

#: longest file name part of an archive entry (the message and attachment ids come before it)
ENTRY_NAME_MAX = 80


def safe_entry_name(name):
    """A sender-chosen file name made safe as one archive entry name: no folders, no "..", no control
    characters, a bounded length (the extension kept)."""
    name = unicodedata.normalize("NFKC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join("_" if unicodedata.category(c)[0] == "C" or c in ':*?"<>|' else c for c in name)
    name = re.sub(r"\.{2,}", ".", name).strip(" .")
    if len(name) > ENTRY_NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and stem and len(ext) <= 10 else ""
        name = name[:ENTRY_NAME_MAX - len(ext) - 1].rstrip(" .") + ("." + ext if ext else "")
    return name or "file"


class MessengerDataRequest(models.TransientModel):
    """A data-subject request for one person: export everything, or erase it (legal holds respected)."""

    _name = "messenger.data.request"
    _description = "Messenger Data-Subject Request"

    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade")
    conversation_ids = fields.Many2many("messenger.conversation", compute="_compute_data", string="Conversations")
    message_count = fields.Integer(compute="_compute_data")
    consent_count = fields.Integer(compute="_compute_data")
    holds = fields.Text("Legal Holds", compute="_compute_data",
                        help="What is kept despite an erasure, and why.")
    left_out = fields.Text("Not Included", compute="_compute_data",
                           help="Data of the person in companies you are not working in now: neither exported "
                                "nor erased.")
    export_file = fields.Binary(readonly=True, attachment=False)
    export_filename = fields.Char(readonly=True)
    done = fields.Text(readonly=True)

    def _conversations(self, all_companies=False):
        """The person's conversations in the user's current companies (``all_companies``: in any company)."""
        # sudo: a manager acts on every conversation of the person, also those of leads they cannot open;
        # the companies are restricted explicitly
        domain = [("partner_id", "=", self.partner_id.id)]
        if not all_companies:
            domain.append(("company_id", "in", self.env.companies.ids))
        return self.env["messenger.conversation"].sudo().with_context(active_test=False).search(domain)

    def _consents(self, conversations, all_companies=False):
        Consent = self.env["messenger.consent"].sudo()
        domain = [("partner_id", "=", self.partner_id.id)]
        for conversation in conversations:
            domain = ["|", "&", ("provider", "=", conversation.provider),
                      ("identity", "=", conversation.external_user_id)] + domain
        if not all_companies:
            domain = ["&", ("company_id", "in", self.env.companies.ids)] + domain
        return Consent.search(domain)

    def _left_out(self):
        """What the person has in other companies (never exported nor erased from here), as one sentence."""
        self.ensure_one()
        conversations = self._conversations(all_companies=True) - self._conversations()
        consents = self._consents(self._conversations(all_companies=True), all_companies=True) \
            - self._consents(self._conversations())
        if not conversations and not consents:
            return False
        companies = (conversations.company_id | consents.company_id) - self.env.companies
        return self.env._(
            "Not included: %(conversations)s conversations and %(consents)s consent entries in companies you are "
            "not working in now (%(companies)s). Switch to those companies (if you may) to include them.",
            conversations=len(conversations), consents=len(consents),
            # sudo: only the names of the companies left out, so that the user knows whom to ask
            companies=", ".join(companies.sudo().mapped("name")))

    def _compute_data(self):
        for request in self:
            conversations = request._conversations()
            request.conversation_ids = conversations
            request.message_count = len(conversations.messenger_message_ids)
            request.consent_count = len(request._consents(conversations))
            lines = [self.env._("Conversation %(name)s: %(reason)s", name=c.name, reason=c.legal_hold_reason)
                     for c in conversations.filtered("legal_hold")]
            lines += [self.env._("Message of %(date)s in %(name)s: %(reason)s", date=m.create_date,
                                 name=m.conversation_id.name, reason=m.legal_hold_reason)
                      for m in conversations.messenger_message_ids.filtered("legal_hold")]
            request.holds = "\n".join(lines) or False
            request.left_out = request._left_out()

    # ------------------------------------------------------------------
    # Export
    # ------------------------------------------------------------------

    def _export_data(self):
        """Everything stored about the person, as plain data (what goes into the archive)."""
        self.ensure_one()
        conversations = self._conversations()

        def when(value):
            return value and fields.Datetime.to_string(value)

        data = {
            "person": {"id": self.partner_id.id, "name": self.partner_id.name, "phone": self.partner_id.phone,
                       "mobile": self.partner_id.mobile, "email": self.partner_id.email},
            "conversations": [{
                "id": c.id, "channel": c.provider, "account": c.account_id.name, "external_user_id": c.external_user_id,
                "profile_name": c.profile_name, "username": c.username, "phone": c.phone, "state": c.state,
                "platform_ids": c.alias_ids.mapped("value"),
                "lead": c.lead_id.name or None, "applicant": c.applicant_id.display_name or None,
                "legal_hold": c.legal_hold_reason if c.legal_hold else None,
                "messages": [{
                    "id": m.id, "direction": m.direction, "date": when(m.received_at or m.sent_at or m.create_date),
                    "type": m.content_type, "text": m.body, "payload": m.payload, "location": m.location,
                    "state": m.state, "delivered_at": when(m.delivered_at), "read_at": when(m.read_at),
                    "attachments": [self._entry_name(m, a) for a in m.attachment_ids],
                } for m in c.messenger_message_ids.sorted("id")],
            } for c in conversations],
            "consent": [{
                "channel": e.provider, "identity": e.identity, "purpose": e.purpose, "action": e.action,
                "source": e.source, "evidence": e.evidence, "reason": e.reason, "recorded_at": when(e.recorded_at),
                "recorded_by": e.user_id.name,
            } for e in self._consents(conversations).sorted("recorded_at")],
        }
        files = {self._entry_name(m, a): a.raw for m in conversations.messenger_message_ids for a in m.attachment_ids}
        return data, files

    @api.model
    def _entry_name(self, message, attachment):
        return f"attachments/{message.id}-{attachment.id}-{safe_entry_name(attachment.name)}"

    def action_export(self):
        self.ensure_one()
        data, files = self._export_data()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("messenger_data.json", json.dumps(data, indent=2, ensure_ascii=False, default=str))
            for name, content in files.items():
                archive.writestr(name, content or b"")
        self.write({
            "export_file": base64.b64encode(buffer.getvalue()),
            "export_filename": f"messenger-data-{self.partner_id.id}.zip",
            "done": _("Archive ready: %(c)s conversations, %(m)s messages, %(f)s files, %(e)s consent entries.",
                      c=len(data["conversations"]), m=sum(len(c["messages"]) for c in data["conversations"]),
                      f=len(files), e=len(data["consent"])) + (f"\n{self.left_out}" if self.left_out else ""),
        })
        return self._reopen()

    # ------------------------------------------------------------------
    # Erase
    # ------------------------------------------------------------------

    def action_erase(self):
        """Erase the person's messenger data; what a legal hold keeps is listed, with its reason."""
        self.ensure_one()
        conversations = self._conversations()
        if not conversations and not self.consent_count:
            raise UserError(_("There is no messenger data of %s.", self.partner_id.name))
        holds = self.holds
        left_out = self.left_out
        consents = self._consents(conversations)
        kept = conversations.filtered("legal_hold")
        removed = {"messages": 0, "attachments": 0}
        for conversation in conversations - kept:
            counts = conversation._retention_remove(delete=True)
            removed["messages"] += counts["messages"]
            removed["attachments"] += counts["attachments"]
        consents._erase_evidence()  # the opt-outs themselves stay, so that they keep holding
        self.done = _("Erased: %(m)s messages and %(a)s attachments of %(c)s conversations. The consent log keeps "
                      "its entries without their evidence.", m=removed["messages"], a=removed["attachments"],
                      c=len(conversations - kept))
        if holds:
            self.done += "\n" + _("Kept under legal hold:") + "\n" + holds
        if left_out:
            self.done += "\n" + left_out
        # sudo: a Messenger manager may erase without the right to edit contacts; the note is a fixed text
        # authored by that manager
        self.partner_id.sudo().message_post(
            body=_("Messenger data erased on request (%s).", self.env.user.name), author_id=self.env.user.partner_id.id,
            message_type="notification", subtype_xmlid="mail.mt_note")
        return self._reopen()

    def _reopen(self):
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": self.id,
                "view_mode": "form", "target": "new", "name": _("Messenger Data of %s", self.partner_id.name)}
