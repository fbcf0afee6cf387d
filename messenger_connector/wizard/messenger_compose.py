from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .messenger_template_send import TEMPLATE_DOMAIN, TEMPLATE_HELP, param_commands, template_params, template_preview

#: business records a message can be sent from, and the conversation field that links them
LINK_FIELDS = {"crm.lead": "lead_id", "hr.applicant": "applicant_id", "hr.candidate": "candidate_id"}


class MessengerCompose(models.TransientModel):
    """"Send message" from a lead, an applicant or a candidate: start or continue a conversation."""

    _name = "messenger.compose"
    _description = "Send a Messenger Message"

    res_model = fields.Char(required=True, readonly=True)
    res_id = fields.Integer(required=True, readonly=True)
    account_id = fields.Many2one("messenger.account", "Send From", required=True)
    has_templates = fields.Boolean(related="account_id.has_templates")
    starts_by_phone = fields.Boolean(related="account_id.starts_by_phone")
    partner_id = fields.Many2one("res.partner", "To", required=True)
    phone = fields.Char(help="Number of a first contact, in international form, on platforms where the business "
                             "may write first to a number.")
    conversation_id = fields.Many2one("messenger.conversation", compute="_compute_conversation_id")
    window_open = fields.Boolean(compute="_compute_conversation_id")
    mode = fields.Selection([("text", "Text"), ("template", "Template")], required=True,
                            compute="_compute_mode", store=True, readonly=False, precompute=True)
    purpose = fields.Selection(
        [("service", "Service"), ("marketing", "Marketing"), ("recruiting", "Recruiting")], required=True,
        default="service", help="A reply inside the window to a person who wrote is service; anything else "
                                "needs the person's opt-in for its purpose.")
    record_consent = fields.Boolean(
        help="The person agreed to receive messages of this purpose (web form, phone call, "
                               "contract...): an opt-in is recorded before sending.")
    consent_reason = fields.Char("How Consent Was Given")
    body = fields.Text("Message")
    template_account_id = fields.Many2one(related="account_id", string="Account of the Templates")
    template_id = fields.Many2one("messenger.template", domain=TEMPLATE_DOMAIN, help=TEMPLATE_HELP)
    param_ids = fields.One2many("messenger.template.param", "compose_id", string="Parameters",
                                compute="_compute_param_ids", store=True, readonly=False)
    preview = fields.Text(compute="_compute_preview", help="What the person receives.")
    template_name = fields.Char(compute="_compute_template_name", store=True, readonly=False)
    template_language = fields.Char("Language", compute="_compute_template_name", store=True, readonly=False)
    template_params = fields.Text("Parameters (one per line)",
                                  help="Without a synced template: one value per line.")

    @api.model
    def _action_open(self, record):
        record.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Send Message"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": {"default_res_model": record._name, "default_res_id": record.id},
        }

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        record = self._record(values.get("res_model"), values.get("res_id"))
        if record:
            partner = record.partner_id
            values.setdefault("partner_id", partner.id)
            values.setdefault("phone", record._messenger_phone())
            existing = self.env["messenger.conversation"].search([("partner_id", "=", partner.id)], limit=1) \
                if partner else None
            accounts = existing.account_id if existing else self.env["messenger.account"].search(
                [("company_id", "in", self.env.companies.ids)])
            # a first contact is written to by number: an account whose platform allows it comes first
            account = accounts.filtered("starts_by_phone")[:1] or accounts[:1]
            values.setdefault("account_id", account.id or False)
        return values

    @api.depends("account_id", "partner_id", "phone")
    def _compute_mode(self):
        """A first contact, or a person whose window is closed, can only get a template: start with one."""
        for wizard in self:
            account = wizard.account_id
            closed = account.has_templates and account.has_window and not wizard._find_conversation().window_open
            wizard.mode = "template" if closed else "text"

    @api.depends("template_id")
    def _compute_param_ids(self):
        for wizard in self:
            wizard.param_ids = param_commands(wizard.template_id)

    @api.depends("template_id", "param_ids.value")
    def _compute_preview(self):
        for wizard in self:
            wizard.preview = template_preview(wizard.template_id, wizard.param_ids)

    @api.depends("template_id")
    def _compute_template_name(self):
        for wizard in self:
            if wizard.template_id:
                wizard.template_name = wizard.template_id.name
                wizard.template_language = wizard.template_id.language
            elif not wizard.template_language:
                wizard.template_language = "en_US"

    def _record(self, model=None, res_id=None):
        model, res_id = model or self.res_model, res_id or self.res_id
        if model not in LINK_FIELDS or not res_id:
            return None
        return self.env[model].browse(res_id).exists()

    @api.depends("account_id", "partner_id", "phone")
    def _compute_conversation_id(self):
        for wizard in self:
            wizard.conversation_id = wizard._find_conversation()
            wizard.window_open = wizard.conversation_id.window_open

    def _find_conversation(self):
        Conversation = self.env["messenger.conversation"]
        if not self.account_id:
            return Conversation
        conversation = Conversation.search([
            ("account_id", "=", self.account_id.id), ("partner_id", "=", self.partner_id.id or 0)],
            order="last_message_at desc, id desc", limit=1)
        address = not conversation and self._phone_address()
        if address:
            # the number may be a later id of a person first known by another (a WhatsApp BSUID)
            conversation = Conversation.search([
                ("account_id", "=", self.account_id.id),
                "|", ("external_user_id", "=", address), ("alias_ids.value", "=", address)], limit=1)
        return conversation

    def _phone_address(self):
        """The person's address on the account's platform from the phone number (None where the platform
        cannot be written to by number first: the provider says)."""
        if not self.phone or not self.account_id:
            return None
        number = self.env["messenger.conversation"]._normalize_phone(self.phone, self.account_id)
        return self.account_id._provider_class().address_for_phone(number)

    def _get_conversation(self):
        """The conversation to write in, created for a first WhatsApp contact; linked to the record."""
        self.ensure_one()
        record = self._record()
        link = LINK_FIELDS[record._name]
        vals = {link: record.id}
        if record._name == "hr.applicant":
            vals["candidate_id"] = record.candidate_id.id
        conversation = self._find_conversation()
        if not conversation:
            if not self.account_id.starts_by_phone:
                raise UserError(_(
                    "%(name)s has never written to %(account)s, and %(platform)s does not let a business start a "
                    "chat: share the account's chat link with them first.", name=self.partner_id.name,
                    account=self.account_id.name, platform=self.account_id._provider_label()))
            address = self._phone_address()
            if not address:
                raise UserError(_("%(name)s has no phone number to write to on %(account)s.",
                                  name=self.partner_id.name, account=self.account_id.name))
            # sudo: only whether the person has a chat here the user may not open, to say so instead of failing
            # on the one-chat-per-person constraint; nothing of that chat is shown
            if self.env["messenger.conversation"].sudo().search_count([
                    ("account_id", "=", self.account_id.id),
                    "|", ("external_user_id", "=", address), ("alias_ids.value", "=", address)], limit=1):
                raise UserError(_(
                    "%(name)s already has a chat on %(account)s that belongs to a lead or application you cannot "
                    "open. Ask its salesperson or recruiter, or a Messenger manager, to hand it over.",
                    name=self.partner_id.name, account=self.account_id.name))
            # linked from the start: its access (and its agent's) is the record's
            conversation = self.env["messenger.conversation"].create(dict(
                vals, account_id=self.account_id.id, external_user_id=address,
                phone=self.env["messenger.conversation"]._normalize_phone(self.phone, self.account_id),
                partner_id=self.partner_id.id, user_id=self.env.user.id, state="answered"))
        if conversation[link].id != record.id:
            conversation.write(vals)
        return conversation

    def action_send(self):
        self.ensure_one()
        if self.record_consent and not (self.consent_reason or "").strip():
            raise UserError(_("Say how the person gave their consent."))
        if self.mode == "template" and not (self.template_name and self.template_language):
            raise UserError(_("Choose a template (or give its name and language)."))
        # the checks (window, block, consent, blacklist) are the conversation's, run by its send methods; a
        # refusal leaves nothing behind (no first-contact conversation, no consent entry)
        with self.env.cr.savepoint():
            conversation = self._get_conversation()
            if self.record_consent:
                conversation._opt_in([self.purpose], "manual", reason=self.consent_reason, confirm=False)
            if self.mode == "template":
                if self.template_id:
                    params = template_params(self.template_id, self.param_ids)
                else:
                    params = [line.strip() for line in (self.template_params or "").splitlines() if line.strip()]
                conversation.action_send_template(self.template_name, self.template_language, params,
                                                  purpose=self.purpose)
            else:
                conversation.action_send_text(self.body, purpose=self.purpose)
        return {"type": "ir.actions.act_window_close"}
