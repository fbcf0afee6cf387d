from werkzeug.urls import url_encode

from odoo import api, fields, models

from .messenger_account import MANAGER, _new_token


class MessengerAccount(models.Model):
    """WhatsApp Business (Cloud API): one account per phone number."""

    _inherit = "messenger.account"

    provider = fields.Selection(selection_add=[("whatsapp", "WhatsApp Business")],
                                ondelete={"whatsapp": "cascade"}, default="whatsapp")
    wa_phone_number_id = fields.Char("Phone Number ID", groups=MANAGER)
    wa_access_token = fields.Char("Access Token", groups=MANAGER, copy=False)
    wa_app_secret = fields.Char("App Secret", groups=MANAGER, copy=False)
    wa_verify_token = fields.Char(
        "Verify Token", groups=MANAGER, copy=False, default=_new_token,
        help="Paste this into Meta's webhook configuration together with the webhook URL.",
    )
    wa_api_version = fields.Char("Graph API Version", default="v21.0")
    wa_display_phone = fields.Char(
        "Public Number", help="The WhatsApp number customers write to, in international form (+32 470 12 34 56); "
                              "used for click-to-chat links.")
    wa_business_account_id = fields.Char(
        "WhatsApp Business Account ID",
        help="The WABA id (Meta Business Suite > WhatsApp accounts): its approved templates are synced from it.")

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider == "whatsapp":
            account = self.sudo()
            config.update(
                phone_number_id=account.wa_phone_number_id,
                access_token=account.wa_access_token,
                app_secret=account.wa_app_secret,
                verify_token=account.wa_verify_token,
                api_version=account.wa_api_version or "v21.0",
                business_account_id=(account.wa_business_account_id or "").strip(),
            )
        return config

    def _routing_fields(self):
        """One Meta app has one webhook URL for all its numbers."""
        if self.provider != "whatsapp":
            return super()._routing_fields()
        return "wa_phone_number_id", "wa_app_secret"

    def _chat_link(self, text):
        if self.provider != "whatsapp":
            return super()._chat_link(text)
        digits = "".join(c for c in self.wa_display_phone or "" if c.isdigit())
        return digits and f"https://wa.me/{digits}?{url_encode({'text': text})}"

    def _templates_source(self):
        if self.provider != "whatsapp":
            return super()._templates_source()
        return (self.wa_business_account_id or "").strip(), self._fields["wa_business_account_id"].string

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("a public WhatsApp number")]

    # --- set-up assistant and checks -----------------------------------------------------------------------

    def _setup_steps(self):
        if self.provider != "whatsapp":
            return super()._setup_steps()
        _ = self.env._
        return [
            {"key": "number", "title": _("Phone number"),
             "help": _("In developers.facebook.com, open your app > WhatsApp > API Setup: copy the Phone Number ID "
                       "and the WhatsApp Business Account ID below.")},
            {"key": "token", "title": _("Access token"),
             "help": _("In Meta Business Settings > Users > System users, generate a token for the app with the "
                       "permissions whatsapp_business_messaging and whatsapp_business_management, and paste it "
                       "below. (The temporary token of API Setup expires within a day.)")},
            {"key": "secret", "title": _("App Secret"),
             "help": _("In the app's dashboard, App settings > Basic: show the App Secret and paste it below. Odoo "
                       "checks every delivery's signature with it.")},
            {"key": "webhook", "title": _("Webhook"),
             "help": _("In the app's dashboard, WhatsApp > Configuration: paste the webhook URL as Callback URL and "
                       "the verify token, press Verify and save, then subscribe to the field messages.")},
            {"key": "check", "title": _("Check"),
             "help": _("Check the set-up: Odoo asks Meta about the number, the token, the App Secret and the "
                       "webhook.")},
        ]

    def _finding_in_words(self, finding):
        if self.provider != "whatsapp":
            return super()._finding_in_words(finding)
        _ = self.env._
        params = finding.params
        words = {
            "token_valid": lambda: _("The access token is valid for the number %(number)s (%(name)s).",
                                     number=params["number"], name=params["name"]),
            "token_invalid": lambda: _(
                "Meta does not accept the access token for this Phone Number ID: check both in API Setup, and "
                "generate a system user token if the temporary one expired."),
            "secret_ok": lambda: _("The App Secret is the one of the app that owns the token."),
            "secret_missing": lambda: _(
                "No App Secret: every delivery is refused. Paste it from App settings > Basic."),
            "secret_wrong": lambda: _(
                "The App Secret is not the one of the app that owns the token: copy it again from App settings > "
                "Basic."),
            "number_connected": lambda: _("The number is registered and connected (messaging limit %(tier)s).",
                                          tier=params["tier"] or "?"),
            "number_not_registered": lambda: _(
                "The number is not registered for the Cloud API (%(platform)s): register it in API Setup.",
                platform=params["platform"]),
            "number_status": lambda: _("The number's status is %(status)s: see WhatsApp Manager.",
                                       status=params["status"]),
            "token_permanent": lambda: _("The token does not expire and has the WhatsApp permissions."),
            "token_expires": lambda: _(
                "The token expires on %(at)s: generate a system user token that does not expire.",
                at=self._format_time(params["at"])),
            "token_scopes": lambda: _("The token lacks the permissions %(missing)s: generate it again with them.",
                                      missing=params["missing"]),
            "webhook_missing": lambda: _(
                "The app has no WhatsApp webhook: set it in WhatsApp > Configuration."),
            "webhook_elsewhere": lambda: _(
                "The app's webhook points to another URL (%(url)s): paste this account's webhook URL in WhatsApp > "
                "Configuration.", url=params["url"]),
            "webhook_ok": lambda: _("The app's webhook points to this account."),
            "field_missing": lambda: _(
                "The app is not subscribed to the field %(field)s: nothing arrives. Subscribe to it in WhatsApp > "
                "Configuration.", field=params["field"]),
            "fields_ok": lambda: _("The app is subscribed to: %(fields)s.", fields=params["fields"]),
            "app_subscribed": lambda: _("The app is subscribed to the WhatsApp Business Account."),
            "app_not_subscribed": lambda: _(
                "The app is not subscribed to the WhatsApp Business Account: its events go nowhere (POST "
                "/<WABA ID>/subscribed_apps with the token)."),
            "waba_missing": lambda: _(
                "Without the WhatsApp Business Account ID the app's subscription cannot be checked: fill it in."),
        }
        return words[finding.key]() if finding.key in words else super()._finding_in_words(finding)

    def _refusal_in_words(self, reason):
        if self.provider != "whatsapp" or reason != "signature":
            return super()._refusal_in_words(reason)
        return self.env._("signature did not match: the App Secret on this account is not the one of the app that "
                          "calls us")
