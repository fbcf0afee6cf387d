from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

#: the order in which a person's ids decide their conversation when they lead to several: the platform's current
#: id of the person first (a BSUID is never reused), a number last (it passes to another person one day)
ALIAS_PRIORITY = ("bsuid", "parent_bsuid", "number")


class MessengerConversationAlias(models.Model):
    """One id of a person on one account: WhatsApp number, business-scoped user id (BSUID) or parent BSUID.

    All of a person's ids lead to one conversation (and so one contact); ``external_user_id`` stays the id the
    conversation was first keyed on. BSUIDs belong to one business portfolio: never matched across accounts.
    Old ids stay after a change, so that late webhooks still find the conversation.
    """

    _name = "messenger.conversation.alias"
    _description = "Messenger Conversation Alias"
    _order = "id"
    _rec_name = "value"

    conversation_id = fields.Many2one(
        "messenger.conversation", required=True, index=True, ondelete="cascade", readonly=True)
    account_id = fields.Many2one("messenger.account", required=True, index=True, ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="conversation_id.company_id", store=True, index=True)
    kind = fields.Selection(
        [("number", "Number"), ("bsuid", "Business-Scoped User ID"), ("parent_bsuid", "Parent BSUID")],
        required=True, readonly=True)
    value = fields.Char(required=True, readonly=True)

    _sql_constraints = [
        ("account_value_unique", "UNIQUE(account_id, value)", "An id leads to one conversation per account."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        # what the platform said about who is who: recorded by the addon only
        if not self.env.su:
            raise AccessError(_("The ids of a person come from the platform and cannot be set."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(_("The ids of a person come from the platform and cannot be changed."))
        return super().write(vals)


class MessengerConversation(models.Model):
    """A person known by any of their ids (WhatsApp number, BSUID, parent BSUID)."""

    _inherit = "messenger.conversation"

    alias_ids = fields.One2many("messenger.conversation.alias", "conversation_id", string="Platform IDs",
                                readonly=True)
    #: ids of this person that lead to another chat, already put to a person for review: flagged once, so that a
    #: chat marked reviewed is not flagged again by every later message
    alias_conflicts = fields.Json(readonly=True, copy=False, groups="base.group_system")

    @api.model
    def _find_by_aliases(self, account, event):
        """The conversation of the person an event names by one or more ids, or an empty recordset.

        Ids that lead to several conversations (the person wrote once by number, once by BSUID before the two
        were known to be one) are never merged: the first by ALIAS_PRIORITY is used and flagged for a person.
        """
        values = {value: kind for kind, value in event.aliases}
        if event.external_user_id:
            values.setdefault(event.external_user_id, "number")
        # sudo: the processor identifies the person whoever could read their chat
        aliases = self.env["messenger.conversation.alias"].sudo().search(
            [("account_id", "=", account.id), ("value", "in", list(values))])
        by_kind = {}
        for alias in aliases:
            by_kind.setdefault(values[alias.value], self.browse(alias.conversation_id.id))
        # conversations from before the ids were recorded: keyed on one of them
        for conversation in self.search([("account_id", "=", account.id),
                                         ("external_user_id", "in", list(values))], order="id"):
            by_kind.setdefault(values[conversation.external_user_id], conversation)
        found = [by_kind[kind] for kind in ALIAS_PRIORITY if kind in by_kind]
        if not found:
            return self.browse()
        conversation = found[0]
        others = self.browse({c.id for c in found}) - conversation
        if others and conversation._new_alias_conflict([f"chat:{other.id}" for other in others]):
            conversation._review(_("Ids of this person also lead to the chat %(others)s: check whether they are the "
                                   "same person (chats are never merged automatically).",
                                   others=", ".join(others.mapped("name"))))
        return conversation

    def _new_alias_conflict(self, keys):
        """Whether one of ``keys`` (another chat, an id) is a conflict not yet put to a person; remembered."""
        self.ensure_one()
        known = self.sudo().alias_conflicts or []
        new = [key for key in keys if key not in known]
        if new:
            self.sudo().alias_conflicts = known + new
        return bool(new)

    def _learn_aliases(self, aliases):
        """Record ``aliases`` ((kind, value) pairs the platform gave together) as this person's ids; a number
        among them fills the person's phone. An id already held by another conversation stays there (flagged)."""
        self.ensure_one()
        Alias = self.env["messenger.conversation.alias"].sudo()
        aliases = list(aliases)
        if self.external_user_id and not any(value == self.external_user_id for _kind, value in aliases):
            # the id the conversation was keyed on is one of its ids too
            own = "number" if self.phone or self.external_user_id.isdigit() else "bsuid"
            aliases.append((own, self.external_user_id))
        known = {alias.value: alias for alias in Alias.search(
            [("account_id", "=", self.account_id.id), ("value", "in", [value for _kind, value in aliases])])}
        kinds = {value: kind for kind, value in reversed(aliases)}  # one row per id, the first kind given
        new = [{"account_id": self.account_id.id, "conversation_id": self.id, "kind": kind, "value": value}
               for value, kind in kinds.items() if value not in known]
        if new:
            Alias.create(new)
        taken = [alias for alias in known.values() if alias.conversation_id != self]
        if taken and self._new_alias_conflict([f"id:{alias.id}" for alias in taken]):
            self._review(_("The id %(id)s of this person already belongs to the chat %(other)s: check whether they "
                           "are the same person (chats are never merged automatically).",
                           id=taken[0].value, other=taken[0].conversation_id.name))
        number = next((value for kind, value in aliases if kind == "number"), None)
        if number and number not in {a.value for a in taken}:
            self._learn_number(f"+{number}")

    def _learn_number(self, phone, previous=None):
        """The person's number became visible (or changed): the chat's phone, and the contact's when no other
        contact has it. Another contact with the number flags the chat: a person decides, nothing is merged.

        ``previous``: the number the person had before (a change of number), replaced on the contact."""
        self.ensure_one()
        e164 = self._normalize_phone(phone, self.account_id)
        if not e164 or (self.phone == e164 and not previous):
            return
        self.sudo().phone = e164  # sudo: the platform's word; only the addon writes it
        partner = self.partner_id.sudo()
        company_domain = [("company_id", "in", [False, self.company_id.id])]
        others = self._partners_with_number(e164, company_domain) - partner.commercial_partner_id - partner
        if others:
            self._review(_("The number %(phone)s that %(name)s now shows is already the number of %(other)s: check "
                           "whether they are the same person (contacts are never merged automatically).",
                           phone=e164, name=self.name, other=others[0].name))
            return
        if partner and (not partner.mobile and not partner.phone or previous and partner.mobile == previous):
            partner.mobile = e164

    def _send_address(self):
        """Where a message to this person goes: their number when it is known, else their current business-scoped
        user id (the latest WhatsApp gave: an old one after a change no longer reaches them), which the provider
        sends as ``recipient``; other platforms: the id the conversation is keyed on."""
        self.ensure_one()
        if self.provider != "whatsapp":
            return self.external_user_id
        if self.phone:
            return self.phone.lstrip("+")
        bsuids = self.sudo().alias_ids.filtered(lambda alias: alias.kind == "bsuid").sorted("id")
        return bsuids[-1:].value or self.external_user_id

    def _apply_identity_change(self, event):
        """The person's ids changed (a new BSUID, a new number): the new ones become aliases of the same
        conversation, the old ones stay so that late webhooks still find it. Never a chat message."""
        self.ensure_one()
        previous_number = next((value for kind, value in event.previous_aliases if kind == "number"), None)
        self._learn_aliases([alias for alias in event.aliases if alias[0] != "number"])
        number = next((value for kind, value in event.aliases if kind == "number"), None)
        if number:
            Alias = self.env["messenger.conversation.alias"].sudo()
            if not Alias.search_count([("account_id", "=", self.account_id.id), ("value", "=", number)]):
                Alias.create({"account_id": self.account_id.id, "conversation_id": self.id, "kind": "number",
                              "value": number})
            self._learn_number(f"+{number}", previous=previous_number and self._normalize_phone(
                f"+{previous_number}", self.account_id))
        self._log_note(_("%(name)s's WhatsApp ids changed: %(ids)s. Messages keep arriving in this chat.",
                         name=self.name, ids=", ".join(value for _kind, value in event.aliases)))

    @api.model
    def _search_number(self, operator, value):
        """Also finds a person by the username they show (people whose number is not visible)."""
        domain = super()._search_number(operator, value)
        username = (value or "").strip().lstrip("@") if isinstance(value, str) else ""
        if username and not username.isdigit():
            return ["|", ("username", "ilike", username)] + domain
        return domain


    # ------------------------------------------------------------------
    # Outbound: what a person without a visible number can receive
    # ------------------------------------------------------------------

    def _check_template_address(self, name, language):
        """Authentication templates need the person's number: refused for a person known by their BSUID only
        (the platform would answer 131062)."""
        self.ensure_one()
        if self.phone or self.provider != "whatsapp":
            return
        template = self.env["messenger.template"]._find(self.account_id, name, language)
        if template and template.category == "authentication":
            raise UserError(_(
                "The template %(name)s is an authentication template, which WhatsApp delivers only to a phone number "
                "(error 131062), and %(person)s has not shared theirs. Use Request Contact Info first.",
                name=name, person=self.name))

    def action_send_template(self, name, language, *args, **kwargs):
        if name and language:
            self._check_template_address(name, language)
        return super().action_send_template(name, language, *args, **kwargs)

    def action_request_contact_info(self):
        """Ask a person whose number is not visible to share it: the platform's request inside the reply window,
        an approved template with the request button outside it. Their answer fills the number (see _receive)."""
        self.ensure_one()
        provider = self.account_id._provider_class()
        if not provider or not provider.asks_contact_info:
            raise UserError(_("%(provider)s cannot ask for a phone number.",
                              provider=self.account_id._provider_label()))
        if self.phone:
            raise UserError(_("The number of %(name)s is already known: %(phone)s.", name=self.name, phone=self.phone))
        terms = self._reply_terms()
        if terms.allowed and not terms.tag:
            self._check_can_send()
            return self._queue({"content_type": "contact_request", "body": _(
                "Please share your phone number with us, so that we can reach you by phone as well.")}).id
        template = self._contact_request_template()
        if not template:
            raise UserError(_(
                "The reply window of this conversation is closed, and the account has no approved utility or marketing "
                "template with a Request Contact Info button: create one in WhatsApp Manager, then sync the "
                "templates."))
        return self.action_send_template(template.name, template.language)

    def _contact_request_template(self):
        """An approved template of the account with a REQUEST_CONTACT_INFO button and no values to fill, in the
        person's language when there is one."""
        templates = self.env["messenger.template"].search([
            ("account_id", "=", self.account_id.id), ("status", "=", "approved"),
            ("category", "in", ("utility", "marketing"))]).filtered(lambda t: not t._placeholders() and any(
                (button.get("type") or "").upper() == "REQUEST_CONTACT_INFO" for button in t.buttons or []))
        language = (self.profile_language or self.partner_id.lang or self.env.lang or "").lower()
        return templates.sorted(lambda t: (t.language.lower() != language, t.language[:2] != language[:2], t.id))[:1]

    # ------------------------------------------------------------------
    # Retention and erasure: every id of the person goes with the conversation's identity
    # ------------------------------------------------------------------

    def _person_events(self):
        """Also the deliveries that name the person by another of their ids (a BSUID, a number)."""
        events = super()._person_events()
        for value in set(self.sudo().alias_ids.mapped("value")) - {self.external_user_id}:
            # sudo: raw deliveries are managers-only records; only their content is removed by the caller
            found = self.env["messenger.event"].sudo().search([
                ("company_id", "=", self.company_id.id), ("state", "!=", "pending"), ("body", "like", value)])
            events |= found.filtered(lambda event, value=value: value in event._values())
        return events

    def _retention_remove(self, delete=False):
        aliases = self.sudo().alias_ids
        counts = super()._retention_remove(delete=delete)
        if aliases and (not self.exists() or self.anonymized and self.external_user_id.startswith("anonymized-")):
            aliases.exists().unlink()  # the identity went: none of its ids may find the anonymized chat again
            self.exists().sudo().alias_conflicts = False
        return counts
