from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from ..providers import ProviderError


class MessengerAccount(models.Model):
    """The account's message templates, synced from the platform."""

    _inherit = "messenger.account"

    wa_business_account_id = fields.Char(
        "WhatsApp Business Account ID",
        help="The WABA id (Meta Business Suite > WhatsApp accounts): its approved templates are synced from it.")
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
        if not self.wa_business_account_id:
            raise UserError(_("Fill in the WhatsApp Business Account ID of %s first.", self.name))
        try:
            platform = self._get_provider().list_templates(self.wa_business_account_id.strip())
        except ProviderError as error:
            raise UserError(_("The templates could not be fetched: %(reason)s", reason=error.message)) from None
        # sudo: templates are written by the sync only (users and managers read them)
        created, updated, archived = self.env["messenger.template"].sudo()._sync(self, platform)
        return self._notify(_("Templates synced: %(created)s new, %(updated)s updated, %(archived)s archived.",
                              created=created, updated=updated, archived=archived), "success")

    def action_view_templates(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_connector.action_messenger_template")
        action["domain"] = [("account_id", "=", self.id)]
        return action
