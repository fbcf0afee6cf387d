import datetime
import logging
import time

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import providers as prov
from ..providers import ProviderError
from ..providers import _wechat_crypto
from ..providers.wechat import ACCOUNT_TYPES, ENCRYPTIONS
from .messenger_account import MANAGER

_logger = logging.getLogger(__name__)

#: customer-service messages per person after each interaction (PROVIDERS.md; older WeChat documents differ)
DEFAULT_QUOTA_AFTER_MESSAGE = 5
DEFAULT_QUOTA_AFTER_EVENT = 3
#: (account id, scene) -> when (monotonic) WeChat could not make that QR code, in this process: not asked again
#: for QR_RETRY_SECONDS
_QR_FAILURES = {}
QR_RETRY_SECONDS = 300


class MessengerAccount(models.Model):
    """WeChat Official Accounts (subscription and service accounts)."""

    _inherit = "messenger.account"

    provider = fields.Selection(selection_add=[("wechat", "WeChat Official Account")],
                                ondelete={"wechat": "cascade"})
    wc_app_id = fields.Char("AppID", groups=MANAGER, copy=False)
    wc_app_secret = fields.Char("AppSecret", groups=MANAGER, copy=False)
    wc_token = fields.Char(
        "Token", groups=MANAGER, copy=False,
        help="The signature token typed in the account's server configuration (Settings and Development > Basic "
             "Configuration).")
    wc_encoding_aes_key = fields.Char(
        "EncodingAESKey", groups=MANAGER, copy=False, help="The 43 characters of the server configuration.")
    wc_last_broadcast_at = fields.Datetime(
        "Last Broadcast", readonly=True, copy=False,
        help="WeChat: when the account's last broadcast was sent or tried (its quota is counted after it).")
    wc_encryption = fields.Selection(
        [(key, label) for key, label in zip(ENCRYPTIONS, ["Plain text", "Compatible", "Safe (encrypted)"])],
        "Message Encryption", default="safe", groups=MANAGER,
        help="The encryption mode chosen in the server configuration.")
    wc_account_type = fields.Selection(
        [(key, label) for key, label in zip(ACCOUNT_TYPES, ["Subscription account", "Service account"])],
        "Account Type", default="service", groups=MANAGER,
        help="Service accounts may send template messages and broadcast four times a calendar month; subscription "
             "accounts broadcast once a day.")
    wc_original_id = fields.Char(
        "Original ID", groups=MANAGER, copy=False, help="The account's gh_... id (every delivery is addressed to it).")
    wc_quota_after_message = fields.Integer(
        "Replies after a Message", default=DEFAULT_QUOTA_AFTER_MESSAGE, groups=MANAGER,
        help="Customer-service messages WeChat lets the account send a person after each message of theirs.")
    wc_quota_after_event = fields.Integer(
        "Replies after a Click or Scan", default=DEFAULT_QUOTA_AFTER_EVENT, groups=MANAGER,
        help="Customer-service messages WeChat lets the account send a person after a menu click, a follow or a QR "
             "code scan.")
    wc_qr_codes = fields.Json(
        "WeChat QR Codes", readonly=True, copy=False, groups=MANAGER,
        help="Permanent parametric QR codes made for this account, by scene (JOB-<id>).")

    @api.constrains("provider", "wc_encoding_aes_key", "wc_encryption")
    def _check_wechat_key(self):
        for account in self.sudo().filtered(lambda a: a.provider == "wechat"):
            if account.wc_encoding_aes_key:
                try:
                    _wechat_crypto.aes_key(account.wc_encoding_aes_key.strip())
                except ValueError:
                    raise ValidationError(_("The EncodingAESKey has 43 letters and digits, as WeChat shows it.")) \
                        from None
            elif account.wc_encryption in ("compatible", "safe"):
                raise ValidationError(_("Encrypted messages need the account's EncodingAESKey."))

    def _provider_config(self):
        config = super()._provider_config()
        account = self.sudo()
        if account.provider == "wechat":
            config.update(
                app_id=(account.wc_app_id or "").strip(), app_secret=account.wc_app_secret,
                token=account.wc_token, encoding_aes_key=(account.wc_encoding_aes_key or "").strip(),
                encryption=account.wc_encryption or "safe", account_type=account.wc_account_type or "service",
                original_id=(account.wc_original_id or "").strip(),
            )
        return config

    def _get_provider(self):
        """A WeChat client gets the account's shared token lazily: only a call to WeChat asks for it, and after
        a token error it asks for a new one in place of the stale one (messenger.wechat.token)."""
        provider = super()._get_provider()
        if self.sudo().provider == "wechat":
            account = self.sudo()
            provider.config["token_source"] = lambda stale: account.env["messenger.wechat.token"]._get_token(
                account, stale)
        return provider

    def _chat_link(self, text):
        """A WeChat account's link to a job is its permanent parametric QR code of the job's reference."""
        if self.provider != "wechat":
            return super()._chat_link(text)
        code = self._wechat_qr(text)
        return code and code.get("url") or False

    def _wechat_qr(self, scene):
        """The permanent QR code (``{"ticket", "url", "image_url"}``) of ``scene`` for this account, created once
        and kept; False when WeChat cannot make it now (the reason is logged)."""
        self.ensure_one()
        codes = dict(self.sudo().wc_qr_codes or {})
        if scene in codes:
            return codes[scene]
        failed_at = _QR_FAILURES.get((self.id, scene))
        if failed_at and time.monotonic() - failed_at < QR_RETRY_SECONDS:
            return False  # asked in vain a moment ago: a job form does not wait for WeChat's timeout again
        try:
            code = self._get_provider().create_qr(scene)
        except ProviderError as error:
            _QR_FAILURES[self.id, scene] = time.monotonic()
            _logger.warning("WeChat QR code of %s for account %s not created: %s", scene, self.id, error.message)
            return False
        _QR_FAILURES.pop((self.id, scene), None)
        codes[scene] = code
        self.sudo().wc_qr_codes = codes  # sudo: a cache of what WeChat made; only the addon writes it
        return code

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("a WeChat Official Account (its QR codes)")]

    def action_test_connection(self):
        if self.provider == "wechat":
            self._check_manager()
            self.ensure_one()
            if not (self.sudo().wc_app_id and self.sudo().wc_app_secret):
                raise UserError(_("Fill in the account's AppID and AppSecret first."))
        return super().action_test_connection()


class MessengerConversation(models.Model):
    """WeChat followers: following is the service opt-in and opens the reply window; the quota of
    customer-service messages per person is checked before a message is queued."""

    _inherit = "messenger.conversation"

    wc_quota_after_id = fields.Integer(
        "WeChat Quota Start", readonly=True, copy=False,
        help="WeChat: the customer-service messages of this conversation with a greater id count against the quota "
             "of the person's last interaction.")
    wc_quota_kind = fields.Selection(
        [("message", "Message"), ("event", "Menu click, follow or scan")], "WeChat Last Interaction",
        readonly=True, copy=False,
        help="WeChat: the kind of the person's last interaction, which decides their quota.")
    wc_union_id = fields.Char(
        "WeChat UnionID", readonly=True, copy=False, index="btree_not_null",
        help="The person across the WeChat accounts of the same owner (where WeChat gives it): their chats with "
             "our other accounts find the same contact.")

    def _apply_platform_event(self, event):
        """Following the account (subscribe) is the person's request for its service messages: a service opt-in
        with the event as evidence, which also ends a block left by an earlier unfollow, and an interaction
        that opens WeChat's 48-hour window. Unfollowing (BLOCK) is the core's block."""
        if self.provider != "wechat" or event.kind != prov.OPT_IN:
            return super()._apply_platform_event(event)
        raw = event.raw or {}
        evidence = _("WeChat event %(event)s %(key)s at %(time)s", event=raw.get("Event") or "subscribe",
                     key=raw.get("EventKey") or "", time=raw.get("CreateTime") or "")
        self._opt_in(["service"], "platform", evidence=evidence, confirm=False)
        when = self.env["messenger.message"]._event_time(event)
        if not self.last_inbound_at or when >= self.last_inbound_at:
            hours = self.account_id.window_hours
            self.write({"last_inbound_at": when, "state": "waiting",
                        "window_expires_at": hours and when + datetime.timedelta(hours=hours) or False})
        # the quota after a follow counts the messages queued from now on
        self.env.cr.execute("SELECT COALESCE(max(id), 0) FROM messenger_message WHERE conversation_id = %s",
                            [self.id])
        self._start_wechat_quota(self.env.cr.fetchone()[0], "event")
        return None

    def _person_events(self):
        """An OpenID is the person's on one account only, and an encrypted body does not show it: the account's
        deliveries are read (decrypted) one by one."""
        if self.provider != "wechat":
            return super()._person_events()
        self.ensure_one()
        identity = self.external_user_id
        # sudo: raw deliveries are managers-only records; only their content is removed by the caller
        events = self.env["messenger.event"].sudo().search([
            ("account_id", "=", self.account_id.id), ("state", "!=", "pending")])
        return events.filtered(lambda event: identity in event._values())

    def _apply_profile(self, profile):
        """The UnionID links the person's chats with our other WeChat accounts: a chat whose contact is only its
        OpenID (WeChat gives no name nor number) takes the contact of the same person's other chat."""
        result = super()._apply_profile(profile)
        if self.provider == "wechat" and profile.union_id:
            self.sudo().wc_union_id = profile.union_id  # sudo: what WeChat said; only the addon writes it
            if not self.partner_id or self.partner_id.name == self.external_user_id:
                # sudo: the contact is found across accounts by the platform's own identity, as by phone number
                sibling = self.sudo().search([
                    ("wc_union_id", "=", profile.union_id), ("id", "!=", self.id), ("partner_id", "!=", False),
                    ("company_id", "=", self.company_id.id)], limit=1)
                if sibling:
                    self.sudo().partner_id = sibling.partner_id
        return result

    def _receive(self, event, event_record):
        message = super()._receive(event, event_record)
        if self.provider == "wechat" and message and message.id > self.wc_quota_after_id:
            # a menu click or a QR scan arrives as a button press (content type callback)
            self._start_wechat_quota(message.id, "event" if message.content_type == "callback" else "message")
        return message

    def _start_wechat_quota(self, after_id, kind):
        # sudo: the quota is the platform's, kept by the addon whoever's delivery is processed
        self.sudo().write({"wc_quota_after_id": after_id, "wc_quota_kind": kind})

    def _queue(self, vals, attachment_ids=None):
        if self.provider == "wechat" and vals.get("content_type") != "template":
            self._check_wechat_quota()
        return super()._queue(vals, attachment_ids=attachment_ids)

    def _check_wechat_quota(self):
        """Refuse (UserError) once the person received every customer-service message WeChat allows after their
        last interaction (a message, or a menu click, follow or scan); WeChat's own 45047 answer stays the
        last word at send time.

        Messages are counted by id, not by time: what was queued after the interaction was stored, whatever the
        clocks of WeChat and of the database transactions say."""
        self.ensure_one()
        if not self.wc_quota_kind:
            return  # never interacted: the window check refuses
        account = self.account_id.sudo()
        after_event = self.wc_quota_kind == "event"
        quota = account.wc_quota_after_event if after_event else account.wc_quota_after_message
        if quota <= 0:
            return  # no quota configured: WeChat's answer decides
        sent = self.env["messenger.message"].sudo().search_count([
            ("conversation_id", "=", self.id), ("direction", "=", "out"), ("content_type", "!=", "template"),
            ("state", "!=", "failed"), ("id", ">", self.wc_quota_after_id)])
        if sent >= quota:
            raise UserError(_(
                "WeChat lets the account send %(quota)s messages to a person after each %(interaction)s, and "
                "%(name)s has received them all since then. More may go once they write again, or as a "
                "template message.", quota=quota, name=self.name,
                interaction=_("menu click, follow or scan") if after_event else _("message of theirs")))


class MessengerEvent(models.Model):
    """WeChat deliveries: a broadcast's final report reaches its broadcast; a delivery names its person inside
    XML, and in safe mode only once decrypted (what retention and erasure read to find a person's deliveries)."""

    _inherit = "messenger.event"

    def _apply(self, batch=None):
        info = super()._apply(batch)
        if self.provider == "wechat":
            Broadcast = self.env["messenger.wechat.broadcast"]
            for ev in self._parse(batch):
                if (ev.raw or {}).get("Event") == "MASSSENDJOBFINISH":
                    Broadcast._apply_job_finish(self.account_id, ev.raw)
        return info

    def _body_object(self):
        if self.provider != "wechat":
            return super()._body_object()
        try:
            return self.account_id._get_provider().message_fields((self.body or "").encode())
        except (prov.WebhookError, ValueError):
            return None  # content already removed ("{}"), or a key changed since: nothing readable is left



class MessengerAccountSetup(models.Model):
    """WeChat's set-up assistant: its steps, and its checks in words."""

    _inherit = "messenger.account"

    def _setup_steps(self):
        if self.provider != "wechat":
            return super()._setup_steps()
        return [
            {"key": "app", "title": _("AppID and AppSecret"),
             "help": _("In the WeChat Official Accounts Platform (mp.weixin.qq.com), Settings and Development > Basic "
                       "Configuration: copy the AppID and the AppSecret below, and add this server's public IP "
                       "address to the IP whitelist.")},
            {"key": "server", "title": _("Server configuration"),
             "help": _("On the same page, Server Configuration: paste the webhook URL as URL, and type the Token and "
                       "EncodingAESKey below there exactly; choose the same message encryption, then Submit. "
                       "WeChat tests the server at once: a failure shows here as a refused verification.")},
            {"key": "check", "title": _("Check"),
             "help": _("Check the set-up: Odoo asks WeChat for an access token and the callback addresses.")},
        ]

    def _finding_in_words(self, finding):
        if self.provider != "wechat":
            return super()._finding_in_words(finding)
        params = finding.params
        words = {
            "credentials_ok": lambda: _("WeChat accepts the AppID %(app_id)s and its AppSecret.",
                                        app_id=params["app_id"]),
            "credentials_wrong": lambda: _(
                "WeChat refuses the AppID or AppSecret (error %(code)s): copy both again from Basic Configuration "
                "(a reset AppSecret replaces the old one).", code=params["code"]),
            "ip_not_whitelisted": lambda: _(
                "WeChat refuses calls from this server: add its public IP address to the IP whitelist in Basic "
                "Configuration."),
            "ip_ok": lambda: _("This server's IP address is on the account's IP whitelist."),
            "server_manual": lambda: _(
                "WeChat does not show its server configuration: check there that the URL is %(url)s and that the "
                "Token, EncodingAESKey and encryption are this account's.", url=params["url"]),
        }
        return words[finding.key]() if finding.key in words else super()._finding_in_words(finding)

    def _refusal_in_words(self, reason):
        if self.provider != "wechat" or reason not in ("handshake", "signature"):
            return super()._refusal_in_words(reason)
        if reason == "handshake":
            return _("WeChat's server test failed: the Token in WeChat's server configuration differs from this "
                     "account's")
        return _("signature did not match: the Token or EncodingAESKey in WeChat's server configuration differs "
                 "from this account's")
