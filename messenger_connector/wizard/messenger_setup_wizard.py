from markupsafe import Markup, escape

from odoo import _, api, fields, models


class MessengerSetupWizard(models.TransientModel):
    """The set-up assistant of an account: the platform's steps in its order, what to paste where, and after each
    step the platform's answer in words (messenger.account.action_check_setup).

    Each platform's model file gives its steps (messenger.account._setup_steps) and may add the fields of its
    credentials here (related to the account), shown by its own view at its steps."""

    _name = "messenger.setup.wizard"
    _description = "Messenger Account Set-up Assistant"

    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade")
    provider = fields.Selection(related="account_id.provider")
    webhook_url = fields.Char(related="account_id.webhook_url")
    webhook_url_warning = fields.Char(related="account_id.webhook_url_warning")
    registers_webhook = fields.Boolean(related="account_id.registers_webhook")
    step_index = fields.Integer(default=0)
    step_count = fields.Integer(compute="_compute_step")
    step_key = fields.Char(compute="_compute_step")
    step_title = fields.Char(compute="_compute_step")
    step_help = fields.Html(compute="_compute_step", sanitize=False)
    is_last_step = fields.Boolean(compute="_compute_step")
    report = fields.Text("What the platform says", readonly=True)
    report_ok = fields.Boolean(readonly=True)
    checked = fields.Boolean(readonly=True)

    @api.depends("account_id", "step_index")
    def _compute_step(self):
        for wizard in self:
            steps = wizard.account_id._setup_steps() if wizard.account_id else []
            index = min(max(wizard.step_index, 0), max(len(steps) - 1, 0))
            step = steps[index] if steps else {"key": "", "title": "", "help": ""}
            wizard.step_count = len(steps)
            wizard.step_key = step["key"]
            wizard.step_title = _("Step %(number)s of %(count)s: %(title)s", number=index + 1,
                                  count=len(steps), title=step["title"])
            wizard.step_help = Markup("<p>%s</p>") % escape(step["help"])
            wizard.is_last_step = index >= len(steps) - 1

    def _reopen(self):
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": self.id, "view_mode": "form",
                "target": "new", "name": _("Set-up Assistant")}

    def action_next(self):
        self.ensure_one()
        self.step_index = min(self.step_index + 1, self.step_count - 1)
        return self._reopen()

    def action_back(self):
        self.ensure_one()
        self.step_index = max(self.step_index - 1, 0)
        return self._reopen()

    def action_check(self):
        """Ask the platform now: what is right and what is wrong, in words."""
        self.ensure_one()
        self.account_id.action_check_setup()
        self.write({"report": self.account_id.health_report, "report_ok": self.account_id.health_ok,
                    "checked": True})
        return self._reopen()

    def action_register_webhook(self):
        """Register the webhook through the platform's API (where it has one), then check."""
        self.ensure_one()
        self.account_id.action_register_webhook()
        return self.action_check()
