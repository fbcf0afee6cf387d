import json

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import providers as prov
from .messenger_consent import PURPOSES

ALL_PURPOSES = [key for key, _label in PURPOSES]
#: consent sources of entries recorded by people (a form, an import, by hand), not by the person or platform
RECORDED_BY_PEOPLE = ("manual", "web_form", "import")


class MessengerConversation(models.Model):
    """Consent, opt-out and legal hold of a conversation's person."""

    _name = "messenger.conversation"
    _inherit = ["messenger.conversation", "messenger.legal.hold.mixin"]

    consent_ids = fields.One2many(
        "messenger.consent", compute="_compute_consent", string="Consent Log",
        help="Every opt-in and opt-out of this person on this channel, newest first.")
    consent_service = fields.Selection(
        [("opt_in", "Opted in"), ("opt_out", "Opted out")], compute="_compute_consent", string="Service")
    consent_marketing = fields.Selection(
        [("opt_in", "Opted in"), ("opt_out", "Opted out")], compute="_compute_consent", string="Marketing")
    consent_recruiting = fields.Selection(
        [("opt_in", "Opted in"), ("opt_out", "Opted out")], compute="_compute_consent", string="Recruiting")
    opted_out = fields.Boolean(compute="_compute_consent", help="Opted out of every message.")
    legal_hold = fields.Boolean(
        tracking=True, copy=False, help="Kept whatever the retention policies say, until the hold is lifted.")
    legal_hold_reason = fields.Char(tracking=True, copy=False)
    anonymized = fields.Boolean(
        readonly=True, copy=False, index=True,
        help="A retention policy or an erasure removed this conversation's content.")

    @api.depends_context("uid")
    def _compute_consent(self):
        # sudo: the state is the person's, whichever chat each entry came from; the list shows only the entries
        # the user may read (another account's chat, an erased one), so that the form opens for every reader
        Consent = self.env["messenger.consent"].sudo()
        readable = self.env["messenger.consent"].has_access("read")
        for conversation in self:
            entries = Consent.search([
                ("provider", "=", conversation.provider), ("identity", "=", conversation.external_user_id),
                ("company_id", "=", conversation.company_id.id)]) if conversation.id else Consent
            conversation.consent_ids = entries.with_env(self.env)._filtered_access("read") \
                if readable else entries.browse()
            states = {}
            for entry in entries:  # newest first: the first entry of a purpose decides
                states.setdefault(entry.purpose, entry.action)
            conversation.consent_service = states.get("service", False)
            conversation.consent_marketing = states.get("marketing", False)
            conversation.consent_recruiting = states.get("recruiting", False)
            conversation.opted_out = bool(states) and all(states.get(p) == "opt_out" for p in ALL_PURPOSES)

    def _consent_state(self, purpose):
        self.ensure_one()
        return self.env["messenger.consent"]._state(
            self.provider, self.external_user_id, purpose, self.company_id)

    # ------------------------------------------------------------------
    # Inbound: keywords, first contact, platform events
    # ------------------------------------------------------------------

    def _on_inbound(self, message):
        if self.blocked:
            # writing to us proves the person unblocked us (the platform delivers nothing from a blocked chat)
            self._lift_block("inbound", evidence=message.body, message=message)
        action = self.env["messenger.consent.keyword"]._match(message.body) \
            if message.content_type in ("text", "button", "callback") else None
        if action:
            # the keyword shows before its confirmation (a keyword links nothing: no chatter is missed)
            message._post_to_chatters()
        if action == "opt_out":
            self._opt_out(ALL_PURPOSES, "keyword", evidence=message.body, message=message)
            return  # a STOP is no conversation start: no routing, no linking
        if action == "opt_in":
            self._opt_in(ALL_PURPOSES, "keyword", evidence=message.body, message=message)
            return
        Consent = self.env["messenger.consent"].sudo()
        if not self.routed and not Consent.search_count([  # only a conversation's start can be a first contact
                ("provider", "=", self.provider), ("identity", "=", self.external_user_id),
                ("company_id", "=", self.company_id.id)], limit=1):
            # the person wrote first: the record of that is the basis of the service conversation
            Consent._record(self, ["service"], "opt_in", "inbound", evidence=message.body, message=message)
        result = super()._on_inbound(message)
        job = self._job_from_message(message)
        if job and self._consent_state("recruiting") != "opt_in":
            # applying through a job's link is the person's request to be contacted about that application
            Consent._record(self, ["recruiting"], "opt_in", "inbound", message=message, evidence=_(
                "Applied to %(job)s through its link: %(text)s", job=job.name,
                text=message.payload or message.body or ""))
        return result

    def _apply_platform_event(self, event):
        """The platform's opt-out/opt-in and block/unblock events."""
        self.ensure_one()
        evidence = _("Platform event: %(kind)s", kind=event.kind)
        if event.raw:
            # what the platform said, as it said it (WhatsApp: the user_preferences item with its detail and time)
            evidence = f"{evidence}\n{json.dumps(event.raw, ensure_ascii=False, sort_keys=True)}"
        if event.kind == prov.OPT_OUT:
            self._opt_out(["marketing"], "platform", evidence=evidence, confirm=False)
        elif event.kind == prov.OPT_IN:
            self._opt_in(["marketing"], "platform", evidence=evidence, confirm=False)
        elif event.kind == prov.BLOCK:
            self._block(evidence)
        elif event.kind == prov.UNBLOCK:
            self._lift_block("platform", evidence=evidence)

    def _block(self, evidence):
        """The person blocked us (a refusal of everything): blocked, and opted out of every purpose."""
        self.ensure_one()
        self.sudo().blocked = True  # sudo: what the platform said; only the addon writes it
        self._opt_out(ALL_PURPOSES, "platform", evidence=evidence, confirm=False)

    def _lift_block(self, source, evidence=None, message=None, reason=None):
        """The person came back (wrote again, unblocked us) or a person recorded why the block is over.

        The service conversation is possible again; opt-outs of marketing or recruiting stay until the person
        opts in to them.
        """
        self.ensure_one()
        self.sudo().blocked = False  # sudo: the caller established that the block is over; only the addon writes it
        self.env["messenger.consent"]._record(self, ["service"], "opt_in", source, evidence=evidence,
                                              message=message, reason=reason)
        self._log_note(_("The block is lifted (%(origin)s): service messages can be sent again; other opt-outs "
                         "stay until the person opts in.", origin=source))

    def _log_note(self, body):
        """A note in the conversation's chatter, authored by the current user (no e-mail involved)."""
        self._message_log(body=body, author_id=self.env.user.partner_id.id)

    def _opt_out(self, purposes, source, evidence=None, message=None, reason=None, confirm=True):
        """Record an opt-out at once, blacklist the number, and confirm once where the platform allows."""
        self.ensure_one()
        self.env["messenger.consent"]._record(self, purposes, "opt_out", source, evidence=evidence,
                                              message=message, reason=reason)
        self._blacklist("_add", _("Messenger opt-out (%s)", source))
        self._log_note(_("Opted out of %(purposes)s messages (%(origin)s).",
                         purposes=", ".join(purposes), origin=source))
        if confirm:
            self._send_consent_confirmation(self.account_id.opt_out_confirmation)

    def _opt_in(self, purposes, source, evidence=None, message=None, reason=None, confirm=True):
        self.ensure_one()
        if source in RECORDED_BY_PEOPLE and any(self._consent_state(p) == "opt_out" for p in purposes):
            # only the person undoes their opt-out (START, the platform's resume); a manager may record that they
            # did so elsewhere, with a reason, as a manual entry
            if not (self.env.is_superuser() or self.env.user.has_group("messenger_connector.group_messenger_manager")):
                raise AccessError(_("%(name)s opted out: only a Messenger manager may record an opt-in now, with "
                                    "a reason.", name=self.name))
            if not (reason or "").strip():
                raise UserError(_("%(name)s opted out: say why the opt-in is recorded now (how and when the person "
                                  "gave it).", name=self.name))
            source = "manual"
        self.env["messenger.consent"]._record(self, purposes, "opt_in", source, evidence=evidence,
                                              message=message, reason=reason)
        if not any(self._consent_state(p) == "opt_out" for p in ALL_PURPOSES):
            self._blacklist("_remove", _("Messenger opt-in (%s)", source))
        if "service" in purposes and self.blocked:
            # an opt-in recorded with its reason (or sent by the person) ends a block; sudo: only the addon
            # writes the block, here for that recorded opt-in
            self.sudo().blocked = False
        self._log_note(_("Opted in to %(purposes)s messages (%(origin)s).",
                         purposes=", ".join(purposes), origin=source))
        if confirm:
            self._send_consent_confirmation(self.account_id.opt_in_confirmation)

    def _blacklist(self, method, note):
        """Mirror the opt-out in Odoo's phone blacklist (SMS, marketing) where the identity is a phone number."""
        if not self.phone:
            return
        try:
            getattr(self.env["phone.blacklist"].sudo(), method)([self.phone], message=note)
        except UserError as error:  # a number phone_validation refuses: the consent log still holds
            self._log_note(_("The number could not be updated in the phone blacklist: %s", error))

    def _send_consent_confirmation(self, text):
        """The one message an opt-out allows: its confirmation (skipped where the platform forbids it)."""
        if not text or self.blocked or not self.window_open:
            return
        self._queue_bot_text(text, consent_notice=True)

    # ------------------------------------------------------------------
    # Enforcement before anything is queued
    # ------------------------------------------------------------------

    def _check_can_send(self, template=False, purpose=None, consent_notice=False, **kwargs):
        """The window and block checks, then consent: a reply inside the window to a person who wrote is
        service; anything business-initiated (a template, another purpose, a first message where the platform has no
        window) needs an opt-in for its purpose
        and a number outside Odoo's phone blacklist; an opt-out always wins.

        The one consent check of every path (public methods, wizards, retry, and the sender before the call).
        ``consent_notice``: the confirmation of an opt-out or opt-in, which an opt-out allows.
        """
        result = super()._check_can_send(template=template, **kwargs)
        if consent_notice:
            return result
        purpose = purpose or self.env.context.get("messenger_purpose") or "service"
        labels = dict(PURPOSES)
        latest = self.env["messenger.consent"]._latest(
            self.provider, self.external_user_id, purpose, self.company_id)
        if latest.action == "opt_out":
            raise UserError(_(
                "%(name)s opted out of %(purpose)s messages on %(when)s (%(origin)s). Only an explicit opt-in "
                "(the person sends START, or you record their consent) allows messages again.",
                name=self.name, purpose=labels[purpose].lower(), when=self._format_time(latest.recorded_at),
                origin=dict(latest._fields["source"]._description_selection(self.env))[latest.source]))
        # where the platform has no reply window (X), a message to a person who never wrote to us is the business's
        # first word, not a reply: like any business-initiated message it needs their opt-in
        unsolicited = not self.has_window and not self.last_inbound_at
        business_initiated = template or purpose != "service" or unsolicited
        if business_initiated and latest.action != "opt_in":
            raise UserError(_(
                "No opt-in of %(name)s (%(identity)s on %(provider)s) for %(purpose)s messages: a business-"
                "initiated message needs one. Record the person's consent first (Consent > Record Consent).",
                name=self.name, identity=self.phone or self.external_user_id,
                provider=self.account_id._provider_label(), purpose=labels[purpose].lower()))
        if business_initiated and self._phone_blacklisted():
            raise UserError(_(
                "The number %(phone)s of %(name)s is in Odoo's phone blacklist (SMS, marketing): no message "
                "the business starts may go to it. A reply to a message the person just sent stays possible.",
                phone=self.phone, name=self.name))
        return result

    def _phone_blacklisted(self):
        """Whether the person's number is in Odoo's phone blacklist (where the identity has a number)."""
        if not self.phone:
            return False
        # sudo: the blacklist is read to decide a send, not shown; only its yes/no answer is used
        return bool(self.env["phone.blacklist"].sudo().search_count(
            [("number", "=", self.phone), ("active", "=", True)], limit=1))

    def action_send_template(self, name, language, params=None, purpose="service"):
        """Queue a WhatsApp template message (public API): allowed outside the window with an opt-in."""
        return super(MessengerConversation, self.with_context(messenger_purpose=purpose)).action_send_template(
            name, language, params)

    def action_send_text(self, body, purpose="service", attachment_ids=None):
        return super(MessengerConversation, self.with_context(messenger_purpose=purpose)).action_send_text(
            body, attachment_ids=attachment_ids)

    # ------------------------------------------------------------------
    # Retention and erasure
    # ------------------------------------------------------------------

    #: tracked fields whose values name the person: their tracking rows would keep the old names
    _PERSON_TRACKED_FIELDS = ("partner_id", "lead_id", "candidate_id", "applicant_id")

    def _retention_remove(self, delete=False):
        """Remove this conversation's content (messages on legal hold excepted).

        delete: the messages go, and the conversation too unless a held message keeps it.
        anonymize: the message rows stay (direction, states, dates) without content; the identity goes.
        Either way nothing the person said stays anywhere: chatter copies, attachments (and their index),
        raw deliveries (also those with no message of ours: edits, member changes, preferences), the consent
        log's evidence, tracked names.
        """
        self.ensure_one()
        conversation = self.sudo()
        messages = conversation.messenger_message_ids
        held = messages.filtered("legal_hold")
        # looked up while the identity is still there
        events = conversation._person_events().filtered(lambda e: not e.message_ids.filtered("legal_hold"))
        consents = conversation._consent_entries().filtered(lambda e: e.message_id not in held)
        counts = (messages - held)._remove_content(delete=delete)
        events._remove_content()
        consents._erase_evidence()
        chat = conversation.channel_id
        if delete and not held:
            # the chat goes with its posts (the colleagues' notes about the person, who handled it): the database
            # would drop the chat with the conversation, and leave its posts behind
            chat.unlink()
            conversation.unlink()
            return counts
        # sudo (here and below): retention and erasure run for whoever triggered them (cron, a manager) and must
        # reach every copy; they only ever remove this conversation's content
        chatter = self.env["mail.message"].sudo().search([("model", "=", self._name), ("res_id", "=", self.id)])
        kept = held.chatter_message_ids
        if chat:
            # the colleagues' notes in the chat speak of the person too
            chat_posts = self.env["mail.message"].sudo().search(
                [("model", "=", "discuss.channel"), ("res_id", "=", chat.id)])
            chat_posts.filtered(lambda m: m not in held.channel_message_id and m.message_type == "comment").write(
                {"body": _("[removed]")})
            chatter |= chat_posts
        chatter.filtered(lambda m: m not in kept and m.message_type != "notification").write(
            {"body": _("[removed]")})
        # the files of the conversation, and those its chat's posts carry (the chat is where messages are shown)
        files = self.env["ir.attachment"].sudo().search([("res_model", "=", self._name), ("res_id", "=", self.id)])
        if chat:
            files |= self.env["ir.attachment"].sudo().search(
                [("res_model", "=", "discuss.channel"), ("res_id", "=", chat.id)]) | chat_posts.attachment_ids
        (files - held.attachment_ids - kept.attachment_ids).unlink()
        vals = {"anonymized": True, "last_message_preview": False}
        if not held:
            self.env["mail.tracking.value"].sudo().search([
                ("mail_message_id", "in", chatter.ids), ("field_id.model", "=", self._name),
                ("field_id.name", "in", self._PERSON_TRACKED_FIELDS)]).unlink()
            vals.update(profile_name=False, username=False, phone=False, partner_id=False,
                        external_user_id=f"anonymized-{self.id}", needs_review=False, review_reason=False)
        # no tracking: the change would record the old name once more
        conversation.with_context(mail_notrack=True).write(vals)
        if not held:
            chatter.exists().write({"record_name": conversation.name})
        return counts

    def _consent_entries(self):
        """The consent log of this conversation's person on its channel (company of the conversation)."""
        self.ensure_one()
        # sudo: consent entries are readable by managers only once detached; the caller is retention/erasure
        return self.env["messenger.consent"].sudo().search([
            "|", ("conversation_id", "=", self.id),
            "&", "&", ("provider", "=", self.provider), ("identity", "=", self.external_user_id),
            ("company_id", "=", self.company_id.id)])

    def _person_events(self):
        """Stored deliveries of this company that name this person's platform id as a value."""
        self.ensure_one()
        identity = self.external_user_id
        # sudo: raw deliveries are managers-only records; only their content is removed by the caller
        events = self.env["messenger.event"].sudo().search([
            ("company_id", "=", self.company_id.id), ("state", "!=", "pending"), ("body", "like", identity)])
        return events.filtered(lambda event: identity in event._values())

    @api.ondelete(at_uninstall=False)
    def _unlink_except_legal_hold(self):
        held = self.filtered("legal_hold")
        if held:
            raise UserError(_("The conversation %(name)s is under legal hold (%(reason)s) and cannot be deleted.",
                              name=held[0].name, reason=held[0].legal_hold_reason))

    @api.ondelete(at_uninstall=True)
    def _unlink_remove_content(self):
        """Deleting a conversation (any way) removes its messages' content everywhere (after the hold check
        above: ondelete methods run in name order)."""
        self.sudo().messenger_message_ids.unlink()
        self.env["ir.attachment"].sudo().search([("res_model", "=", self._name), ("res_id", "in", self.ids)]).unlink()

    # ------------------------------------------------------------------
    # UI
    # ------------------------------------------------------------------

    def action_record_consent(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Record Consent"), "res_model": "messenger.consent.record",
            "view_mode": "form", "target": "new", "context": {"default_conversation_id": self.id},
        }

    def action_place_legal_hold(self):
        """Place a hold (button): ask for its reason first."""
        self._check_legal_hold_rights()
        return self.env["messenger.legal.hold.change"]._open(self, "place")

    def _legal_hold_conversation(self):
        return self

    @api.constrains("legal_hold", "legal_hold_reason")
    def _check_legal_hold_reason(self):
        for conversation in self:
            if conversation.legal_hold and not (conversation.legal_hold_reason or "").strip():
                raise UserError(_("A legal hold needs a reason (what must be kept on record, and why)."))
