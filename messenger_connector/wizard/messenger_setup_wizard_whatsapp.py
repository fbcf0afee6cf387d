from odoo import fields, models


class MessengerSetupWizard(models.TransientModel):
    """The WhatsApp credentials, typed in at the assistant's steps."""

    _inherit = "messenger.setup.wizard"

    wa_phone_number_id = fields.Char(related="account_id.wa_phone_number_id", readonly=False)
    wa_business_account_id = fields.Char(related="account_id.wa_business_account_id", readonly=False)
    wa_access_token = fields.Char(related="account_id.wa_access_token", readonly=False)
    wa_app_secret = fields.Char(related="account_id.wa_app_secret", readonly=False)
    wa_verify_token = fields.Char(related="account_id.wa_verify_token")
