from werkzeug.urls import url_encode

from odoo import api, fields, models

from .messenger_account import MANAGER


class MessengerAccount(models.Model):
    """X (Twitter) Direct Messages: one account per X user subscribed to the app's Account Activity webhook."""

    _inherit = "messenger.account"

    provider = fields.Selection(selection_add=[("x", "X (Direct Messages)")], ondelete={"x": "cascade"})
    x_user_id = fields.Char(
        "X User ID", groups=MANAGER,
        help="The numeric id of the X account that receives the direct messages (not its @username).")
    x_consumer_secret = fields.Char(
        "Consumer Secret", groups=MANAGER, copy=False,
        help="The X app's API Key Secret: it answers X's CRC checks and verifies every delivery's signature.")
    x_access_token = fields.Char(
        "User Access Token", groups=MANAGER, copy=False,
        help="An OAuth 2.0 user-context token of this X account with the dm.read, dm.write, users.read and "
             "tweet.read scopes.")

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider == "x":
            account = self.sudo()
            config.update(user_id=(account.x_user_id or "").strip() or None,
                          consumer_secret=account.x_consumer_secret, access_token=account.x_access_token)
        return config

    def _routing_fields(self):
        """One X app has one webhook URL for every account subscribed to it (``for_user_id`` names ours)."""
        if self.provider != "x":
            return super()._routing_fields()
        return "x_user_id", "x_consumer_secret"

    def _chat_link(self, text):
        """X's link that opens a direct message to the account with ``text`` typed in."""
        if self.provider != "x":
            return super()._chat_link(text)
        # sudo: the account's id is public on X; the field is a manager's to set, the link everybody's to share
        user_id = (self.sudo().x_user_id or "").strip()
        query = url_encode({"recipient_id": user_id, "text": text})
        return user_id.isdigit() and f"https://x.com/messages/compose?{query}"

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("an X user id")]
