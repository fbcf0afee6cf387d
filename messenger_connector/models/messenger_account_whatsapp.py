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
