import datetime
import hmac
import secrets

from werkzeug.urls import url_parse

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from ..providers.base import CHECK_MANUAL, CHECK_OK, CHECK_WRONG
from .messenger_account import MANAGER

#: the database's monitoring key (ir.config_parameter): the monitoring route answers only to it
MONITORING_KEY = "messenger_connector.monitoring_key"
#: refusals of the last hour from which the account's managers are alerted, when the account sets none
DEFAULT_REFUSAL_ALERT = 20
STATE_SYMBOLS = {CHECK_OK: "✔", CHECK_WRONG: "✘", CHECK_MANUAL: "☐"}


class MessengerAccount(models.Model):
    """What an account's platform and webhook tell about its set-up: the health panel, the set-up checks, the
    alerts and the monitoring facts."""

    _inherit = "messenger.account"

    # --- deliveries (messenger.delivery.count) ------------------------------------------------------------
    last_delivery_at = fields.Datetime("Last Delivery", compute="_compute_deliveries",
                                       help="When the platform's last delivery was accepted.")
    last_refusal_at = fields.Datetime("Last Refusal", compute="_compute_deliveries")
    last_refusal_reason = fields.Char(compute="_compute_deliveries")
    accepted_24h = fields.Integer("Accepted (24 h)", compute="_compute_deliveries")
    duplicate_24h = fields.Integer("Duplicates (24 h)", compute="_compute_deliveries")
    refused_signature_24h = fields.Integer("Bad Signature (24 h)", compute="_compute_deliveries")
    refused_malformed_24h = fields.Integer("Malformed (24 h)", compute="_compute_deliveries")
    refused_too_large_24h = fields.Integer("Too Large (24 h)", compute="_compute_deliveries")
    refused_handshake_24h = fields.Integer("Verification Refused (24 h)", compute="_compute_deliveries")
    refused_1h = fields.Integer("Refused (last hour)", compute="_compute_deliveries")
    # --- processing -----------------------------------------------------------------------------------------
    events_pending_count = fields.Integer("Events Waiting", compute="_compute_processing")
    events_failed_count = fields.Integer("Events Failed", compute="_compute_processing")
    failed_reasons = fields.Text("Messages Failed by Reason", compute="_compute_processing")
    templates_synced_at = fields.Datetime("Templates Synced", compute="_compute_processing")
    # --- what the last checks found --------------------------------------------------------------------------
    health_checked_at = fields.Datetime("Last Check", readonly=True, copy=False)
    health_report = fields.Text("Check Results", readonly=True, copy=False)
    health_ok = fields.Boolean("Set-up Correct", readonly=True, copy=False)
    token_expires_at = fields.Datetime("Token Expires", readonly=True, copy=False,
                                       help="Empty: the token does not expire, or the platform does not say.")
    messaging_limit_tier = fields.Char("Messaging Limit", readonly=True, copy=False)
    registration_state = fields.Char("Registration", readonly=True, copy=False)
    connection_tested_at = fields.Datetime("Connection Tested", readonly=True, copy=False)
    connection_result = fields.Char("Connection Test Result", readonly=True, copy=False)
    webhook_registered_at = fields.Datetime("Webhook Registered", readonly=True, copy=False)
    webhook_result = fields.Char("Webhook Registration Result", readonly=True, copy=False)
    webhook_url_warning = fields.Char(compute="_compute_webhook_url_warning")
    monitoring_url = fields.Char(
        "Monitoring URL", compute="_compute_monitoring_url", groups="base.group_system",
        help="Every account's health as JSON, for monitoring tools (Prometheus, Uptime Kuma): no credential, no "
             "personal data. One URL per database.")
    # --- alerts --------------------------------------------------------------------------------------------
    silence_alert_hours = fields.Integer(
        "Alert After Silence (h)", default=0,
        help="The account's managers get an activity when the platform, which used to call, sent nothing for "
             "this many working hours (of the company's working schedule). 0: no alert.")
    refusal_alert_count = fields.Integer(
        "Alert After Refusals", default=DEFAULT_REFUSAL_ALERT,
        help="The account's managers get an activity when this many deliveries were refused in the last hour. "
             "0: no alert.")

    # ------------------------------------------------------------------
    # Health panel
    # ------------------------------------------------------------------

    def _compute_deliveries(self):
        now = fields.Datetime.now()
        since, last_hour = now - datetime.timedelta(hours=24), now - datetime.timedelta(hours=1)
        Count = self.env["messenger.delivery.count"].sudo()
        counts, latest = {}, {}
        for account, outcome, reason, hour, total, last_at in Count._read_group(
                [("account_id", "in", self.ids)], ["account_id", "outcome", "reason", "hour:hour"],
                ["count:sum", "last_at:max"]):
            key = account.id, outcome
            if hour >= since.replace(minute=0, second=0, microsecond=0):
                counts[key + (reason or "",)] = counts.get(key + (reason or "",), 0) + total
            if hour >= last_hour.replace(minute=0, second=0, microsecond=0) and outcome == "refused":
                counts[account.id, "refused_1h"] = counts.get((account.id, "refused_1h"), 0) + total
            if outcome in ("accepted", "duplicate"):
                latest[account.id, "delivery"] = max(filter(None, [latest.get((account.id, "delivery")), last_at]))
            elif not latest.get((account.id, "refusal")) or last_at > latest[account.id, "refusal"][0]:
                latest[account.id, "refusal"] = (last_at, reason)
        for account in self:
            account.last_delivery_at = latest.get((account.id, "delivery"))
            refusal = latest.get((account.id, "refusal"))
            account.last_refusal_at = refusal and refusal[0]
            account.last_refusal_reason = refusal and account._refusal_in_words(refusal[1])
            account.accepted_24h = counts.get((account.id, "accepted", ""), 0)
            account.duplicate_24h = counts.get((account.id, "duplicate", ""), 0)
            account.refused_signature_24h = counts.get((account.id, "refused", "signature"), 0)
            account.refused_malformed_24h = counts.get((account.id, "refused", "malformed"), 0)
            account.refused_too_large_24h = counts.get((account.id, "refused", "too_large"), 0)
            account.refused_handshake_24h = counts.get((account.id, "refused", "handshake"), 0)
            account.refused_1h = counts.get((account.id, "refused_1h"), 0)

    def _refusal_in_words(self, reason):
        """Why deliveries are refused and what to fix, in words (a platform's model file names its own secret)."""
        self.ensure_one()
        return {
            "signature": _("signature did not match: the secret on this account is not the one %(platform)s signs "
                           "its deliveries with", platform=self._provider_label()),
            "malformed": _("the delivery was not what %(platform)s sends: is another service calling this URL?",
                           platform=self._provider_label()),
            "too_large": _("the delivery was larger than this account accepts"),
            "unknown_account": _("no active account has this webhook URL"),
            "handshake": _("the webhook verification failed: the verify token typed in %(platform)s's console is "
                           "not this account's", platform=self._provider_label()),
        }.get(reason, reason or "")

    def _compute_processing(self):
        Event = self.env["messenger.event"].sudo()
        events = {(account.id, state): count for account, state, count in Event._read_group(
            [("account_id", "in", self.ids), ("state", "in", ("pending", "failed"))],
            ["account_id", "state"], ["__count"])}
        failed = {}
        for account, code, count in self.env["messenger.message"].sudo()._read_group(
                [("account_id", "in", self.ids), ("state", "=", "failed")], ["account_id", "error_code"],
                ["__count"], order="__count desc"):
            failed.setdefault(account.id, []).append(f"{code or _('no reason')}: {count}")
        synced = dict(self.env["messenger.template"].sudo().with_context(active_test=False)._read_group(
            [("account_id", "in", self.ids)], ["account_id"], ["synced_at:max"]))
        for account in self:
            account.events_pending_count = events.get((account.id, "pending"), 0)
            account.events_failed_count = events.get((account.id, "failed"), 0)
            account.failed_reasons = "\n".join(failed.get(account.id, []))
            account.templates_synced_at = synced.get(account)

    @api.depends("webhook_key")
    def _compute_webhook_url_warning(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        url = url_parse(base_url)
        host = (url.host or "").lower()
        local = host in ("localhost", "127.0.0.1", "::1", "") or host.endswith((".local", ".localhost"))
        warning = False
        if url.scheme != "https" or local:
            warning = _("The platforms call only public HTTPS addresses: this webhook URL starts with %(base)s. "
                        "Set Odoo's web.base.url (Settings > Technical > System Parameters) to the public HTTPS "
                        "address of this Odoo.", base=base_url or "?")
        for account in self:
            account.webhook_url_warning = warning

    # ------------------------------------------------------------------
    # Set-up checks
    # ------------------------------------------------------------------

    def action_check_setup(self):
        """Ask the platform what it knows of this account's set-up; keep the findings in words on the account (the
        form shows them)."""
        self.ensure_one()
        self._check_manager()
        self._check_setup()
        return True

    def _check_setup(self):
        """The platform's findings (Provider.health_checks), kept in words on the account."""
        findings = self._get_provider().health_checks(self.webhook_url)
        lines, facts = [], {}
        for finding in findings:
            lines.append(f"{STATE_SYMBOLS.get(finding.state, '?')} {self._finding_in_words(finding)}")
            facts.update(finding.facts)
        if self.last_refusal_at and self.last_refusal_at > fields.Datetime.now() - datetime.timedelta(hours=24):
            lines.append(f"{STATE_SYMBOLS[CHECK_WRONG]} " + _("Refused on %(at)s: %(reason)s",
                                                                at=self._format_time(self.last_refusal_at),
                                                                reason=self.last_refusal_reason))
        if self.webhook_url_warning:
            lines.append(f"{STATE_SYMBOLS[CHECK_WRONG]} {self.webhook_url_warning}")
        vals = {
            "health_checked_at": fields.Datetime.now(),
            "health_report": "\n".join(lines),
            "health_ok": all(f.state != CHECK_WRONG for f in findings) and not self.webhook_url_warning,
        }
        if "token_expires_at" in facts:
            expiry = facts["token_expires_at"]
            vals["token_expires_at"] = expiry and expiry.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        for key in ("messaging_limit_tier", "registration_state"):
            if key in facts:
                vals[key] = facts[key]
        self.write(vals)
        return findings

    def _finding_in_words(self, finding):
        """A Finding of the platform's checks in words: what is right, or what is wrong and where to fix it. Each
        platform's model file adds its own (``super()`` for the common ones)."""
        self.ensure_one()
        params = {key: self._format_time(value) if isinstance(value, datetime.datetime) else value
                  for key, value in finding.params.items()}
        platform = self._provider_label()
        words = {
            "unreachable": _("Could not reach %(platform)s: check the API URL and this server's internet access.",
                             platform=platform),
            "token_invalid": _("%(platform)s does not accept the token: copy it again from the platform's console.",
                               platform=platform),
            "platform_error": _("%(platform)s answered an error: %(reason)s", platform=platform,
                                reason=params.get("reason", "")),
            "no_checks": _("%(platform)s cannot be asked about this account: check its set-up in the platform's "
                           "console.", platform=platform),
            "webhook_ok": _("%(platform)s sends this account's events to %(url)s.", platform=platform,
                            url=params.get("url", "")),
            "webhook_missing": _("No webhook is set: %(platform)s sends nothing to Odoo yet.", platform=platform),
            "webhook_elsewhere": _("The webhook points to another URL (%(url)s): %(platform)s sends this account's "
                                   "events there, not to this Odoo.", platform=platform, url=params.get("url", "")),
        }
        return words.get(finding.key) or finding.key

    def _format_time(self, value):
        return fields.Datetime.to_string(fields.Datetime.context_timestamp(
            self, value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            if value.tzinfo else value))

    def _error_in_words(self, error):
        """A failed call's reason for people: not the exception's name."""
        self.ensure_one()
        if error.code == "network":
            return _("could not reach %(platform)s", platform=self._provider_label())
        return error.message

    def _record_attempt(self, kind, result):
        """Keep the time and result of a connection test or webhook registration on the account, where the form
        shows it (a notification fades)."""
        now = fields.Datetime.now()
        self.sudo().write({"connection": {"connection_tested_at": now, "connection_result": result},
                           "webhook": {"webhook_registered_at": now, "webhook_result": result}}[kind])

    # ------------------------------------------------------------------
    # Alerts
    # ------------------------------------------------------------------

    @api.model
    def _cron_health_alerts(self):
        """One activity per manager for an account that went silent or whose deliveries are refused, once; done
        when deliveries resume."""
        activity_type = self.env.ref("messenger_connector.mail_activity_type_messenger_health")
        now = fields.Datetime.now()
        for account in self.search([("provider", "!=", False)]):
            alerts = account.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
            silent = (account.silence_alert_hours and account.last_delivery_at
                      and account._silent_hours(account.last_delivery_at, now) >= account.silence_alert_hours)
            refused = account.refusal_alert_count and account.refused_1h >= account.refusal_alert_count
            if not silent and not refused:
                if alerts:
                    alerts.action_feedback(feedback=_("Deliveries resumed: the last one on %(at)s.",
                                                      at=account._format_time(account.last_delivery_at)
                                                      if account.last_delivery_at else "-"))
                continue
            if alerts:
                continue  # already told: one activity, not one per run
            if silent:
                note = _("%(platform)s sent nothing since %(at)s. Open the account and run its set-up checks.",
                         platform=account._provider_label(), at=account._format_time(account.last_delivery_at))
            else:
                note = _("%(count)s deliveries were refused in the last hour: %(reason)s",
                         count=account.refused_1h, reason=account.last_refusal_reason)
            for user in account._health_managers():
                account.activity_schedule(activity_type_id=activity_type.id, user_id=user.id, note=note,
                                          summary=_("Messenger account needs attention"))

    def _silent_hours(self, since, now):
        """Hours without deliveries between ``since`` and ``now``: the working hours of the company's calendar
        (a quiet night or weekend is no silence), or every hour when the company has no calendar."""
        self.ensure_one()
        calendar = self.company_id.resource_calendar_id
        if not calendar:
            return (now - since).total_seconds() / 3600
        return calendar.get_work_hours_count(since, now, compute_leaves=True)

    def _health_managers(self):
        self.ensure_one()
        group = self.env.ref(MANAGER)
        return group.users.filtered(lambda u: not u.share and self.company_id in u.company_ids)

    # ------------------------------------------------------------------
    # Monitoring
    # ------------------------------------------------------------------

    @api.model
    def _monitoring_key_matches(self, key):
        expected = self.env["ir.config_parameter"].sudo().get_param(MONITORING_KEY)
        return bool(expected and isinstance(key, str) and hmac.compare_digest(key.encode(), expected.encode()))

    def _compute_monitoring_url(self):
        params = self.env["ir.config_parameter"].sudo()
        key = params.get_param(MONITORING_KEY)
        base_url = params.get_param("web.base.url", "").rstrip("/")
        for account in self:
            account.monitoring_url = key and f"{base_url}/messenger/health/{key}"

    def action_new_monitoring_key(self):
        """A new monitoring URL for the database: the previous one stops answering at once."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only administrators may change the monitoring URL."))
        self.env["ir.config_parameter"].sudo().set_param(MONITORING_KEY, secrets.token_urlsafe(32))
        self.invalidate_recordset(["monitoring_url"])

    @api.model
    def _monitoring_state(self):
        """Each account's health as plain facts: no credential, no person, no message."""
        def when(value):
            return value and fields.Datetime.to_string(value) + "Z" or None
        accounts = []
        for account in self.sudo().search([("provider", "!=", False)]):
            accounts.append({
                "id": account.id, "name": account.name, "platform": account.provider,
                "last_delivery_at": when(account.last_delivery_at),
                "last_refusal_at": when(account.last_refusal_at),
                "last_refusal_reason": account.last_refusal_reason or None,
                "deliveries_24h": {"accepted": account.accepted_24h, "duplicate": account.duplicate_24h,
                                   "refused": {"signature": account.refused_signature_24h,
                                               "malformed": account.refused_malformed_24h,
                                               "too_large": account.refused_too_large_24h,
                                               "verification": account.refused_handshake_24h}},
                "refused_last_hour": account.refused_1h,
                "events": {"waiting": account.events_pending_count, "failed": account.events_failed_count},
                "messages_failed": account.failed_count,
                "token_expires_at": when(account.token_expires_at),
                "messaging_limit_tier": account.messaging_limit_tier or None,
                "registration_state": account.registration_state or None,
                "templates_synced_at": when(account.templates_synced_at),
                "last_check_at": when(account.health_checked_at), "setup_ok": account.health_ok,
            })
        unknown = self.env["messenger.delivery.count"].sudo()._read_group(
            [("account_id", "=", False), ("hour", ">=", fields.Datetime.now() - datetime.timedelta(hours=24))],
            [], ["count:sum"])[0][0]
        return {"accounts": accounts, "unknown_webhook_refused_24h": unknown or 0}

    # ------------------------------------------------------------------
    # Set-up assistant
    # ------------------------------------------------------------------

    def _setup_steps(self):
        """The set-up assistant's steps in the platform's order: dicts of ``key``, ``title`` and ``help`` (what to
        do in the platform's console and what to paste where). Each platform's model file gives its own."""
        self.ensure_one()
        return [
            {"key": "credentials", "title": _("Credentials"),
             "help": _("Copy the account's credentials from %(platform)s's console into the Connection tab of this "
                       "account.", platform=self._provider_label())},
            {"key": "webhook", "title": _("Webhook"),
             "help": _("Register the webhook URL below in %(platform)s's console.", platform=self._provider_label())},
            {"key": "check", "title": _("Check"),
             "help": _("Check the set-up: the assistant asks %(platform)s what it knows of this account.",
                       platform=self._provider_label())},
        ]

    def action_open_setup(self):
        self.ensure_one()
        self._check_manager()
        return {
            "type": "ir.actions.act_window", "res_model": "messenger.setup.wizard", "view_mode": "form",
            "target": "new", "name": _("Set-up Assistant"), "context": {"default_account_id": self.id},
        }

