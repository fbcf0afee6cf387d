from odoo import fields, models


class MessengerSetupWizard(models.TransientModel):
    """The X credentials, typed in at the assistant's steps; the webhook registered from its step."""

    _inherit = "messenger.setup.wizard"

    x_consumer_secret = fields.Char(related="account_id.x_consumer_secret", readonly=False)
    x_client_id = fields.Char(related="account_id.x_client_id", readonly=False)
    x_client_secret = fields.Char(related="account_id.x_client_secret", readonly=False)
    x_app_token = fields.Char(related="account_id.x_app_token", readonly=False)
    x_user_id = fields.Char(related="account_id.x_user_id", readonly=False)
    x_access_token = fields.Char(related="account_id.x_access_token", readonly=False)
    x_refresh_token = fields.Char(related="account_id.x_refresh_token", readonly=False)

    def action_x_chat_setup_keys(self):
        """Set up the account's X Chat keys from the assistant: the PIN's wizard when X asks for it, else the
        check's answer."""
        self.ensure_one()
        result = self.account_id.action_x_chat_setup_keys()
        if isinstance(result, dict) and result.get("type") == "ir.actions.act_window":
            return result
        return self.action_check()
