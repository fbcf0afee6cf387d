from odoo import fields, models


class MessengerSetupWizard(models.TransientModel):
    """The WeChat credentials and server configuration, typed in at the assistant's steps."""

    _inherit = "messenger.setup.wizard"

    wc_app_id = fields.Char(related="account_id.wc_app_id", readonly=False)
    wc_app_secret = fields.Char(related="account_id.wc_app_secret", readonly=False)
    wc_token = fields.Char(related="account_id.wc_token", readonly=False)
    wc_encoding_aes_key = fields.Char(related="account_id.wc_encoding_aes_key", readonly=False)
    wc_encryption = fields.Selection(related="account_id.wc_encryption", readonly=False)
