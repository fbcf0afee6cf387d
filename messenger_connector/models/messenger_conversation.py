import datetime
import logging
import re

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import format_datetime, html2plaintext

from .. import providers as prov
from .discuss_channel import by_addon
from .messenger_message import clean_filename

_logger = logging.getLogger(__name__)

#: a job position's reference in a click-to-chat message ("JOB-12"), see hr.job.messenger_ref
JOB_REF_RE = re.compile(r"\bJOB-(\d{1,9})\b", re.IGNORECASE)
#: how many last digits of a number find the contacts that may have it, written in any form
NUMBER_TAIL = 7


class MessengerConversation(models.Model):
    _name = "messenger.conversation"
    _description = "Messenger Conversation"
    _inherit = ["mail.thread"]
    _order = "last_message_at desc, id desc"
    _mail_post_access = "write"  # as on leads and applicants: posting needs the right to write

    name = fields.Char(compute="_compute_name", store=True)
    account_id = fields.Many2one("messenger.account", required=True, index=True, ondelete="cascade")
    provider = fields.Selection(related="account_id.provider", store=True)
    has_templates = fields.Boolean(related="account_id.has_templates")
    has_window = fields.Boolean(related="account_id.has_window")
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    external_user_id = fields.Char(
        "External User ID", required=True, readonly=True,
        help="The person's id on the platform: WhatsApp number (wa_id), Telegram chat id, PSID or OpenID.")
    profile_name = fields.Char(readonly=True, help="Name the person gave on the platform.")
    username = fields.Char(readonly=True)
    profile_picture_url = fields.Char("Profile Picture URL", readonly=True, help="The person's picture as the platform shows it.")
    profile_language = fields.Char(readonly=True, help="The language the platform says the person uses.")
    profile_pending = fields.Boolean(
        readonly=True, help="The person's profile is asked of the platform after their first message.")
    phone = fields.Char(readonly=True, help="The person's number in E.164 form, where the platform gives one.")
    number_search = fields.Char(
        "Number", store=False, search="_search_number",
        help="Finds the person's number however it is written (+49 170 1111111, 0170 1111111, 491701111111).")
    partner_id = fields.Many2one("res.partner", "Contact", index=True, tracking=True)
    user_id = fields.Many2one(
        "res.users", "Agent", tracking=True, index=True, domain=[("share", "=", False)],
        help="The one agent who answers this conversation.")
    state = fields.Selection(
        [("waiting", "Waiting for Reply"), ("answered", "Answered"), ("closed", "Closed")],
        default="waiting", required=True, tracking=True, index=True, group_expand="_expand_states")
    # the platform messages (mail.thread's message_ids stays the chatter's)
    messenger_message_ids = fields.One2many("messenger.message", "conversation_id", string="Messenger Messages")
    last_inbound_at = fields.Datetime("Last Inbound", readonly=True)
    last_message_at = fields.Datetime("Last Message", readonly=True, index=True)
    window_expires_at = fields.Datetime(
        "Reply Window Ends", readonly=True,
        help="Free-form replies are possible until then; afterwards only approved templates. "
             "Empty where the platform has no reply window.")
    window_open = fields.Boolean(compute="_compute_window_open")
    needs_review = fields.Boolean(index=True, tracking=True)
    review_reason = fields.Char(readonly=True)
    blocked = fields.Boolean(
        readonly=True, tracking=True, help="The person blocked the bot: nothing can be sent.")
    lead_id = fields.Many2one("crm.lead", index="btree_not_null", ondelete="set null", tracking=True)
    candidate_id = fields.Many2one("hr.candidate", index="btree_not_null", ondelete="set null",
                                   tracking=True)
    applicant_id = fields.Many2one("hr.applicant", index="btree_not_null", ondelete="set null",
                                   tracking=True)
    team_id = fields.Many2one("crm.team", "Sales Team", index="btree_not_null", ondelete="set null", tracking=True)
    routed = fields.Boolean(readonly=True, copy=False, help="The account's routing rules ran at the start.")
    # Access follows the linked record (see security/messenger_security.xml): searchable-only fields used by
    # the record rules, evaluated for the real user with Odoo's own rules of the linked models.
    access_read = fields.Boolean(compute="_compute_access", search="_search_access_read")
    access_write = fields.Boolean(compute="_compute_access", search="_search_access_write")
    last_message_preview = fields.Char("Last Message Text", readonly=True)
    message_count_messenger = fields.Integer("Message Count", compute="_compute_message_count_messenger")
    failed_count = fields.Integer("Failed Messages", compute="_compute_message_count_messenger")

    _sql_constraints = [
        ("account_external_user_unique", "UNIQUE(account_id, external_user_id)",
         "There is already a conversation with this person on this account."),
    ]

    #: what the platform tells (who the person is, when they wrote, whether they blocked us): written by the
    #: addon only, so that no user can redirect a chat or open its reply window by hand
    _PLATFORM_FIELDS = frozenset({"account_id", "external_user_id", "phone", "blocked", "last_inbound_at",
                                  "window_expires_at", "anonymized"})
    #: of those, what a user may give a new conversation (a first contact started from a lead or applicant)
    _FIRST_CONTACT_FIELDS = frozenset({"account_id", "external_user_id", "phone"})

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                refused = (set(vals) & self._PLATFORM_FIELDS) - self._FIRST_CONTACT_FIELDS
                if refused:
                    raise AccessError(_("%(fields)s of a conversation come from the platform and cannot be set.",
                                        fields=", ".join(sorted(refused))))
                self._check_link_access(vals)
        conversations = super().create(vals_list)
        conversations.filtered("user_id")._check_agent_access()
        return conversations

    def write(self, vals):
        if not self.env.su:
            refused = set(vals) & self._PLATFORM_FIELDS
            if refused:
                raise AccessError(_("%(fields)s of a conversation come from the platform and cannot be changed.",
                                    fields=", ".join(sorted(refused))))
            if "partner_id" in vals and any(c.partner_id.id != vals["partner_id"] for c in self):
                # the conversation goes with its contact into that person's data export and erasure
                raise AccessError(_("The contact of a conversation is changed with Change Contact, with a reason."))
            self._check_link_access(vals)
        result = super().write(vals)
        if vals.get("user_id"):
            self._check_agent_access()
        return result

    @api.model
    def _check_link_access(self, vals):
        """A user links a chat only to a lead, applicant or candidate they may edit: the chat's text is copied
        there and its access follows it, so linking to another's record would put the chat in their hands."""
        for fname in self._ACCESS_LINKS:
            if vals.get(fname):
                self.env[self._fields[fname].comodel_name].browse(vals[fname]).check_access("write")

    def _check_agent_access(self):
        """Hand-over: the agent of a chat must be able to read it. A person assigning a chat to someone who
        cannot is refused (give that person the linked lead or application first, as Odoo's own hand-over
        does); the processor's routing is exempt, its rules are the managers' choice."""
        if self.env.is_superuser():
            return
        for conversation in self:
            agent = conversation.user_id
            as_agent = conversation.with_user(agent).with_context(allowed_company_ids=agent.company_ids.ids)
            if not as_agent.has_access("read"):
                linked = conversation.lead_id or conversation.applicant_id or conversation.candidate_id
                raise UserError(_(
                    "%(agent)s cannot open the chat with %(name)s and cannot be its agent. %(hint)s",
                    agent=agent.name, name=conversation.name,
                    hint=_("Assign %(record)s to them first: the chat follows it.", record=linked.display_name)
                    if linked else _("Add them to the account's team first.")))

    @api.depends("partner_id.name", "profile_name", "username", "phone", "external_user_id")
    def _compute_name(self):
        for conversation in self:
            conversation.name = (
                conversation.partner_id.name or conversation.profile_name
                or (conversation.username and f"@{conversation.username}")
                or conversation.phone or conversation.external_user_id)

    # ------------------------------------------------------------------
    # Access that follows the linked record
    # ------------------------------------------------------------------

    #: linked record fields whose access decides the conversation's access
    _ACCESS_LINKS = ("lead_id", "applicant_id", "candidate_id")

    @api.depends_context("uid")
    def _compute_access(self):
        """Per record, for the real user (record rules check records with ``filtered_domain``)."""
        records = self.filtered("id")
        for mode in ("read", "write"):
            allowed = self.sudo().search([("id", "in", records.ids)] + self._access_domain(mode, "=", True)) \
                if records else self.browse()
            for conversation in self:
                conversation[f"access_{mode}"] = not conversation.id or conversation in allowed

    def _check_access(self, operation):
        # the access fields depend on other models' records and rules: never trust a cached value
        self.env["messenger.conversation"].invalidate_model(["access_read", "access_write"])
        return super()._check_access(operation)

    @api.model
    def _search_access_read(self, operator, value):
        return self._access_domain("read", operator, value)

    @api.model
    def _search_access_write(self, operator, value):
        return self._access_domain("write", operator, value)

    @api.model
    def _access_domain(self, mode, operator, value):
        """Conversations the current user may ``mode``: those of a linked lead, applicant or candidate the user
        may ``mode`` (Odoo's own access rights and record rules of those models decide), and unlinked ones for
        the account's team (when the account has no team: the Messenger users of the account's audience group,
        every Messenger user when it has none). Messenger managers: all.
        """
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError("Unsupported search on access fields")
        positive = (operator == "=") == value
        # record rules are evaluated in sudo mode: look at the real user's rights explicitly
        env = self.env(su=False)
        user = env.user
        if user._is_superuser() or user.has_group("messenger_connector.group_messenger_manager"):
            domain = [(1, "=", 1)]
        else:
            domain = []
            for fname in self._ACCESS_LINKS:
                comodel = env[self._fields[fname].comodel_name]
                if env["ir.model.access"].check(comodel._name, mode, raise_exception=False):
                    rules = env["ir.rule"]._compute_domain(comodel._name, mode) or []
                    # sudo: the user's own rule domain (just computed) is applied explicitly
                    domain.append([(fname, "in", comodel.sudo().with_context(active_test=False)._search(rules))])
            if user.has_group("messenger_connector.group_messenger_user"):
                # unlinked chats: the account's team, else the account's audience (a group; none: everyone)
                domain.append([(fname, "=", False) for fname in self._ACCESS_LINKS] + [
                    "|", ("account_id.user_ids", "in", user.id),
                    "&", ("account_id.user_ids", "=", False),
                    "|", ("account_id.audience_group_id", "=", False),
                    ("account_id.audience_group_id", "in", user.groups_id.ids)])
            domain = expression.OR(domain) if domain else [(0, "=", 1)]
        return domain if positive else ["!"] + expression.normalize_domain(domain)

    @api.model
    def _search_number(self, operator, value):
        """Conversations whose number (E.164, or the platform's id, a wa_id) is ``value`` in any formatting:
        compared as digits, a national number read in the company's country."""
        if operator not in ("ilike", "like", "=", "=ilike", "=like") or not isinstance(value, str):
            raise NotImplementedError("Unsupported search on the number")
        if re.search(r"[^\W\d_]", value):
            return [(0, "=", 1)]  # words are no number ("Room 2" must not find every number with a 2)
        terms = set()
        digits = re.sub(r"\D", "", value)
        if digits:
            terms.add(digits[2:] if value.strip().startswith("00") else digits)
        e164 = self._phone_format(number=value, country=self.env.company.country_id)
        if e164:
            terms.add(e164.lstrip("+"))
        if not terms:
            return [(0, "=", 1)]
        return expression.OR([[(fname, "like", term)] for term in sorted(terms)
                              for fname in ("phone", "external_user_id")])

    @api.model
    def _expand_states(self, states, domain):
        return [key for key, _label in self._fields["state"].selection]

    @api.depends("window_expires_at", "provider")
    def _compute_window_open(self):
        now = fields.Datetime.now()
        for conversation in self:
            conversation.window_open = not conversation.account_id.window_hours or bool(
                conversation.window_expires_at and conversation.window_expires_at > now)

    def _compute_message_count_messenger(self):
        counts = {}
        for conversation, state, count in self.env["messenger.message"]._read_group(
                [("conversation_id", "in", self.ids)], ["conversation_id", "state"], ["__count"]):
            counts.setdefault(conversation.id, {})[state] = count
        for conversation in self:
            by_state = counts.get(conversation.id, {})
            conversation.message_count_messenger = sum(by_state.values())
            conversation.failed_count = by_state.get("failed", 0)

    # ------------------------------------------------------------------
    # Inbound
    # ------------------------------------------------------------------

    @api.model
    def _get_or_create(self, account, event):
        """The conversation of (account, event's person), created with its partner on first contact.

        Only the event processor (one cron job, never two at once) calls this, so search-then-create
        cannot race; the unique constraint stays as the last line of defence.
        """
        batch = self.env.context.get("messenger_batch")
        key = (account.id, event.external_user_id)
        if event.aliases:
            # a person known by several ids (WhatsApp number, BSUID): any of them finds their conversation
            conversation = self._find_by_aliases(account, event)
        elif batch is not None and key in batch.conversations:
            # read together with the group's other conversations (one query for all on first access)
            conversation = self.browse(batch.conversations[key]).with_prefetch(
                tuple(filter(None, batch.conversations.values())))
        else:
            conversation = self.search([
                ("account_id", "=", account.id), ("external_user_id", "=", event.external_user_id),
            ], limit=1)
        if not conversation:
            # as Odoo's mail gateway creates a record from an incoming message: its first message is its history
            conversation = self.with_context(mail_create_nolog=True).create({
                "account_id": account.id,
                "external_user_id": event.external_user_id,
                "profile_name": event.profile_name,
                "username": event.username,
                "phone": self._normalize_phone(event.phone, account),
                "user_id": len(account.user_ids) == 1 and account.user_ids.id or False,
                "profile_pending": bool(account._provider_class().has_profiles),
            }).with_env(self.env)
            if conversation.profile_pending:
                # asked of the platform after the commit, by the follow-up job: a slow or failing profile call
                # never holds the message back
                self.env.ref("messenger_connector.ir_cron_message_followups").sudo()._trigger()
        else:
            updates = {k: v for k, v in (("profile_name", event.profile_name), ("username", event.username))
                       if v and conversation[k] != v}
            if updates:
                conversation.write(updates)
        if not conversation.partner_id:
            conversation._link_partner()
        if event.aliases:
            conversation._learn_aliases(event.aliases)
        if batch is not None:
            batch.conversations[key] = conversation.id
        return conversation

    @api.model
    def _prefetch_batch(self, batch, people):
        """Look up, once for a group of events (``people``: [(account, normalized event)]), the conversations,
        the stored message ids, and the open leads and candidates of the contacts that applying them asks for.

        Each look-up is the one the event-by-event code does (``_get_or_create``, ``_receive``, ``_open_leads``,
        ``_candidates``), for all the group's people in one query.
        """
        user_ids = {ev.external_user_id for _account, ev in people}
        account_ids = {account.id for account, _ev in people}
        found = self.search_fetch([("account_id", "in", list(account_ids)),
                                   ("external_user_id", "in", list(user_ids))],
                                  ["account_id", "external_user_id", "partner_id", "company_id", "lead_id",
                                   "candidate_id", "applicant_id", "routed"])
        for account, ev in people:
            batch.conversations.setdefault((account.id, ev.external_user_id), False)
        for conversation in found:
            batch.conversations[(conversation.account_id.id, conversation.external_user_id)] = conversation.id
        message_keys = {(account.id, ev.external_id) for account, ev in people
                        if ev.kind == prov.MESSAGE and ev.external_id}
        if message_keys:
            stored = {(m.account_id.id, m.external_id) for m in self.env["messenger.message"].search_fetch([
                ("account_id", "in", list(account_ids)),
                ("external_id", "in", list({external_id for _a, external_id in message_keys}))],
                ["account_id", "external_id"])}
            batch.messages.update({key: key in stored for key in message_keys})
        partners = found.partner_id
        if not partners:
            return
        commercial = partners.commercial_partner_id
        leads = self._open_leads(commercial)
        by_partner = {partner.id: [] for partner in commercial}
        for lead in leads:  # a lead belongs to every contact of ours it is under (child_of)
            partner = lead.partner_id
            while partner:
                if partner.id in by_partner:
                    by_partner[partner.id].append(lead.id)
                partner = partner.parent_id
        for partner_id, lead_ids in by_partner.items():
            batch.leads[partner_id] = leads.browse(lead_ids)
        candidates = self._candidates(partners)
        for partner in partners:
            batch.candidates[partner.id] = candidates.filtered(lambda c: c.partner_id == partner)  # noqa: B023 - runs at once

    @api.model
    def _normalize_phone(self, phone, account):
        """E.164 form of a platform number through Odoo's phone_validation (None when there is none)."""
        if not phone:
            return None
        number = phone if phone.startswith("+") else f"+{phone}"
        return self._phone_format(number=number, country=account.company_id.country_id) or number

    def _link_partner(self):
        """Find the person's contact, or create one; flag the conversation when the match is ambiguous.

        The one identity matcher of every channel: the same person on the same platform (another account
        of the company) first, then the phone number (E.164, matching any formatting of phone or mobile),
        else a new contact from the platform profile.
        """
        self.ensure_one()
        Partner = self.env["res.partner"]
        company_domain = [("company_id", "in", [False, self.company_id.id])]
        provider = self.account_id._provider_class()
        same_person = (not provider or provider.portable_id(self.external_user_id)) and self.search([
            ("id", "!=", self.id), ("provider", "=", self.provider),
            ("external_user_id", "=", self.external_user_id), ("partner_id", "!=", False),
            ("company_id", "=", self.company_id.id),
        ], order="id", limit=1)
        if same_person:
            self.partner_id = same_person.partner_id
            return
        if self.phone:
            matches = self._partners_with_number(self.phone, company_domain)
            if matches:
                # Deterministic: a person before a company, then the oldest contact.
                persons = matches.filtered(lambda p: not p.is_company)
                self.partner_id = (persons or matches)[0]
                if len(matches) > 1:
                    self.write({
                        "needs_review": True,
                        "review_reason": _("%(count)s contacts have the number %(phone)s: linked to %(name)s.",
                                           count=len(matches), phone=self.phone, name=self.partner_id.name),
                    })
                return
        name = self.profile_name or (self.username and f"@{self.username}") or self.phone or self.external_user_id
        self.partner_id = Partner.create({
            "name": name,
            "mobile": self.phone or False,
            "company_id": self.company_id.id,
            "comment": _("Created from a %(provider)s conversation.",
                         provider=self.account_id._provider_label()),
        })

    def _partners_with_number(self, e164, domain):
        """Contacts of ``domain`` whose phone or mobile is the number ``e164``, whatever its formatting and
        country (read in the contact's country, else this conversation's company's), the oldest first."""
        Partner = self.env["res.partner"]
        # phone_sanitized is the E.164 of the mobile (else the phone); any other writing of the number ends with
        # its last digits (national prefixes and "(0)" come before them): those contacts are compared below
        tail = re.sub(r"\D", "", e164)[-NUMBER_TAIL:]
        candidates = Partner.search(domain + [
            "|", ("phone_sanitized", "=", e164), ("phone_mobile_search", "like", tail)], order="id")
        company_country = self.company_id.country_id

        def is_the_number(partner, number):
            formatted = partner._phone_format(number=number, country=partner.country_id or company_country)
            if formatted:
                return formatted == e164
            # not a number phonenumbers knows (a reserved range): the same digits written internationally
            digits = re.sub(r"\D", "", number)
            number = number.strip()
            return number.startswith("00") and f"+{digits[2:]}" == e164 or number.startswith("+") and \
                f"+{digits}" == e164

        return candidates.filtered(lambda partner: partner.phone_sanitized == e164 or any(
            is_the_number(partner, partner[fname]) for fname in ("mobile", "phone") if partner[fname]))

    def _receive(self, event, event_record):
        """Store one inbound MESSAGE event once; a redelivered message is ignored."""
        self.ensure_one()
        Message = self.env["messenger.message"]
        batch = self.env.context.get("messenger_batch")
        key = (self.account_id.id, event.external_id)
        stored = batch.messages.get(key) if batch is not None else None
        if stored is None:
            stored = bool(event.external_id) and bool(Message.search_count([
                ("account_id", "=", self.account_id.id), ("external_id", "=", event.external_id)], limit=1))
        if stored:
            return Message
        when = self.env["messenger.message"]._event_time(event)
        message = Message.create({
            "conversation_id": self.id,
            "direction": "in",
            "external_id": event.external_id,
            "body": event.text or "",
            "content_type": Message._content_type_of(event),
            # a click-to-chat reference (Meta "ref") counts as the payload: it may apply for a job
            "payload": event.payload or event.referral,
            "reply_to_external_id": event.reply_to,
            "state": "received",
            "received_at": when,
            "event_id": event_record.id,
            "media_ref": event.media and {
                "id": event.media.id, "url": event.media.url, "mime_type": event.media.mime_type,
                "filename": clean_filename(event.media.filename)} or False,
            "media_state": "pending" if event.media else "none",
            "callback_query_id": event.callback_query_id or False,
            "location": event.location and {
                "latitude": event.location.latitude, "longitude": event.location.longitude,
                "name": event.location.name, "address": event.location.address} or False,
        })
        if batch is not None and event.external_id:
            batch.messages[key] = True
        if event.shared_phone:
            # the person shared their number through our request (never a card they forwarded)
            self._learn_aliases([("number", event.shared_phone.lstrip("+"))])
        vals = {"last_message_at": max(when, self.last_message_at or when)}
        if self.anonymized:
            vals["anonymized"] = False  # the conversation goes on: policies apply to it again
        if not self.last_inbound_at or when >= self.last_inbound_at:
            vals["last_inbound_at"] = when
            hours = self.account_id.window_hours
            vals["window_expires_at"] = hours and when + datetime.timedelta(hours=hours) or False
            vals["state"] = "waiting"
        self.write(vals)
        self._on_inbound(message)
        if event.referral and event.payload:
            # a button's payload took the reference's place (Meta's Get Started after an m.me link): it may still
            # apply for a job
            self._apply_referral(event.referral)
        message._post_to_chatters()
        message._schedule_followups()
        return message

    def _receive_echo(self, event, event_record):
        """Store once a message our account sent, as the platform echoes it back.

        Ours from Odoo are already stored (known by their id, or being sent right now: the sender records the
        id); a message a colleague typed in the platform's own app is stored as an outbound message "via" the
        platform. Return the stored message, or an empty recordset when there was nothing to store.
        """
        self.ensure_one()
        Message = self.env["messenger.message"]
        if event.external_id and Message.search_count([
                ("account_id", "=", self.account_id.id), ("external_id", "=", event.external_id)], limit=1):
            return Message
        if Message.search_count([("conversation_id", "=", self.id), ("state", "=", "sending"),
                                 ("body", "=", event.text or "")], limit=1):
            return Message  # the sender's call is answered after the platform echoed it: the sender stores the id
        when = self.env["messenger.message"]._event_time(event)
        provider = self.account_id._provider_class()
        message = Message.create({
            "conversation_id": self.id, "direction": "out", "external_id": event.external_id,
            "body": event.text or "", "state": "sent", "sent_at": when, "event_id": event_record.id,
            "content_type": Message._content_type_of(event),
            "sent_via": provider and provider.echo_author or self.account_id._provider_label(),
        })
        self.write({"last_message_at": max(when, self.last_message_at or when), "state": "answered"})
        message._post_to_chatters()
        return message

    def _fetch_profile(self):
        """Ask the platform who the person is (after the message was stored); a failure is logged and dropped:
        the profile is a courtesy, the message is what matters."""
        self.ensure_one()
        self.profile_pending = False
        try:
            profile = self.account_id._get_provider().fetch_profile(self.external_user_id)
        except prov.ProviderError as error:
            _logger.info("No profile for messenger conversation %s: %s", self.id, error.message)
            return
        if profile:
            self._apply_profile(profile)

    def _apply_profile(self, profile):
        """Keep what the platform said about the person (a prov.Profile); a platform adds what only it has."""
        vals = {fname: value for fname, value in (
            ("profile_name", profile.name), ("username", profile.username),
            ("profile_picture_url", profile.picture_url), ("profile_language", profile.language)) if value}
        if profile.name and self.partner_id and self.partner_id.name == self.external_user_id:
            self.partner_id.sudo().name = profile.name  # the contact was named after the platform id only
        if vals:
            # after the contact's name: the chat takes the conversation's name from it
            self.write(vals)

    def _apply_referral(self, referral):
        """A click-to-chat reference that came without a message (a QR scan): it may apply for a job."""
        self.ensure_one()
        job = self._job_from_texts(referral)
        if job:
            self._apply_for_job(job)

    def _chatter_records(self):
        """Records whose chatter shows this conversation's messages besides its own: only those whose access is
        the conversation's (its lead, its applicant or else candidate), never the contact, which every employee
        may read (the contact lists its conversations, filtered by the reader's access, instead)."""
        self.ensure_one()
        return [record for record in (self.lead_id, self.applicant_id or self.candidate_id) if record]

    # ------------------------------------------------------------------
    # Business records: leads, candidates, applicants, routing
    # ------------------------------------------------------------------

    def _on_inbound(self, message):
        """Link an inbound message's conversation to its business records, then run the routing rules."""
        self.ensure_one()
        job = self._job_from_message(message)
        if job:
            self._apply_for_job(job)
        self._link_open_lead()
        self._link_open_application()
        # a job reference decided the application: no rule creates another one for the same message
        self.account_id.routing_rule_ids._route(self, message, job_decided=bool(job))

    def _review(self, reason):
        self.write({"needs_review": True, "review_reason": reason})

    def _link_open_lead(self):
        """Link the contact's most recently active open lead (flag when there are several)."""
        if not self.partner_id or (self.lead_id.active and not self.lead_id.stage_id.is_won):
            return
        batch = self.env.context.get("messenger_batch")
        commercial = self.partner_id.commercial_partner_id
        leads = batch.leads.get(commercial.id) if batch is not None else None
        leads = self._of_company(self._open_leads(commercial) if leads is None else leads)
        if leads:
            self.write({"lead_id": leads[0].id, "team_id": self.team_id.id or leads[0].team_id.id})
            if len(leads) > 1:
                self._review(_("%(count)s open leads of %(name)s: linked to the most recent, %(lead)s.",
                               count=len(leads), name=self.partner_id.name, lead=leads[0].name))

    def _link_open_application(self):
        """Link the contact's candidate and its most recent ongoing application."""
        if not self.partner_id:
            return
        candidate = self.candidate_id or self._find_candidate()
        if not candidate:
            return
        vals = {"candidate_id": candidate.id}
        if not self.applicant_id.active or self.applicant_id.candidate_id != candidate:
            applicants = candidate.applicant_ids.filtered(
                lambda a: a.active and a.application_status == "ongoing").sorted("write_date", reverse=True)
            if applicants:
                vals["applicant_id"] = applicants[0].id
        self.write(vals)

    def _find_candidate(self):
        batch = self.env.context.get("messenger_batch")
        candidates = batch.candidates.get(self.partner_id.id) if batch is not None else None
        return self._of_company(self._candidates(self.partner_id) if candidates is None else candidates)[:1]

    @api.model
    def _open_leads(self, contacts):
        """The open leads of ``contacts`` and the contacts under them, the most recently active first."""
        # sudo: the processor links records whatever the agent's rights; access follows the link afterwards
        return self.env["crm.lead"].sudo().search([
            ("partner_id", "child_of", contacts.ids),
            "|", ("stage_id", "=", False), ("stage_id.is_won", "=", False),
        ], order="write_date desc, id desc")

    @api.model
    def _candidates(self, partners):
        """The candidates of ``partners``, the oldest first."""
        # sudo: as for leads, the processor links the contact's candidate whatever the agent's rights
        return self.env["hr.candidate"].sudo().search([("partner_id", "in", partners.ids)], order="id")

    def _of_company(self, records):
        """``records`` of this conversation's company or of none."""
        return records.filtered(lambda r: r.company_id in (self.env["res.company"], self.company_id))

    def _forget_batch_lookups(self):
        """A lead or candidate was created for this contact: the group's prefetched look-ups of it are stale."""
        batch = self.env.context.get("messenger_batch")
        if batch is not None and self.partner_id:
            batch.leads.pop(self.partner_id.commercial_partner_id.id, None)
            batch.candidates.pop(self.partner_id.id, None)

    @api.model
    def _job_from_message(self, message):
        """The job position a message applies for (its start payload or text carries the job reference)."""
        return self._job_from_texts(message.payload, message.body)

    @api.model
    def _job_from_texts(self, *texts):
        """The open job position of this company that the first job reference in ``texts`` names, or None."""
        for text in texts:
            match = text and JOB_REF_RE.search(text)
            if match:
                job = self.env["hr.job"].sudo().browse(int(match.group(1))).exists()
                if job and job.active and job.company_id in (self.env["res.company"], self.company_id):
                    return job
        return None

    def _apply_for_job(self, job):
        """Create (or reuse) the candidate and its application to ``job``; link them to the conversation.

        Idempotent: a redelivered or repeated start message finds the same candidate and application.
        """
        self.ensure_one()
        Applicant = self.env["hr.applicant"].sudo()
        candidate = self.candidate_id or self._find_candidate()
        if not candidate:
            candidate = self.env["hr.candidate"].sudo().create({
                "partner_id": self.partner_id.id,
                "partner_name": self.partner_id.name,
                "partner_phone": self.phone or False,
                "company_id": (job.company_id or self.company_id).id,
            })
            self._forget_batch_lookups()
        applicant = Applicant.search([("candidate_id", "=", candidate.id), ("job_id", "=", job.id)],
                                     order="id", limit=1)
        if not applicant:
            applicant = Applicant.create({
                "candidate_id": candidate.id,
                "job_id": job.id,
                "company_id": (job.company_id or self.company_id).id,
                "source_id": self.account_id._utm_source().id,
                "medium_id": self.env.ref("messenger_connector.utm_medium_messenger").id,
            })
            applicant.message_post(
                body=_("Applied through %(account)s.", account=self.account_id.name),
                message_type="notification", subtype_xmlid="mail.mt_note")
        self.write({"candidate_id": candidate.id, "applicant_id": applicant.id})
        return applicant

    def _create_lead(self, team=None):
        """Create a lead for this conversation (contact and chat linked) and link it."""
        self.ensure_one()
        team = team or self.team_id or self.account_id.crm_team_id
        lead = self.env["crm.lead"].create({
            "name": _("%(name)s via %(provider)s", name=self.name, provider=self.account_id._provider_label()),
            "partner_id": self.partner_id.id,
            "team_id": team.id or False,
            "user_id": self.user_id.id or (team.user_id.id if team else False) or False,
            "company_id": self.company_id.id,
            "source_id": self.account_id._utm_source().id,
            "medium_id": self.env.ref("messenger_connector.utm_medium_messenger").id,
            "description": self._lead_description(),
        })
        self.write({"lead_id": lead.id, "team_id": team.id or self.team_id.id})
        self._forget_batch_lookups()
        return lead

    def _lead_description(self):
        """A link to the chat, never a copy of it: what the person said stays in one place, which retention
        and erasure clean (a copy in the lead's description would outlive both)."""
        return Markup('<p>%s <a href="/odoo/messenger.conversation/%s">%s</a></p>') % (
            _("Conversation on %(account)s:", account=self.account_id.name), self.id, _("open the chat"))

    def _forget_lead_links(self):
        """Replace the "open the chat" link of the leads made from this conversation (it is being deleted)."""
        self.ensure_one()
        link = re.compile(r'<a href="/odoo/messenger\.conversation/%d">[^<]*</a>' % self.id)
        # sudo: the link is the addon's text in the lead; only that link is replaced
        for lead in self.env["crm.lead"].sudo().with_context(active_test=False).search([
                ("description", "like", '/odoo/messenger.conversation/%d"' % self.id)]):
            gone = Markup("<em>%s</em>") % _("the chat was deleted on %(date)s",
                                              date=self._format_time(fields.Datetime.now()))
            lead.description = Markup(link.sub(gone, str(lead.description)))

    @api.model
    def _action_for_records(self, records, field):
        """The conversations action filtered on a business record (lead, applicant, candidate)."""
        records.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_connector.action_messenger_conversation")
        action.update(domain=[(field, "=", records.id)], context={"create": False},
                      view_mode="list,kanban,form", views=[(False, "list"), (False, "kanban"), (False, "form")])
        return action

    def _least_busy(self, users):
        """The user of ``users`` with the fewest open conversations (ties: the lowest id)."""
        users = users.filtered(lambda u: not u.share)
        if not users:
            return users
        load = dict(self.sudo()._read_group(
            [("user_id", "in", users.ids), ("state", "!=", "closed")], ["user_id"], ["__count"]))
        return min(users, key=lambda u: (load.get(u, 0), u.id))

    def _auto_reply(self, text):
        """Queue an automatic reply (authored by OdooBot); it does not count as an agent's answer."""
        self.ensure_one()
        try:
            self._check_can_send(human=False)
        except UserError:
            return self.env["messenger.message"]
        return self._queue_bot_text(text)

    def _queue_bot_text(self, text, consent_notice=False):
        """Queue a text authored by OdooBot (automatic replies, confirmations), past the agents' checks.

        ``consent_notice``: the confirmation of an opt-out or opt-in, the one message an opt-out allows.
        """
        self.ensure_one()
        # sudo: only the addon creates messages; the caller decided this automatic text may go
        message = self.env["messenger.message"].sudo().create({
            "conversation_id": self.id, "direction": "out", "state": "queued", "consent_notice": consent_notice,
            "author_id": self.env.ref("base.user_root").id, "body": text, "content_type": "text"})
        message._post_to_chatters()
        message._trigger_sender()
        return message

    def action_create_lead(self):
        """One click: a lead with the contact and a link to the chat, linked to this conversation."""
        self.ensure_one()
        if not self.env["crm.lead"].has_access("create"):
            raise AccessError(_("Creating a lead needs access to CRM: ask a sales manager."))
        if self.lead_id:
            raise UserError(_("This conversation is already linked to the lead %s.", self.lead_id.name))
        lead = self._create_lead()
        return {
            "type": "ir.actions.act_window", "res_model": "crm.lead", "res_id": lead.id,
            "view_mode": "form", "views": [(False, "form")],
        }

    # ------------------------------------------------------------------
    # Outbound
    # ------------------------------------------------------------------

    def _check_can_send(self, template=False, human=True, **kwargs):
        """Raise a clear UserError when nothing may be sent to this person now (checked when a message is
        queued, and again by the sender right before the call). ``human``: typed by an agent, not an automatic
        reply (some platforms give agents longer). ``kwargs``: see the consent checks."""
        self.ensure_one()
        # never decided on cached values: the person may have written, blocked or opted out meanwhile
        self.invalidate_recordset(["blocked", "window_expires_at", "last_inbound_at", "window_open"])
        if self.blocked:
            raise UserError(_("%(name)s blocked this account: messages cannot be delivered.", name=self.name))
        if template:
            if not self.account_id.has_templates:
                raise UserError(_("%(provider)s has no template messages.",
                                  provider=self.account_id._provider_label()))
            return
        terms = self._reply_terms(human=human)
        if not terms.allowed:
            hint = _("Only an approved template message can be sent now: use 'Send Template'.") \
                if self.account_id.has_templates else _("A reply is possible again once %(name)s writes.",
                                                       name=self.name)
            if human and self._human_window_without_permission():
                hint = _("%(hint)s The account has no human-agent permission, which would let an agent reply up to "
                         "%(hours)s hours after the person's last message.", hint=hint,
                         hours=self.account_id._provider_class().human_window_hours)
            raise UserError(_(
                "The %(hours)s-hour reply window of this conversation is closed (last message from %(name)s: "
                "%(when)s). %(hint)s",
                hours=terms.window_hours or self.account_id.window_hours, name=self.name,
                when=self.last_inbound_at and self._format_time(self.last_inbound_at) or _("never"), hint=hint))

    def _human_window_without_permission(self):
        """Whether an agent could still reply now if the account had the platform's human-agent permission (Meta's
        HUMAN_AGENT): the reason a refusal names."""
        provider = self.account_id._provider_class()
        hours = provider and provider.human_window_hours
        return bool(hours and self.last_inbound_at and not self.account_id._provider_config().get("human_agent")
                    and fields.Datetime.now() < self.last_inbound_at + datetime.timedelta(hours=hours))

    def _reply_terms(self, human=True):
        """Whether (and how: a platform tag) a free-form message may go to this person now (a prov.ReplyTerms).

        The standard window is the stored one (opened by the person's last message, closed early when the
        platform refused a send as outside it); past it, the provider says whether a longer window applies.
        """
        self.ensure_one()
        now = fields.Datetime.now()
        utc = datetime.timezone.utc
        if not self.has_window:
            return prov.ReplyTerms(True)
        hours = self.account_id.window_hours
        if self.window_expires_at and self.window_expires_at > now:
            return prov.ReplyTerms(True, closes_at=self.window_expires_at.replace(tzinfo=utc), window_hours=hours)
        last = self.last_inbound_at.replace(tzinfo=utc) if self.last_inbound_at else None
        terms = self.account_id._get_provider().reply_terms(last, now.replace(tzinfo=utc), human=human)
        if not terms.allowed or not terms.tag:
            # closed: our clock and the platform's refusal both count, whatever the provider's own arithmetic
            closes_at = self.window_expires_at and self.window_expires_at.replace(tzinfo=utc)
            return prov.ReplyTerms(False, closes_at=closes_at or terms.closes_at, window_hours=hours)
        return terms

    def _format_time(self, value):
        """A UTC datetime as the current user reads it (their time zone, their language's format)."""
        return format_datetime(self.env, value, tz=self.env.user.tz or self.env.context.get("tz") or "UTC")

    def action_send_text(self, body, attachment_ids=None):
        """Queue a text reply (public API), with files the user may read. Raise UserError when it cannot be
        sent."""
        self.ensure_one()
        body = (body or "").strip()
        if not body and not attachment_ids:
            raise UserError(_("Write a message first."))
        if not self.env.su:  # the server's own code (an automation) is not a colleague taking the chat over
            self._check_reply_allowed_by_assignment()
        self._check_can_send()
        return self._queue({"body": body, "content_type": "text" if not attachment_ids else "document"},
                           attachment_ids=attachment_ids).id

    def action_send_template(self, name, language, params=None):
        """Queue a WhatsApp template message (public API), allowed outside the reply window.

        ``params``: the values of the template's placeholders in order (or by name, as a dict, for a template
        with named parameters), or the platform's own component dicts.
        """
        self.ensure_one()
        if not name or not language:
            raise UserError(_("A template needs a name and a language code."))
        if not self.env.su:
            self._check_reply_allowed_by_assignment()
        self._check_can_send(template=True)
        template = self.env["messenger.template"]._find(self.account_id, name, language)
        if template and isinstance(params, (list, tuple)) and any(isinstance(p, dict) for p in params):
            template = None  # the caller gives the platform's components itself: sent as given
        if template:
            # a synced template: checked against its placeholders, and the chat shows what the person receives
            if template.status != "approved":
                raise UserError(_("The template %(name)s (%(lang)s) is not approved (%(status)s): it cannot be sent.",
                                  name=name, lang=language, status=dict(
                                      template._fields["status"]._description_selection(self.env)).get(
                                      template.status, template.status)))
            values = template._values(params)
            body, params = template._render(values), template._send_params(values)
        else:
            params = list(params or [])
            body = _("Template %(name)s (%(lang)s)", name=name, lang=language)
            if params and all(isinstance(p, str) for p in params):
                body += ": " + ", ".join(params)
        return self._queue({
            "body": body, "content_type": "template", "template_name": name,
            "template_language": language, "template_params": params,
        }).id

    def _queue(self, vals, attachment_ids=None):
        """Queue an outbound message of the current user, after the public methods' checks passed.

        The files come from what the user may read, copied to the conversation: the message owns them, and
        their access follows the conversation from then on.
        """
        self.ensure_one()
        self.check_access("write")
        attachments = self.env["ir.attachment"].browse(attachment_ids or [])
        if len(attachments) > 1:
            raise UserError(_("Send one file per message."))
        if attachments:
            attachments.check("read")
            # sudo: the user may read these files (checked above); a file of another record is copied, so
            # that the message owns it and its access follows the conversation
            attachment = attachments.sudo()
            if (attachment.res_model, attachment.res_id) != (self._name, self.id) or attachment.public:
                attachment = attachment.copy({"res_model": self._name, "res_id": self.id, "public": False})
            attachments = attachment
        # sudo: only the addon creates messages (see messenger.message.create); who sends, what and to whom
        # was decided above for the current user, who is the message's author
        message = self.env["messenger.message"].sudo().create(dict(
            vals, conversation_id=self.id, direction="out", state="queued", author_id=self.env.user.id,
            purpose=self.env.context.get("messenger_purpose") or "service",
            attachment_ids=[(6, 0, attachments.ids)]))
        self.write({"state": "answered", "last_message_at": fields.Datetime.now()})
        if not self.user_id and not self.env.user.share:
            self.user_id = self.env.user
        message._post_to_chatters()
        message._trigger_sender()
        return message.with_env(self.env)

    @api.returns("mail.message", lambda value: value.id)
    def message_post(self, **kwargs):
        """A comment a user posts in the conversation's chatter ("Send message") goes to the person.

        Notes and the addon's own copies of messages (``messenger_chatter_copy``) stay in the chatter.
        """
        if by_addon(self.env, "messenger_chatter_copy"):
            return super().message_post(**kwargs)
        author_id = kwargs.get("author_id")
        if author_id and author_id != self.env.user.partner_id.id:
            raise AccessError(_("You can only post in a conversation as yourself."))
        if kwargs.get("partner_ids"):
            # a note notifies colleagues only: the person is reached by the platform, never by e-mail
            # sudo: whether the mentioned contacts are employees
            partners = self.env["res.partner"].sudo().browse(kwargs["partner_ids"])
            kwargs["partner_ids"] = partners.filtered(
                lambda p: p.user_ids.filtered(lambda u: not u.share and u.active)).ids
        if not self._is_reply_post(kwargs):
            return super().message_post(**kwargs)
        self.ensure_one()
        body = kwargs.get("body") or ""
        text = html2plaintext(body) if kwargs.get("body_is_html") or isinstance(body, Markup) else body
        attachment_ids = list(kwargs.get("attachment_ids") or [])
        if kwargs.get("attachments"):
            raise UserError(_("Attach the files to the message before sending it."))
        # as the user, whatever the caller's sudo (Odoo's post route posts in sudo after checking the thread):
        # the send checks and the access to the files are the user's
        message_id = self.sudo(False).action_send_text(text, attachment_ids=attachment_ids)
        return self.env["messenger.message"].sudo().browse(message_id).mail_message_id.with_env(self.env)

    def _check_can_update_message_content(self, messages):
        # the posts of the chat are what was sent and received: kept as they are (notes stay editable)
        result = super()._check_can_update_message_content(messages)
        self.env["messenger.message"]._check_chatter_copies_unchanged(messages)
        return result

    def _is_reply_post(self, values):
        """Whether message_post ``values`` are a user's comment to the person (not a note, not a notification)."""
        if values.get("message_type", "notification") != "comment":
            return False
        comment = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_comment")
        subtype_id = values.get("subtype_id") or (
            values.get("subtype_xmlid") and self.env["ir.model.data"]._xmlid_to_res_id(values["subtype_xmlid"]))
        return subtype_id == comment

    # ------------------------------------------------------------------
    # UI actions
    # ------------------------------------------------------------------

    def action_close(self):
        self.write({"state": "closed"})

    def action_reopen(self):
        self.write({"state": "waiting"})

    def action_change_partner(self, partner_id, reason):
        """Move the conversation to another contact, with the reason logged in its chatter: open to those who
        may edit the conversation and both contacts (its messages go with it into that person's data)."""
        self.ensure_one()
        reason = (reason or "").strip()
        if not reason:
            raise UserError(_("Say why the chat belongs to another contact."))
        self.check_access("write")
        new = self.env["res.partner"].browse(partner_id).exists()
        if not new:
            raise UserError(_("Choose the contact the chat belongs to."))
        previous = self.partner_id
        (previous | new).check_access("write")
        if previous == new:
            return True
        # sudo: the contact is the addon's field, changed here after the checks above
        self.sudo().write({"partner_id": new.id})
        self.message_post(body=_("Contact changed from %(previous)s to %(new)s: %(reason)s",
                                 previous=previous.display_name or _("none"), new=new.display_name, reason=reason),
                          message_type="comment", subtype_xmlid="mail.mt_note")
        return True

    def action_open_change_partner(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "res_model": "messenger.contact.change", "view_mode": "form",
            "target": "new", "name": _("Change Contact"), "context": {"default_conversation_id": self.id},
        }

    def action_mark_reviewed(self):
        self.write({"needs_review": False, "review_reason": False})

    def action_assign_to_me(self):
        self.write({"user_id": self.env.user.id})

    def action_open_send_template(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Send Template"),
            "res_model": "messenger.template.send",
            "view_mode": "form",
            # complete for callers that run it themselves (the chat's composer), not only for form buttons
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_conversation_id": self.id},
        }

    def _header_markup(self, direction):
        """Small header put before a message copied into a lead's or applicant's chatter."""
        arrow = "←" if direction == "in" else "→"
        return Markup("<p><small>%s %s · %s</small></p>") % (
            arrow, self.account_id._provider_label(), self.account_id.name)
