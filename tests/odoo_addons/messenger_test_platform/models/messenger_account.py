from odoo import fields, models

MANAGER = "messenger_connector.group_messenger_manager"


class MessengerAccount(models.Model):
    _inherit = "messenger.account"

    provider = fields.Selection(selection_add=[("ping", "Ping")], ondelete={"ping": "cascade"})
    ping_token = fields.Char("Ping Token", groups=MANAGER, copy=False)

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider == "ping":
            config["token"] = self.sudo().ping_token
        return config
