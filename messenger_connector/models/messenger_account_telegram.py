import secrets

from werkzeug.urls import url_encode

from odoo import api, fields, models

from .messenger_account import MANAGER


class MessengerAccount(models.Model):
    """Telegram: one account per bot."""

    _inherit = "messenger.account"

    provider = fields.Selection(selection_add=[("telegram", "Telegram")], ondelete={"telegram": "cascade"})
    tg_bot_token = fields.Char("Bot Token", groups=MANAGER, copy=False)
    tg_secret_token = fields.Char(
        "Webhook Secret", groups=MANAGER, copy=False,
        default=lambda self: secrets.token_hex(32),
        help="Sent by Telegram with every update; set automatically by 'Register webhook'.",
    )
    tg_bot_username = fields.Char("Bot Username", help="Filled by 'Test connection'.")

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider == "telegram":
            config.update(bot_token=self.sudo().tg_bot_token, secret_token=self.sudo().tg_secret_token)
        return config

    def _connection_tested(self, description):
        result = super()._connection_tested(description)
        if self.provider == "telegram" and description and description.startswith("@"):
            self.tg_bot_username = description[1:]
        return result

    def _webhook_secret(self):
        if self.provider != "telegram":
            return super()._webhook_secret()
        account = self.sudo()
        if not account.tg_secret_token:
            account.tg_secret_token = secrets.token_hex(32)
        return account.tg_secret_token

    def _chat_link(self, text):
        if self.provider != "telegram":
            return super()._chat_link(text)
        return self.tg_bot_username and f"https://t.me/{self.tg_bot_username}?{url_encode({'start': text})}"

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("a Telegram bot username")]
