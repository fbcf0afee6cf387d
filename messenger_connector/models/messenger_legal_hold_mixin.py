from odoo import _, api, models
from odoo.exceptions import AccessError, UserError


class MessengerLegalHoldMixin(models.AbstractModel):
    """Placing, changing and lifting a legal hold (``legal_hold``, ``legal_hold_reason`` of the inheriting
    model): for Messenger managers only, whatever the call path, and every change logged with who and why."""

    _name = "messenger.legal.hold.mixin"
    _description = "Messenger: legal holds set by managers, every change logged"

    @api.model
    def _check_legal_hold_rights(self):
        if not (self.env.su or self.env.user.has_group("messenger_connector.group_messenger_manager")):
            raise AccessError(_("Only Messenger managers may place, change or lift a legal hold."))

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("legal_hold") or vals.get("legal_hold_reason") for vals in vals_list):
            self._check_legal_hold_rights()
        records = super().create(vals_list)
        for record in records.filtered("legal_hold"):
            record._log_legal_hold("placed", record.legal_hold_reason)
        return records

    def write(self, vals):
        if not {"legal_hold", "legal_hold_reason"} & set(vals):
            return super().write(vals)
        self._check_legal_hold_rights()
        before = {record.id: (record.legal_hold, record.legal_hold_reason) for record in self}
        note = (self.env.context.get("messenger_legal_hold_note") or "").strip()
        if "legal_hold" in vals and not vals["legal_hold"] and not note and any(
                held for held, _reason in before.values()):
            raise UserError(_("Lifting a legal hold needs a reason: use 'Lift Legal Hold' and say why."))
        result = super().write(vals)
        for record in self:
            held, reason = before[record.id]
            if record.legal_hold and not held:
                record._log_legal_hold("placed", record.legal_hold_reason)
            elif held and not record.legal_hold:
                record._log_legal_hold("lifted", note)
            elif record.legal_hold and reason != record.legal_hold_reason:
                record._log_legal_hold("changed", record.legal_hold_reason)
        return result

    def action_set_legal_hold(self, reason):
        if not (reason or "").strip():
            raise UserError(_("A legal hold needs a reason."))
        self.write({"legal_hold": True, "legal_hold_reason": reason.strip()})
        return True

    def action_lift_legal_hold(self, reason=None):
        """Lift the hold; without a reason (a button), ask for it first."""
        if reason is None:
            self._check_legal_hold_rights()
            return self.env["messenger.legal.hold.change"]._open(self, "lift")
        if not (reason or "").strip():
            raise UserError(_("Lifting a legal hold needs a reason."))
        self.with_context(messenger_legal_hold_note=reason.strip()).write(
            {"legal_hold": False, "legal_hold_reason": False})
        return True

    def _legal_hold_conversation(self):
        """The conversation whose chatter shows this record's hold changes."""
        raise NotImplementedError

    def _log_legal_hold(self, action, reason):
        self.ensure_one()
        conversation = self._legal_hold_conversation()
        # sudo: the log is manager-only and append-only; the caller's rights were checked above
        self.env["messenger.legal.hold.log"].sudo().create({
            "action": action, "reason": reason, "user_id": self.env.user.id,
            "conversation_id": conversation.id, "company_id": conversation.company_id.id,
            "message_id": self.id if self._name == "messenger.message" else False,
        })
        what = _("this conversation") if self._name == "messenger.conversation" else \
            _("a message of %(date)s", date=self.create_date)
        values = {"what": what, "user": self.env.user.name, "reason": reason}
        if action == "placed":
            body = _("Legal hold placed on %(what)s by %(user)s: %(reason)s", **values)
        elif action == "changed":
            body = _("Legal hold of %(what)s changed by %(user)s: %(reason)s", **values)
        else:
            body = _("Legal hold of %(what)s lifted by %(user)s: %(reason)s", **values)
        # sudo: a note in the conversation's chatter, whoever may post there
        conversation.sudo().message_post(body=body, message_type="notification", subtype_xmlid="mail.mt_note",
                                         author_id=self.env.user.partner_id.id)
