from odoo import fields, models


class MessengerSetupWizard(models.TransientModel):
    """The Page's (or Instagram account's) credentials, typed in at the assistant's steps."""

    _inherit = "messenger.setup.wizard"

    meta_page_id = fields.Char(related="account_id.meta_page_id", readonly=False)
    meta_access_token = fields.Char(related="account_id.meta_access_token", readonly=False)
    meta_app_secret = fields.Char(related="account_id.meta_app_secret", readonly=False)
    meta_verify_token = fields.Char(related="account_id.meta_verify_token")
