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

    # --- set-up assistant and checks -----------------------------------------------------------------------

    def _setup_steps(self):
        if self.provider not in META_PROVIDERS:
            return super()._setup_steps()
        _ = self.env._
        instagram = self.provider == "instagram"
        return [
            {"key": "page", "title": _("Instagram account") if instagram else _("Page"),
             "help": _("In Meta Business Suite > Settings > Accounts > Instagram accounts, copy the Instagram "
                       "professional account ID below; the account must be linked to a Facebook Page.")
             if instagram else _("On the Facebook Page, About > Page transparency (or Meta Business Suite > "
                                 "Settings > Pages), copy the Page ID below.")},
            {"key": "token", "title": _("Page access token"),
             "help": _("In developers.facebook.com, open your app > Messenger (or Instagram) > API settings: "
                       "generate the Page's access token and paste it below. It needs the permission %(scope)s.",
                       scope="instagram_manage_messages" if instagram else "pages_messaging")},
            {"key": "secret", "title": _("App Secret"),
             "help": _("In the app's dashboard, App settings > Basic: show the App Secret and paste it below. Odoo "
                       "checks every delivery's signature with it.")},
            {"key": "webhook", "title": _("Webhook"),
             "help": _("In the app's dashboard, Webhooks (object %(object)s): paste the webhook URL as Callback URL "
                       "and the verify token, press Verify and save, then subscribe to the fields %(fields)s, and "
                       "add the account to the app's webhook subscriptions.",
                       object="Instagram" if instagram else "Page",
                       fields=", ".join(self._provider_class().required_fields))},
            {"key": "check", "title": _("Check"),
             "help": _("Check the set-up: Odoo asks Meta about the token, the App Secret, the app's webhook and "
                       "the fields this account sends.")},
        ]

    def _finding_in_words(self, finding):
        if self.provider not in META_PROVIDERS:
            return super()._finding_in_words(finding)
        _ = self.env._
        params = finding.params
        words = {
            "token_valid": lambda: _("The access token is valid and belongs to %(account)s.",
                                     account=params["account"]),
            "token_invalid": lambda: _(
                "Meta does not accept the access token for this ID: check the ID, and generate the Page's token "
                "again."),
            "secret_ok": lambda: _("The App Secret is the one of the app that owns the token."),
            "secret_missing": lambda: _(
                "No App Secret: every delivery is refused. Paste it from App settings > Basic."),
            "secret_wrong": lambda: _(
                "The App Secret is not the one of the app that owns the token: copy it again from App settings > "
                "Basic."),
            "token_permanent": lambda: _("The token does not expire and has the messaging permission."),
            "token_expires": lambda: _("The token expires on %(at)s: generate a Page token that does not expire.",
                                       at=self._format_time(params["at"])),
            "token_scopes": lambda: _("The token lacks the permissions %(missing)s: generate it again with them.",
                                      missing=params["missing"]),
            "webhook_missing": lambda: _("The app has no webhook for this platform: set it in the app's Webhooks."),
            "webhook_elsewhere": lambda: _(
                "The app's webhook points to another URL (%(url)s): paste this account's webhook URL in the app's "
                "Webhooks.", url=params["url"]),
            "webhook_ok": lambda: _("The app's webhook points to this account."),
            "field_missing": lambda: _(
                "The app's webhook is subscribed to %(fields)s but not to %(field)s: subscribe to it in the app's "
                "Webhooks.", fields=params.get("fields") or "-", field=params["field"]),
            "fields_ok": lambda: _("The app's webhook is subscribed to: %(fields)s.", fields=params["fields"]),
            "app_subscribed": lambda: _("The account sends these fields to the app: %(fields)s.",
                                        fields=params["fields"]),
            "app_not_subscribed": lambda: _(
                "The account is not subscribed to the app: add it in the app's Webhooks (Subscribe), or its "
                "events go nowhere."),
            "page_field_missing": lambda: _(
                "The account sends %(fields)s to the app but not %(field)s: subscribe the account to it.",
                fields=params.get("fields") or "-", field=params["field"]),
        }
        return words[finding.key]() if finding.key in words else super()._finding_in_words(finding)

    def _refusal_in_words(self, reason):
        if self.provider not in META_PROVIDERS or reason != "signature":
            return super()._refusal_in_words(reason)
        return self.env._("signature did not match: the App Secret on this account is not the one of the app that "
                          "calls us")
