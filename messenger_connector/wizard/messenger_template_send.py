from odoo import api, fields, models

#: the approved templates of the dialog's account
TEMPLATE_DOMAIN = "[('account_id', '=', template_account_id), ('status', '=', 'approved')]"
TEMPLATE_HELP = "The account's approved templates, as synced from the platform (Accounts > Templates)."


def param_commands(template):
    """One2many commands: one empty line per placeholder of ``template``."""
    names = template._placeholders() if template else []
    return [(5, 0, 0)] + [(0, 0, {"sequence": i, "name": n}) for i, n in enumerate(names)]


def template_preview(template, params):
    return template._render({p.name: p.value for p in params if p.value}) if template else False


def template_params(template, params):
    """The values for ``action_send_template``: by name for named templates, else in order."""
    if template.parameter_format == "named":
        return {p.name: p.value or "" for p in params}
    return [p.value or "" for p in params.sorted("sequence")]


class MessengerTemplateSend(models.TransientModel):
    _name = "messenger.template.send"
    _description = "Send a Messenger Template"

    conversation_id = fields.Many2one("messenger.conversation", required=True, ondelete="cascade")
    template_account_id = fields.Many2one(related="conversation_id.account_id")
    template_id = fields.Many2one("messenger.template", domain=TEMPLATE_DOMAIN, help=TEMPLATE_HELP)
    param_ids = fields.One2many("messenger.template.param", "send_id", string="Parameters",
                                compute="_compute_param_ids", store=True, readonly=False)
    preview = fields.Text(compute="_compute_preview", help="What the person receives.")
    template_name = fields.Char(compute="_compute_template_name", store=True, readonly=False,
                                required=True, help="Name of the template approved by Meta.")
    language = fields.Char(compute="_compute_template_name", store=True, readonly=False, required=True,
                           help="Language code of the approved template, e.g. en_US.")
    params_text = fields.Text(
        "Parameters (one per line)",
        help="Without a synced template: one value per line, in the order of the template's {{1}}, {{2}}, ...")

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
                wizard.language = wizard.template_id.language
            elif not wizard.language:
                wizard.language = "en_US"

    def action_send(self):
        self.ensure_one()
        if self.template_id:
            params = template_params(self.template_id, self.param_ids)
        else:
            params = [line.strip() for line in (self.params_text or "").splitlines() if line.strip()]
        self.conversation_id.action_send_template(self.template_name, self.language, params)
        return {"type": "ir.actions.act_window_close"}
