from urllib.parse import quote, urlencode

from odoo import api, fields, models

from .messenger_account import MANAGER, _new_token

META_PROVIDERS = ("messenger", "instagram")


class MessengerAccount(models.Model):
    """Facebook Messenger and Instagram (Graph webhooks, Send API): one account per Facebook Page or Instagram
    professional account. The two platforms share their credentials' fields: one Meta app serves both."""

    _inherit = "messenger.account"

    provider = fields.Selection(
        selection_add=[("messenger", "Facebook Messenger"), ("instagram", "Instagram")],
        ondelete={"messenger": "cascade", "instagram": "cascade"})
    meta_page_id = fields.Char(
        "Page ID", groups=MANAGER,
        help="Messenger: the Facebook Page ID. Instagram: the Instagram professional account ID (what Meta's "
             "webhooks name the account).")
    meta_access_token = fields.Char("Page Access Token", groups=MANAGER, copy=False)
    meta_app_secret = fields.Char("Messenger/Instagram App Secret", groups=MANAGER, copy=False)
    meta_verify_token = fields.Char(
        "Messenger/Instagram Verify Token", groups=MANAGER, copy=False, default=_new_token,
        help="Paste this into Meta's webhook configuration together with the webhook URL.")
    meta_human_agent = fields.Boolean(
        "Human Agent Permission", groups=MANAGER,
        help="The Meta app has the Human Agent permission: a reply typed by an agent may still go up to 7 days "
             "after the person's last message (with the HUMAN_AGENT tag). Without it, replies stop 24 hours "
             "after the person's last message.")
    meta_api_version = fields.Char("Messenger/Instagram Graph API Version", default="v21.0")
    meta_username = fields.Char(
        "Public Username",
        help="The page's username (m.me/<username>) or the Instagram username (ig.me/m/<username>): used for "
             "click-to-chat links. Instagram: filled by 'Test connection'.")

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider in META_PROVIDERS:
            account = self.sudo()
            config.update(
                page_id=(account.meta_page_id or "").strip(),
                access_token=account.meta_access_token,
                app_secret=account.meta_app_secret,
                verify_token=account.meta_verify_token,
                api_version=account.meta_api_version or "v21.0",
                human_agent=account.meta_human_agent,
            )
        return config

    def _routing_fields(self):
        """One Meta app has one webhook URL for all its pages."""
        if self.provider not in META_PROVIDERS:
            return super()._routing_fields()
        return "meta_page_id", "meta_app_secret"

    def _connection_tested(self, description):
        result = super()._connection_tested(description)
        if self.provider == "instagram" and description and description.startswith("@") and not self.meta_username:
            self.meta_username = description[1:]
        return result

    def _chat_link(self, text):
        if self.provider not in META_PROVIDERS:
            return super()._chat_link(text)
        # the reference comes back as the webhook's ``ref`` (a referral, or the Get Started postback's)
        query = urlencode({"ref": text})
        username = (self.meta_username or "").strip().lstrip("@")
        if self.provider == "instagram":
            return username and f"https://ig.me/m/{quote(username)}?{query}"
        # sudo: the page id is public on Facebook; only the link is shown
        page = username or (self.sudo().meta_page_id or "").strip()
        return page and f"https://m.me/{quote(page)}?{query}"

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("a Facebook page"), self.env._("an Instagram username")]
