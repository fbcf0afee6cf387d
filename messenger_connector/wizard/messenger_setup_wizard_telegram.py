from odoo import fields, models


class MessengerSetupWizard(models.TransientModel):
    """The bot token, typed in at the assistant's first step."""

    _inherit = "messenger.setup.wizard"

    tg_bot_token = fields.Char(related="account_id.tg_bot_token", readonly=False)
