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

    # --- set-up assistant and checks -----------------------------------------------------------------------

    def _setup_steps(self):
        if self.provider != "telegram":
            return super()._setup_steps()
        return [
            {"key": "bot", "title": self.env._("Bot token"),
             "help": self.env._("In Telegram, write /newbot to @BotFather (or /token for an existing bot) and paste "
                                "the token it gives (digits, a colon, then letters) below.")},
            {"key": "webhook", "title": self.env._("Webhook"),
             "help": self.env._("Register the webhook: Odoo tells Telegram its URL and the secret Telegram sends "
                                "with every update. Nothing is to be typed in Telegram.")},
            {"key": "check", "title": self.env._("Check"),
             "help": self.env._("Check the set-up: Odoo asks Telegram about the bot and its webhook.")},
        ]

    def _finding_in_words(self, finding):
        if self.provider != "telegram":
            return super()._finding_in_words(finding)
        params = finding.params
        words = {
            "token_valid": lambda: self.env._("The bot token is valid: it belongs to %(bot)s.", bot=params["bot"]),
            "token_invalid": lambda: self.env._(
                "Telegram does not know this bot token: copy it again from @BotFather (/token)."),
            "webhook_missing": lambda: self.env._(
                "No webhook is set: Telegram keeps the updates. Press Register Webhook."),
            "webhook_elsewhere": lambda: self.env._(
                "Telegram's webhook points to another URL (%(url)s): press Register Webhook to point it here.",
                url=params["url"]),
            "webhook_error": lambda: self.env._(
                "Telegram could not deliver to the webhook on %(at)s: %(reason)s", reason=params["reason"],
                at=params["at"] and self._format_time(params["at"]) or "?"),
            "updates_missing": lambda: self.env._(
                "Telegram does not send these kinds of updates: %(missing)s. Press Register Webhook.",
                missing=params["missing"]),
            "updates_pending": lambda: self.env._("%(count)s updates wait at Telegram for delivery.",
                                                  count=params["count"]),
        }
        return words[finding.key]() if finding.key in words else super()._finding_in_words(finding)

    def _refusal_in_words(self, reason):
        if self.provider != "telegram" or reason != "signature":
            return super()._refusal_in_words(reason)
        return self.env._("the secret token did not match: Telegram's webhook was registered with another secret. "
                          "Press Register Webhook.")
