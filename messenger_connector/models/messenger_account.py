import secrets

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError

from ..providers import PROVIDERS, ProviderError, get_provider

MANAGER = "messenger_connector.group_messenger_manager"


def _new_token(*_args):
    return secrets.token_urlsafe(32)


class MessengerAccount(models.Model):
    _name = "messenger.account"
    _inherit = ["messenger.cached.mixin"]  # _webhook_route
    _description = "Messenger Account"
    _order = "sequence, name, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    # each platform adds its value (selection_add) in its own model file
    provider = fields.Selection([], string="Platform", required=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company,
    )
    api_base_url = fields.Char(
        "API Base URL", compute="_compute_api_base_url", store=True, readonly=False,
        help="Root URL of the platform's API. Leave the default except to point at a test server.",
    )
    webhook_key = fields.Char(
        required=True, readonly=True, copy=False, default=_new_token, groups=MANAGER,
        help="Random token of this account's webhook URL.",
    )
    webhook_url = fields.Char("Webhook URL", compute="_compute_webhook_url", groups=MANAGER)
    user_ids = fields.Many2many(
        "res.users", string="Team", domain=[("share", "=", False)],
        help="Agents who answer this account's conversations.",
    )
    audience_group_id = fields.Many2one(
        "res.groups", "Audience", default=lambda self: self._default_audience(),
        help="Who sees this account's chats that are linked to no lead or applicant, when the account has no "
             "team: the Messenger users of this group. Empty: every Messenger user (interviewers included).")
    max_attempts = fields.Integer(
        "Send Attempts", default=5,
        help="How many times a temporarily failing message is tried before it is marked failed.",
    )
    rate_limit = fields.Integer(
        "Sends per Second", help="How fast the sender may send for this account. 0: the platform's default "
                                 "(for example WhatsApp 80 per phone number, Telegram 30 per bot).")
    retry_delay = fields.Integer(
        "First Retry Delay (s)", default=30,
        help="Delay before the first retry; it doubles at each attempt (the platform's retry-after "
             "is honoured when it asks for longer).",
    )
    opt_out_confirmation = fields.Text(
        translate=True,
        default=lambda self: self.env._("You will not receive any more messages from us. Send START to subscribe "
                                        "again."),
        help="Sent once after an opt-out, where the platform allows it. Empty: no confirmation.")
    opt_in_confirmation = fields.Text(
        translate=True, default=lambda self: self.env._("Welcome back! You will receive our messages again."),
        help="Sent after an opt-in keyword. Empty: no confirmation.")
    crm_team_id = fields.Many2one("crm.team", "Sales Team", help="Team of the leads created from this account.")
    routing_rule_ids = fields.One2many("messenger.routing.rule", "account_id", string="Routing Rules")

    conversation_ids = fields.One2many("messenger.conversation", "account_id")
    conversation_count = fields.Integer(compute="_compute_statistics")
    sent_count = fields.Integer("Sent", compute="_compute_statistics")
    delivered_count = fields.Integer("Delivered", compute="_compute_statistics")
    read_count = fields.Integer("Read", compute="_compute_statistics")
    failed_count = fields.Integer("Failed", compute="_compute_statistics")
    received_count = fields.Integer("Received", compute="_compute_statistics")
    delivered_ratio = fields.Float("Delivered (%)", compute="_compute_statistics")
    read_ratio = fields.Float("Read (%)", compute="_compute_statistics")
    # what the platform can do, as its provider says: the views show fields by these, never by platform name
    window_hours = fields.Integer(compute="_compute_capabilities")
    has_window = fields.Boolean("Reply Window", compute="_compute_capabilities")
    has_templates = fields.Boolean("Template Messages", compute="_compute_capabilities")
    has_receipts = fields.Boolean("Delivery Receipts", compute="_compute_capabilities")
    syncs_templates = fields.Boolean("Template Sync", compute="_compute_capabilities")
    starts_by_phone = fields.Boolean("Writes First by Number", compute="_compute_capabilities")
    registers_webhook = fields.Boolean("Registers Its Webhook", compute="_compute_capabilities")
    has_verify_token = fields.Boolean("Has a Verify Token", compute="_compute_capabilities")

    _sql_constraints = [
        ("webhook_key_unique", "UNIQUE(webhook_key)", "The webhook key must be unique."),
    ]

    @api.model
    def _default_audience(self):
        # salespeople: unlinked chats are sales enquiries until linked; recruitment-only users see chats
        # through their applications
        return self.env.ref("sales_team.group_sale_salesman", raise_if_not_found=False)

    @api.depends("provider")
    def _compute_api_base_url(self):
        for account in self:
            if not account.api_base_url and account.provider:
                account.api_base_url = PROVIDERS[account.provider].default_base_url

    @api.depends("webhook_key")
    def _compute_webhook_url(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for account in self:
            account.webhook_url = f"{base_url.rstrip('/')}/messenger/webhook/{account.webhook_key}"

    @api.depends("provider")
    def _compute_capabilities(self):
        for account in self:
            provider = account._provider_class()
            account.window_hours = provider and provider.window_hours or 0
            account.has_window = bool(account.window_hours)
            for capability in ("has_templates", "syncs_templates", "has_receipts", "starts_by_phone",
                               "registers_webhook", "has_verify_token"):
                account[capability] = bool(provider and getattr(provider, capability))

    def _provider_class(self):
        """The provider class of this account's platform (its capabilities), or None when none is set."""
        self.ensure_one()
        return PROVIDERS.get(self.provider)

    def _compute_statistics(self):
        Message = self.env["messenger.message"]
        counts = {}
        conversations = dict(self.env["messenger.conversation"]._read_group(
            [("account_id", "in", self.ids)], ["account_id"], ["__count"]))
        for account, direction, state, count in Message._read_group(
                [("account_id", "in", self.ids)], ["account_id", "direction", "state"], ["__count"]):
            counts[account.id, direction, state] = count
        for account in self:
            def out(*states, account=account):
                return sum(counts.get((account.id, "out", s), 0) for s in states)
            account.conversation_count = conversations.get(account, 0)
            account.received_count = sum(v for (a, d, _s), v in counts.items() if a == account.id and d == "in")
            account.read_count = out("read")
            account.delivered_count = out("delivered", "read")
            account.sent_count = out("sent", "delivered", "read")
            account.failed_count = out("failed")
            account.delivered_ratio = account.sent_count and 100.0 * account.delivered_count / account.sent_count
            account.read_ratio = account.sent_count and 100.0 * account.read_count / account.sent_count

    # ------------------------------------------------------------------
    # Provider access
    # ------------------------------------------------------------------

    def _get_provider(self):
        """The configured provider client of this account.

        Credentials are read with sudo() so that the sender and the webhook (running as Messenger users or
        the public user) can authenticate; they go only into the client object, which is never returned to
        the UI, logged or serialized.
        """
        self.ensure_one()
        return get_provider(self.sudo().provider, self._provider_config())

    @api.model
    def _webhook_route(self, webhook_key):
        """(account id, company id, provider, provider config) of the active account with this webhook key.

        Every delivery asks for it: cached per process (the config holds credentials, kept in memory only,
        like the provider clients built from it) and cleared whenever an account changes (create, write,
        unlink), in every worker through Odoo's cache invalidation signal, and in this one again once the change
        committed (messenger.cached.mixin). None when no account has the key.
        """
        return self._webhook_route_cached(webhook_key, self._cache_generation())

    @api.model
    @tools.ormcache("webhook_key", "generation")
    def _webhook_route_cached(self, webhook_key, generation):
        # A miss: what is read now serves every later delivery of this process. The caller's snapshot may predate
        # a change committed (and its generation started) while its request began: read in a transaction of its
        # own on the primary database, whose snapshot is taken after ``generation`` was, so that older rows are
        # never kept under a newer generation (and the caller's transaction is left as it is).
        with self.env.registry.cursor() as cr:
            # sudo: the platform calls as nobody; the search is the narrowest possible (an exact, unguessable key,
            # active accounts only) and what it returns only authenticates the delivery and stores it.
            account = self.with_env(self.env(cr=cr)).sudo().search([("webhook_key", "=", webhook_key)], limit=1)
            if not account:
                return None
            return account.id, account.company_id.id, account.provider, account._provider_config()

    def _cached_state(self):
        # what _webhook_route caches: the key, the account's company, platform and credentials
        # sudo: compared in memory only, never shown
        return [(account.id, account.active, account.webhook_key, account.company_id.id, account.provider,
                 account._provider_config()) for account in self.sudo().with_context(active_test=False)]

    def _provider_config(self):
        """The configuration of this account's provider client: each platform's model file adds its credentials
        (``super()``, then its keys when ``provider`` is its own)."""
        self.ensure_one()
        return {"base_url": self.sudo().api_base_url}

    def _routing_fields(self):
        """(the field naming our side of an event, the field of the secret that signs it) where one webhook of
        the platform serves several of our accounts (one Meta app, one X app); None where each account has its
        own. A platform's model file tells."""
        return ()

    def _route_to(self, account_ref):
        """The account an event of this account's webhook belongs to (``account_ref``: our side of the event as
        the platform names it, Event.account_ref): this one, or another account of the same app configured here
        with the same secret (the signature proved the app); else nothing (the event stays on record, unapplied).
        """
        self.ensure_one()
        routing = self._routing_fields()
        account = self.sudo()
        if not routing or not account_ref or account_ref == (account[routing[0]] or "").strip():
            return self
        ref_field, secret_field = routing
        # sudo: the credentials decide the routing; only the matching account is returned
        sibling = account.search([
            ("provider", "=", self.provider), (ref_field, "=", account_ref),
            (secret_field, "=", account[secret_field]), ("id", "!=", self.id)], limit=1)
        return sibling.with_env(self.env)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def _check_manager(self):
        """Account actions are for Messenger managers of the account's company, however they are called."""
        if self.env.su:
            return
        if not self.env.user.has_group(MANAGER):
            raise AccessError(_("Only Messenger managers may do this on messenger accounts."))
        self.check_access("write")  # the record rules: the account's company among the user's companies

    def action_test_connection(self):
        self.ensure_one()
        self._check_manager()
        try:
            description = self._get_provider().test_connection()
        except ProviderError as error:
            reason = _("The connection test failed: %(reason)s", reason=self._error_in_words(error))
            self._record_attempt("connection", reason)
            return self._notify(reason, "danger", sticky=True)
        self._connection_tested(description)
        self._record_attempt("connection", _("Connection works: %s", description))
        return self._notify(_("Connection works: %s", description), "success")

    def _connection_tested(self, description):
        """What a platform learns from a successful connection test (``description``: the provider's answer)."""

    def action_register_webhook(self):
        self.ensure_one()
        self._check_manager()
        if not self.registers_webhook:
            raise UserError(_("Register the webhook URL shown here in the platform's own dashboard."))
        try:
            self._get_provider().register_webhook(self.webhook_url, self._webhook_secret())
        except ProviderError as error:
            reason = _("%(platform)s refused the webhook: %(reason)s",
                       platform=self._provider_label(), reason=self._error_in_words(error))
            self._record_attempt("webhook", reason)
            return self._notify(reason, "danger", sticky=True)
        self._record_attempt("webhook", _("%(platform)s now sends this account's events to %(url)s",
                                          platform=self._provider_label(), url=self.webhook_url))
        return self._notify(_("%(platform)s now sends this account's events to %(url)s",
                              platform=self._provider_label(), url=self.webhook_url), "success")

    def _webhook_secret(self):
        """The secret the platform must send with every delivery, where the webhook is registered through the
        API (a platform's model file provides it)."""
        return None

    def action_regenerate_webhook_key(self):
        self._check_manager()
        for account in self:
            account.webhook_key = _new_token()

    def action_view_conversations(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_connector.action_messenger_conversation")
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"default_account_id": self.id}
        return action

    def _utm_source(self):
        """The UTM source of leads and applicants that come through this account's platform (one per platform,
        named after it; created the first time)."""
        self.ensure_one()
        source = self.env.ref(f"messenger_connector.utm_source_{self.provider}", raise_if_not_found=False)
        # sudo: a source is shared reference data, whoever's message creates the first lead of a platform
        return source or self.env["utm.mixin"].sudo()._find_or_create_record("utm.source", self._provider_label())

    def _chat_link(self, text):
        """Click-to-chat URL of this account that starts a chat with ``text`` (a job reference), or False; each
        platform's model file builds its own."""
        self.ensure_one()
        return False

    @api.model
    def _chat_link_hint(self):
        """What an account needs for click-to-chat links, one phrase per platform that has them."""
        return []

    def _provider_label(self):
        self.ensure_one()
        return dict(self._fields["provider"]._description_selection(self.env)).get(self.provider, "")

    def _notify(self, message, kind="info", sticky=False):
        # the form is reloaded after the notification: it shows what was kept (the last test's result)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": sticky,
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
        }
