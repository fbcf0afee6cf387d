from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from ..providers import ProviderError


class MessengerAccount(models.Model):
    """The account's message templates, synced from the platform."""

    _inherit = "messenger.account"

    template_ids = fields.One2many("messenger.template", "account_id", string="Templates")
    template_count = fields.Integer(compute="_compute_template_count")

    def _compute_template_count(self):
        counts = dict(self.env["messenger.template"]._read_group(
            [("account_id", "in", self.ids)], ["account_id"], ["__count"]))
        for account in self:
            account.template_count = counts.get(account, 0)

    def action_sync_templates(self):
        """Fetch the account's templates from the platform: new ones added, changed ones updated, gone ones
        archived."""
        self.ensure_one()
        if not self.env.user.has_group("messenger_connector.group_messenger_manager"):
            raise AccessError(_("Only Messenger managers may sync templates."))
        source, label = self._templates_source()
        if not source:
            raise UserError(_("Fill in the %(field)s of %(account)s first.", field=label, account=self.name))
        try:
            platform = self._get_provider().list_templates(source)
        except ProviderError as error:
            raise UserError(_("The templates could not be fetched: %(reason)s", reason=error.message)) from None
        # sudo: templates are written by the sync only (users and managers read them)
        created, updated, archived = self.env["messenger.template"].sudo()._sync(self, platform)
        return self._notify(_("Templates synced: %(created)s new, %(updated)s updated, %(archived)s archived.",
                              created=created, updated=updated, archived=archived), "success")

    def _templates_source(self):
        """(where the platform keeps this account's templates, the label of the field that says it): the platform's
        model file tells; (False, label) where nothing says it yet."""
        self.ensure_one()
        return False, _("template source")

    def action_view_templates(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_connector.action_messenger_template")
        action["domain"] = [("account_id", "=", self.id)]
        return action
