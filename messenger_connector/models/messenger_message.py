import collections
import dataclasses
import datetime
import logging
import mimetypes
import threading
import time
import unicodedata

import psycopg2

from odoo import _, api, fields, models, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tools import plaintext2html

from .. import providers as prov

_logger = logging.getLogger(__name__)

#: Outbound states only move forward along this order ("failed" is final until a person retries).
#: the longest file name kept (most file systems' limit, in characters)
MAX_FILENAME = 255


def clean_filename(name):
    """A sender's file name as stored: its last path component (no directory can be named), without control
    or format characters (a right-to-left override makes "\u202etxt.exe" read "exe.txt"), without leading dots;
    None when nothing is left."""
    name = unicodedata.normalize("NFC", name) if isinstance(name, str) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs"))
    name = name.strip().lstrip(".").strip()
    return name[:MAX_FILENAME] or None


STATE_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
#: A message left in "sending" longer than this was interrupted (the sender died mid-call). Only used when
#: the sender lock is not ours to hold; under the lock any "sending" row is an interrupted one.
SENDING_STALE_AFTER = datetime.timedelta(minutes=5)
MAX_RETRY_DELAY = 3600
SEND_BATCH = 100
#: Sends per second when neither the account nor its provider class (``Provider.rate_limit``, from
#: PROVIDERS.md) says. The sender paces itself at that rate: the platform's cap is a ceiling, never a target.
DEFAULT_SEND_RATE = 20
#: One run of the sender cron sends for at most this long, then reports progress and is called again at once
#: (well below Odoo's limit_time_real of cron workers).
SEND_RUN_SECONDS = 45
#: An account answered "slow down" (429 / rate-limit code / 5xx / network) several times in a row: it is
#: paused for max(retry_after, 1, 2, 4 ... MAX_ACCOUNT_PAUSE seconds); its other messages wait, untouched.
MAX_ACCOUNT_PAUSE = 60
#: a pause shorter than this is waited for within the run (even past SEND_RUN_SECONDS); a longer one is handed
#: over to the messages' next attempt and a cron trigger (a future trigger only fires at the cron worker's next
#: poll, up to a minute later: measured 59 s of idle sending after a 5-second throttling storm)
MAX_INLINE_PAUSE = 10
#: media types a browser runs rather than shows, besides HTML/XML/SVG (which Odoo itself stores as text/plain)
ACTIVE_MIMETYPES = {"application/x-msdownload", "application/hta", "text/vbscript", "application/java-archive"}
#: PostgreSQL advisory lock held (session level) by the one sender that runs: under it, a message found in
#: "sending" was interrupted by a crash, never in flight.
SENDER_LOCK_KEY = 0x6D63_5345  # "mcSE"

#: attempts at recording the platform's answer when the database refuses the write (a concurrent update, a lost
#: connection): the call is never repeated, only the recording of its answer
RECORD_ATTEMPTS = 3

#: end times (time.monotonic) of the last second of calls, per (database, account): this process's memory
#: of the pace; the database seeds it at the start of every run (another process may have sent just before)
_SEND_WINDOWS = {}


def _auto_commit():
    return not getattr(threading.current_thread(), "testing", False)


class MessengerMessage(models.Model):
    _name = "messenger.message"
    _description = "Messenger Message"
    _order = "id desc"
    _rec_name = "body"

    conversation_id = fields.Many2one(
        "messenger.conversation", required=True, index=True, ondelete="cascade", readonly=True)
    account_id = fields.Many2one(related="conversation_id.account_id", store=True, index=True)
    company_id = fields.Many2one(related="conversation_id.company_id", store=True, index=True)
    partner_id = fields.Many2one(related="conversation_id.partner_id", string="Contact")
    direction = fields.Selection([("in", "Inbound"), ("out", "Outbound")], required=True, readonly=True)
    external_id = fields.Char("Provider Message ID", readonly=True, copy=False, index="btree_not_null")
    body = fields.Text(readonly=True)
    content_type = fields.Selection([
        ("text", "Text"), ("image", "Image"), ("document", "Document"), ("audio", "Audio"),
        ("video", "Video"), ("sticker", "Sticker"), ("location", "Location"), ("button", "Button Reply"),
        ("callback", "Button Press"), ("template", "Template"), ("contact_request", "Contact Info Request"),
        ("other", "Other"),
    ], default="text", required=True, readonly=True)
    payload = fields.Char(readonly=True, help="Button, list or start payload the person sent.")
    reply_to_external_id = fields.Char(readonly=True)
    location = fields.Json(readonly=True)
    state = fields.Selection([
        ("received", "Received"), ("queued", "Queued"), ("sending", "Sending"), ("sent", "Sent"),
        ("delivered", "Delivered"), ("read", "Read"), ("failed", "Failed"),
    ], required=True, readonly=True, index=True)
    error_code = fields.Char(readonly=True)
    error_message = fields.Char(readonly=True)
    pricing_category = fields.Char(
        readonly=True, help="The platform's pricing category of the message (WhatsApp: marketing, utility, "
                            "authentication, service...), as its status reported it.")
    pricing_type = fields.Char(
        readonly=True, help="How the platform priced the message (WhatsApp: regular = billed, "
                            "free_customer_service, free_entry_point), as its status reported it.")
    author_id = fields.Many2one("res.users", "Sent By", readonly=True)
    sent_via = fields.Char(
        readonly=True, help="Sent by a colleague from the platform's own app, not from Odoo: the platform the "
                            "message came through.")
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(readonly=True)
    received_at = fields.Datetime(readonly=True)
    sent_at = fields.Datetime(readonly=True)
    delivered_at = fields.Datetime(readonly=True)
    read_at = fields.Datetime(readonly=True)
    failed_at = fields.Datetime(readonly=True)
    consent_notice = fields.Boolean(
        readonly=True, help="Confirms an opt-out or opt-in: the one message an opt-out still allows.")
    template_name = fields.Char(readonly=True)
    template_language = fields.Char(readonly=True)
    template_params = fields.Json(readonly=True)
    media_ref = fields.Json(readonly=True)
    media_state = fields.Selection([
        ("none", "No Media"), ("pending", "To Download"), ("done", "Downloaded"), ("failed", "Download Failed"),
    ], default="none", required=True, readonly=True)
    media_error = fields.Char(readonly=True)
    callback_query_id = fields.Char(
        readonly=True, copy=False, help="A button press the platform waits to see acknowledged (answered after "
                                        "the message is stored, then cleared).")
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments", readonly=True)
    mail_message_id = fields.Many2one("mail.message", "Chatter Message", readonly=True, index="btree_not_null")
    event_id = fields.Many2one(
        "messenger.event", "Webhook Event", readonly=True, ondelete="set null",
        groups="messenger_connector.group_messenger_manager")

    _sql_constraints = [
        ("external_id_unique", "UNIQUE(account_id, external_id)",
         "A provider message id is stored once per account."),
    ]

    def _check_access(self, operation):
        # access follows the conversation, whose access fields are never trusted from the cache
        self.env["messenger.conversation"].invalidate_model(["access_read", "access_write"])
        return super()._check_access(operation)

    # ------------------------------------------------------------------
    # What users may change
    # ------------------------------------------------------------------

    def _user_writable_fields(self):
        """Fields a user may write directly; everything else (direction, body, conversation, ids, author,
        dates, states, attachments) is written only by the addon's own code after its checks."""
        return {"legal_hold", "legal_hold_reason"}

    @api.model_create_multi
    def create(self, vals_list):
        # Messages come from the platform (the processor) or from the public sending methods, which check
        # window, block and consent and then create them as superuser; a user never creates one directly.
        if not self.env.su:
            raise AccessError(_("Messages cannot be created directly: use Send (or a send method of the "
                                "conversation), which checks the window, blocks and consent first."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            refused = set(vals) - self._user_writable_fields()
            if refused:
                raise AccessError(_(
                    "What a message says, where it goes and its state are kept as sent or received: "
                    "%(fields)s cannot be changed. Use Retry to send a failed message again.",
                    fields=", ".join(sorted(refused))))
        return super().write(vals)

    # ------------------------------------------------------------------
    # Chatter
    # ------------------------------------------------------------------

    def _chatter_body(self):
        self.ensure_one()
        if self.content_type == "location" and self.location:
            loc = self.location
            text = "\n".join(filter(None, [
                _("Location: %(lat)s, %(lon)s", lat=loc.get("latitude"), lon=loc.get("longitude")),
                loc.get("name"), loc.get("address")]))
        else:
            text = self.body or self._content_label()
        if self.sent_via:
            text = _("(sent via %(platform)s) %(text)s", platform=self.sent_via, text=text)
        return plaintext2html(text)

    def _content_label(self):
        self.ensure_one()
        return "[%s]" % dict(self._fields["content_type"]._description_selection(self.env)).get(self.content_type)

    def _post_to_chatters(self):
        """Show each message once in its conversation's Discuss chat (through the chat's message_post, see
        _post_to_channels) and as a logged note on the conversation's lead and applicant. The conversation's
        own chatter keeps what happens to the conversation, not what is said in it.

        While a group of webhook events is applied together (``messenger_batch`` in the context, see
        messenger.event._apply_group) the posts wait for the end of the group, so that the notes are logged
        with one call per record for the whole group.
        """
        # each message once (a keyword is posted before its confirmation, then again as it was received)
        batch = self.env.context.get("messenger_batch")
        if batch is not None:
            batch.chatter.update(dict.fromkeys(self.ids))
            return
        # sudo: posting into the chat and on the linked records is part of storing the message, which the caller
        # was allowed to do; each post is authored by the person or the agent, not by sudo
        messages = self.sudo().with_context(messenger_batch=None).filtered(lambda m: not m.mail_message_id)
        for message in messages:
            message.conversation_id.last_message_preview = (message.body or "")[:120] or message._content_label()
        messages.filtered(lambda m: not m.channel_message_id)._post_to_channels()
        copies = {message: [] for message in messages}
        items = [(record, message._chatter_author(),
                  message.conversation_id._header_markup(message.direction) + message._chatter_body(), message)
                 for message in messages for record in message.conversation_id._chatter_records()]
        for owner, copy in self._log_copies(items):
            copies[owner].append(copy.id)
        # every copy is remembered, so that retention and erasure can remove the content everywhere
        for message, copy_ids in copies.items():
            message.write({"mail_message_id": message.channel_message_id.id,
                           "chatter_message_ids": [(4, copy_id) for copy_id in copy_ids]})

    def _chatter_author(self):
        self.ensure_one()
        if self.direction == "in":
            return self.conversation_id.partner_id.id
        return self.author_id.partner_id.id or self.env.user.partner_id.id

    @api.model
    def _log_copies(self, items):
        """Log chatter copies ([(record, author partner id, body, message)]) through ``_message_log_batch``: one
        call per model and author with each record once, the calls ordered so that every record's copies keep
        the order of ``items``. Return [(message, copy)].
        """
        batches = []  # [model, author id, files, {res_id: body}, {res_id: message}]
        last = {}  # (model, res_id): index of the batch with the record's latest copy
        for record, author_id, body, message in items:
            key = (record._name, record.id)
            # a message's files go with its copies: such a copy is logged in a call of its own
            files = tuple(message.attachment_ids.ids)
            index = None if files else next((
                i for i in range(last.get(key, -1) + 1, len(batches))
                if batches[i][0] == record._name and batches[i][1] == author_id and not batches[i][2]), None)
            if index is None:
                batches.append([record._name, author_id, files, {}, {}])
                index = len(batches) - 1
            batches[index][3][record.id] = body
            batches[index][4][record.id] = message
            last[key] = index
        logged = []
        for model, author_id, files, bodies, owners in batches:
            # sudo: the copies are part of storing the message, which the caller was allowed to do
            copies = self.env[model].sudo().browse(list(bodies))._message_log_batch(
                bodies, author_id=author_id, message_type="comment", attachment_ids=list(files))
            logged.extend(zip(owners.values(), copies))
        return logged

    # ------------------------------------------------------------------
    # Media
    # ------------------------------------------------------------------

    def _schedule_followups(self):
        """Media to download and button presses to acknowledge wait for the commit of the transaction that
        stored the message: the follow-up job calls the platform then, holding none of its locks, once."""
        if self.filtered(lambda m: m.media_state == "pending" or m.callback_query_id):
            self.env.ref("messenger_connector.ir_cron_message_followups").sudo()._trigger()

    @api.model
    def _cron_followups(self):
        """Answer pending button presses and download pending media, committing after each message."""
        started = time.monotonic()
        done = 0
        Conversation = self.env["messenger.conversation"]
        while time.monotonic() - started < SEND_RUN_SECONDS:
            conversations = Conversation.search([("profile_pending", "=", True)], order="id", limit=SEND_BATCH)
            for conversation in conversations:
                conversation._fetch_profile()
                if _auto_commit():
                    self.env.cr.commit()
                done += 1
            messages = self.search([("direction", "=", "in"), "|", ("callback_query_id", "!=", False),
                                    ("media_state", "=", "pending")], order="id", limit=SEND_BATCH)
            if not messages and not conversations:
                break
            for message in messages:
                message._answer_callback()
                if message.media_state == "pending" and not message.media_ref:
                    message.media_state = "none"  # its content was removed meanwhile: nothing to download
                elif message.media_state == "pending":
                    message._download_media()
                if _auto_commit():
                    self.env.cr.commit()
                done += 1
        self.env["ir.cron"]._notify_progress(done=done, remaining=self.search_count([
            ("direction", "=", "in"), "|", ("callback_query_id", "!=", False), ("media_state", "=", "pending")]))

    def _answer_callback(self):
        """Acknowledge the button press (Telegram stops showing it as loading); at most once."""
        self.ensure_one()
        query_id = self.callback_query_id
        if not query_id:
            return
        self.write({"callback_query_id": False})
        try:
            self.account_id._get_provider().answer_callback(query_id)
        except prov.ProviderError as error:
            _logger.info("Could not answer the button press of messenger message %s: %s", self.id, error.message)

    def _download_media(self):
        """Download the message's media into an attachment of its conversation (never public).

        A failure keeps the message, marks the download failed with its reason (shown in the conversation),
        and can be retried. A download shows in the message's chatter posts.
        """
        for message in self.filtered(lambda m: m.media_ref):
            ref = message.media_ref
            media = prov.Media(id=ref.get("id"), url=ref.get("url"), mime_type=ref.get("mime_type"),
                               filename=ref.get("filename"))
            try:
                downloaded = message.account_id._get_provider().download_media(media)
            except prov.ProviderError as error:
                message.write({"media_state": "failed", "media_error": error.message})
                message.conversation_id.sudo()._message_log(body=_(
                    "The media of a message could not be downloaded: %(error)s. Use \"Download Again\" on the "
                    "message to try again.", error=error.message))
                continue
            mime = self._safe_mimetype(downloaded.mime_type or media.mime_type or "application/octet-stream")
            name = clean_filename(downloaded.filename) or clean_filename(media.filename) or "%s-%s%s" % (
                message.content_type, message.id, self._guess_extension(mime))
            # stored the way Odoo stores an ordinary user's upload (HTML, SVG, XML become text/plain),
            # although the cron runs as superuser: whatever the sender claimed, nothing is served as a page
            attachment = self.env["ir.attachment"].with_context(attachments_mime_plainxml=True).create({
                "name": name,
                "raw": downloaded.content,
                "mimetype": mime,
                "res_model": "messenger.conversation",
                "res_id": message.conversation_id.id,
                "public": False,
            })
            message.write({"attachment_ids": [(4, attachment.id)], "media_state": "done", "media_error": False})
            posts = message.mail_message_id | message.chatter_message_ids
            if posts:
                # sudo: the posts are the message's own copies; the file follows the conversation's access
                posts.sudo().write({"attachment_ids": [(4, attachment.id)]})

    @staticmethod
    def _safe_mimetype(mime):
        """A sender's media type, unless a browser would run it (scripts, Flash): then a plain download."""
        base = mime.split(";")[0].strip().lower()
        if "javascript" in base or "ecmascript" in base or "shockwave" in base or base in ACTIVE_MIMETYPES:
            return "application/octet-stream"
        return mime

    @staticmethod
    def _guess_extension(mime):
        return mimetypes.guess_extension(mime.split(";")[0].strip()) or ""

    def action_retry_media(self):
        self.check_access("write")
        # sudo: the user may write these messages (checked above); the download fields are the addon's to write
        for message in self.sudo().filtered(lambda m: m.media_state == "failed"):
            message._download_media()
        return True

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    def _trigger_sender(self, at=None):
        self.env.ref("messenger_connector.ir_cron_send_messages").sudo()._trigger(at)

    def _due_domain(self, exclude_accounts=()):
        domain = [("direction", "=", "out"), ("state", "=", "queued"),
                  "|", ("next_attempt_at", "=", False), ("next_attempt_at", "<=", fields.Datetime.now())]
        if exclude_accounts:
            domain.append(("account_id", "not in", list(exclude_accounts)))
        return domain

    @api.model
    def _cron_send(self):
        """Send the queued messages that are due, each account at most at its platform's rate.

        One sender at a time (a PostgreSQL advisory lock, released by a crash with the connection), so that
        interrupted sends are reconciled first, before anything is sent. The run loops over batches for up to
        SEND_RUN_SECONDS; an account that is told to slow down is paused (its pending messages wait) while
        the other accounts go on.
        """
        # The lock lives in a transaction of its own connection: whatever happens to the sending transaction
        # (a database error aborts it), ending that lock transaction releases the lock at once.
        lock_cr = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            lock_cr.execute("SELECT pg_try_advisory_xact_lock(%s)", [SENDER_LOCK_KEY])
            if not lock_cr.fetchone()[0]:
                _logger.info("Another sender is running: this run leaves the queue to it.")
                return
            self._reconcile_interrupted(stale_after=None)
            if _auto_commit():
                self.env.cr.commit()
            self._send_due()
        finally:
            lock_cr.close()  # rolls its transaction back: the lock is released

    @api.model
    def _send_due(self):
        started = time.monotonic()
        windows, limits, pauses, throttles, done = {}, {}, {}, {}, 0
        while time.monotonic() - started < SEND_RUN_SECONDS:
            now = time.monotonic()
            paused = {account_id for account_id, until in pauses.items() if until > now}
            messages = self.search(self._due_domain(paused), order="id", limit=SEND_BATCH)
            if not messages:
                # Only paused accounts have due messages: wait for the first pause to end, within the run.
                waiting = paused and self.search_count(self._due_domain(), limit=1)
                wake = min((pauses[a] for a in paused), default=None)
                if not waiting or wake - time.monotonic() > MAX_INLINE_PAUSE:
                    break
                time.sleep(max(0.0, wake - time.monotonic()))
                continue
            for message in messages:
                if time.monotonic() - started >= SEND_RUN_SECONDS:
                    break
                account = message.account_id
                if pauses.get(account.id, 0) > time.monotonic():
                    continue
                if account.id not in windows:
                    windows[account.id], limits[account.id] = self._send_window(account)
                window, limit = windows[account.id], limits[account.id]
                while window and window[0] <= time.monotonic() - 1.0:
                    window.popleft()
                if len(window) >= limit:
                    time.sleep(max(0.0, window[0] + 1.0 - time.monotonic()))
                    window.popleft()
                try:
                    # as its author (write_uid, context), with the rights of the sender: the author may have lost
                    # access to the conversation since queuing (lead reassigned), the reply still goes out
                    error = message.with_user(message.author_id or self.env.user).sudo()._send_one()
                finally:
                    # the end of the call: the platform received it before, so the next ``limit`` calls
                    # spaced one second after these ends can never be more than ``limit`` in its 1-second view
                    window.append(time.monotonic())
                done += 1
                if error is not None and error.retryable and not error.recipient_only:
                    # the whole account slows down; a limit of one person only delays that person's messages
                    throttles[account.id] = count = throttles.get(account.id, 0) + 1
                    pause = max(error.retry_after or 0, min(MAX_ACCOUNT_PAUSE, 2 ** (count - 1)))
                    pauses[account.id] = time.monotonic() + pause
                    _logger.info("Messenger account %s paused %ss after %s (%s in a row)",
                                 account.id, pause, error.code, count)
                elif error is None:
                    throttles.pop(account.id, None)
        self._handover_pauses(pauses)
        remaining = self.search_count(self._due_domain())
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    @api.model
    def _send_window(self, account):
        """(window deque, limit) of an account: this process's recent calls, plus the database's.

        Another process may have sent for this account just before this run (the lock passes from one
        sender to the next): every call of the last 3 seconds it recorded counts as if made now.
        """
        provider_class = account._provider_class()
        limit = account.rate_limit or getattr(provider_class, "rate_limit", None) or DEFAULT_SEND_RATE
        window = _SEND_WINDOWS.setdefault((self.env.cr.dbname, account.id), collections.deque())
        recent = self.sudo().search_count([
            ("account_id", "=", account.id), ("direction", "=", "out"), ("attempts", ">", 0),
            ("write_date", ">=", fields.Datetime.now() - datetime.timedelta(seconds=3))])
        now = time.monotonic()
        while window and window[0] <= now - 1.0:
            window.popleft()
        for _i in range(max(0, min(recent, limit) - len(window))):
            window.append(now)
        return window, limit

    @api.model
    def _handover_pauses(self, pauses):
        """Accounts still paused at the end of the run: their due messages wait for the end of the pause."""
        now = time.monotonic()
        for account_id, until in pauses.items():
            if until <= now:
                continue
            at = fields.Datetime.now() + datetime.timedelta(seconds=until - now)
            due = self.search(self._due_domain() + [("account_id", "=", account_id)])
            if due:
                due.write({"next_attempt_at": at})
                self._trigger_sender(at)

    @api.model
    def _reconcile_interrupted(self, stale_after=SENDING_STALE_AFTER):
        """A message still "sending" after a crash may have reached the person: never resend it blindly.

        The intent ("sending", committed) is recorded before the platform is called and the outcome right
        after; a message found in between was interrupted. The platforms offer no look-up by our own id, so
        such a message is marked failed with a reason that asks a person to check the conversation before
        using Retry. ``stale_after=None``: every "sending" message (the caller holds the sender lock, so none
        is in flight).
        """
        domain = [("state", "=", "sending")]
        if stale_after is not None:
            domain.append(("write_date", "<", fields.Datetime.now() - stale_after))
        stale = self.search(domain)
        stale.write({
            "state": "failed", "failed_at": fields.Datetime.now(), "error_code": "interrupted",
            "error_message": _("Sending was interrupted: the message may or may not have been delivered. "
                               "Check with the person before retrying."),
        })
        if stale:
            _logger.warning("Messenger messages %s were interrupted while sending: marked failed, not resent",
                            stale.ids)
        return stale

    def _send_one(self):
        """Send one queued message: check it may still go, record the intent, call the platform, record the
        result.

        Return the ProviderError of a failed call (already applied), None when sent or refused before the call.
        """
        self.ensure_one()
        refusal = self._delivery_refusal()
        if refusal:
            # the person may have opted out, blocked us or let the window close since the message was queued
            self._record_outcome(lambda: self._refuse(refusal))
            return None
        self.write({"state": "sending", "attempts": self.attempts + 1})
        if _auto_commit():
            self.env.cr.commit()  # the intent is durable before the platform sees the message
        conversation = self.conversation_id
        failure = result = None
        try:
            provider = self.account_id._get_provider()
            # the platform's tag for a message outside its standard window (a human agent's late reply)
            tag = self.content_type != "template" and conversation._reply_terms(self._typed_by_agent()).tag or None
            # the person's number when known, else their platform id (a WhatsApp BSUID goes as "recipient")
            address = conversation._send_address()
            if self.content_type == "template":
                result = provider.send_template(
                    address, self.template_name, self.template_language, self.template_params or None)
            elif self.content_type == "contact_request":
                result = provider.send_contact_request(address, self.body)
            elif self.attachment_ids:
                attachment = self.attachment_ids[0]
                result = provider.send_document(
                    address, attachment.raw, attachment.name, attachment.mimetype, caption=self.body or None, tag=tag)
            else:
                result = provider.send_text(address, self.body, tag=tag)
        except prov.ProviderError as error:
            failure = error
        if failure is not None:
            self._record_outcome(lambda: self._handle_send_error(failure))
        else:
            self._record_outcome(lambda: self.write({
                "state": "sent", "external_id": result.external_id, "sent_at": fields.Datetime.now(),
                "error_code": False, "error_message": False, "next_attempt_at": False,
            }))
        return failure

    def _record_outcome(self, apply):
        """Store what the platform answered; a database error while storing it never loses the answer.

        The platform has been called once and is never called again for this attempt: the recording alone is
        repeated, each time in a new transaction (a concurrent update or a lost connection fails only the
        transaction it happened in). Only when every attempt fails is the message left "sending", which the
        next run reconciles as interrupted.
        """
        cr = self.env.cr
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with cr.savepoint():
                    apply()
                if _auto_commit():
                    cr.commit()
                return True
            except psycopg2.Error as error:
                if cr.closed:
                    raise
                if _auto_commit():
                    cr.rollback()
                self.env.invalidate_all()
                _logger.warning("Could not record the answer to messenger message %s (attempt %s of %s): %s",
                                self.id, attempt, RECORD_ATTEMPTS, error)
        _logger.error("The answer to messenger message %s could not be recorded: it stays \"sending\" until the "
                      "next run reconciles it.", self.id)
        return False

    def _delivery_refusal(self):
        """Why this queued message may not be delivered now (block, consent, window), or None.

        The checks of the public methods, run again right before the call.
        """
        self.ensure_one()
        conversation = self.conversation_id
        try:
            conversation._check_can_send(
                template=self.content_type == "template", purpose=self.purpose or "service",
                consent_notice=self.consent_notice, human=self._typed_by_agent())
            if self.content_type == "template":
                conversation._check_template_address(self.template_name, self.template_language)
        except UserError as error:
            return error.args[0]
        return None

    def _typed_by_agent(self):
        """Whether a person wrote this outbound message (not an automatic reply, authored by OdooBot)."""
        self.ensure_one()
        return self.author_id != self.env.ref("base.user_root")

    def _refuse(self, reason):
        """A message refused before the call: failed with the reason, kept, retryable by a person."""
        self.write({"state": "failed", "failed_at": fields.Datetime.now(), "next_attempt_at": False,
                    "error_code": "refused", "error_message": reason})
        self.conversation_id.sudo().message_post(
            body=_("Message not sent: %(reason)s", reason=reason),
            message_type="notification", subtype_xmlid="mail.mt_note")

    def _handle_send_error(self, error):
        """Apply the one retry policy of every channel to a classified platform error."""
        vals = {"error_code": error.code, "error_message": error.message}
        account = self.account_id
        if error.retryable and self.attempts < max(account.max_attempts, 1):
            if error.backoff_base:  # the platform's own rule (WhatsApp pair rate: 4^n seconds)
                delay = min(MAX_RETRY_DELAY, error.backoff_base ** (self.attempts - 1))
            else:
                delay = min(MAX_RETRY_DELAY, max(account.retry_delay, 1) * 2 ** (self.attempts - 1))
            delay = max(delay, error.retry_after or 0)
            at = fields.Datetime.now() + datetime.timedelta(seconds=delay)
            vals.update(state="queued", next_attempt_at=at)
            self.write(vals)
            self._trigger_sender(at)
            return
        vals.update(state="failed", failed_at=fields.Datetime.now(), next_attempt_at=False)
        self.write(vals)
        self._apply_failure_to_conversation(error.kind, error.refused)

    def _apply_failure_to_conversation(self, kind, refused=None):
        """What a failed message tells about the conversation: a closed window, or a refusal by the person.

        Only a refusal by the person (the provider says which: a block, or a refused purpose) changes their
        consent; any other failure (not on the platform, an old app, a number that cannot receive this
        message now) is this message's failure and nothing else.
        """
        conversation = self.conversation_id.sudo()
        if kind == prov.WINDOW_CLOSED:
            conversation.window_expires_at = fields.Datetime.now()
        evidence = self.error_message or self.error_code
        if refused == prov.REFUSED_BLOCK:
            conversation._block(evidence)
        elif refused:
            conversation._opt_out([refused], "platform", evidence=evidence, confirm=False)
        conversation.message_post(
            body=_("Message not delivered: %(reason)s", reason=self.error_message or self.error_code),
            message_type="notification", subtype_xmlid="mail.mt_note")

    def action_retry(self):
        """Queue failed outbound messages again (a person decided to)."""
        self.check_access("write")
        for message in self:
            if message.direction != "out" or message.state != "failed":
                raise UserError(_("Only failed outgoing messages can be retried."))
            message.conversation_id._check_can_send(
                template=message.content_type == "template", purpose=message.purpose or "service",
                consent_notice=message.consent_notice, human=message._typed_by_agent())
            message._check_resend_wait()
        # sudo: the user may write these messages (checked above) and the send checks passed; the queue fields
        # are the addon's to write
        self.sudo().write({"state": "queued", "attempts": 0, "next_attempt_at": False,
                           "error_code": False, "error_message": False})
        self._trigger_sender()
        return True

    def _pricing_summary(self):
        """What the chat shows of the platform's pricing of a sent message: free (and why) or billed, and the
        category; False when the platform reported none. Never inferred from the kind of message."""
        self.ensure_one()
        if not self.pricing_type and not self.pricing_category:
            return False
        kind = self.pricing_type or ""
        billed = kind == "regular"
        how = {"regular": _("Billed"), "free_customer_service": _("Free: service window"),
               "free_entry_point": _("Free: free entry point")}.get(kind, kind.replace("_", " "))
        label = " · ".join(filter(None, [how, (self.pricing_category or "").replace("_", " ")]))
        return {"billed": billed, "free": kind.startswith("free"), "category": self.pricing_category or False,
                "type": self.pricing_type or False, "label": label}

    def _check_resend_wait(self):
        """A message the platform held back (WhatsApp 131049: per-person marketing limit) only fails again when
        sent sooner than the platform says: refused until then, with the time it may go."""
        self.ensure_one()
        provider = self.account_id._provider_class()
        wait = provider and self.error_code and provider.resend_wait(self.error_code)
        if wait and self.failed_at:
            allowed_at = self.failed_at + datetime.timedelta(seconds=wait)
            if fields.Datetime.now() < allowed_at:
                raise UserError(_(
                    "%(provider)s held this message back (%(reason)s). It is not the person's opt-out, but sending "
                    "it again before %(when)s would fail again.", provider=self.account_id._provider_label(),
                    reason=self.error_message or self.error_code,
                    when=self.conversation_id._format_time(allowed_at)))

    # ------------------------------------------------------------------
    # Delivery statuses
    # ------------------------------------------------------------------

    @api.model
    def _event_time(self, event):
        """When the platform says the event happened (naive UTC, as stored), else now."""
        if event.timestamp:
            return event.timestamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return fields.Datetime.now()

    @api.model
    def _content_type_of(self, event):
        """The stored content type of an inbound or echoed event ("other" for what the platform added later)."""
        return event.content_type if event.content_type in dict(self._fields["content_type"].selection) else "other"

    @api.model
    def _apply_watermark(self, account, event):
        """Every message sent to the person at or before the watermark reached ``event.status``."""
        if event.status not in ("delivered", "read") or not event.external_user_id:
            return self.browse()
        watermark = event.watermark.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        messages = self.search([
            ("account_id", "=", account.id), ("conversation_id.external_user_id", "=", event.external_user_id),
            ("direction", "=", "out"), ("state", "in", ("sent", "delivered") if event.status == "read" else ("sent",)),
            ("sent_at", "<=", watermark), ("external_id", "!=", False)])
        for message in messages:
            self._apply_status(account, dataclasses.replace(
                event, external_id=message.external_id, watermark=None, timestamp=event.watermark))
        return messages or self.browse()

    @api.model
    def _apply_status(self, account, event):
        """Move an outbound message forward (sent < delivered < read); never back. Return the message(s).

        A watermark (no message id) moves every message sent to the person up to that time."""
        if not event.external_id and event.watermark:
            return self._apply_watermark(account, event)
        message = self.search([("account_id", "=", account.id), ("external_id", "=", event.external_id),
                               ("direction", "=", "out")], limit=1)
        if not message:
            return message
        if event.aliases:
            # a status names the person by the ids the platform has for them now (a BSUID learnt this way)
            message.conversation_id._learn_aliases(event.aliases)
        # the pricing as reported (it may come on sent, delivered or read): billed or free, and in which category
        pricing = {fname: value for fname, value in (("pricing_category", event.pricing_category),
                                                     ("pricing_type", event.pricing_type))
                   if value and message[fname] != value}
        if pricing:
            message.write(pricing)
        when = self._event_time(event)
        status = event.status
        if status == "failed":
            if message.state in ("delivered", "read", "failed"):
                return message
            provider = account._provider_class()
            failure = provider and provider.status_failure(event)
            if failure and failure.retryable and message.state == "sent" \
                    and message.attempts < max(account.max_attempts, 1):
                # the platform accepted the message, then could not deliver it for now (a rate limit): sent again
                # under the same retry policy as a refused call
                failure.message = event.error_message or _("The platform reported a failure.")
                message._handle_send_error(failure)
                return message
            message.write({"state": "failed", "failed_at": when, "error_code": event.error_code,
                           "error_message": event.error_message or _("The platform reported a failure.")})
            message._apply_failure_to_conversation(event.error_kind or prov.PERMANENT, event.refused)
            return message
        if status not in STATE_RANK:
            return message
        vals = {f"{status}_at": when} if status in ("sent", "delivered", "read") and not message[f"{status}_at"] else {}
        if status == "read" and not message.delivered_at:
            vals["delivered_at"] = when  # read implies delivered, even when that status never comes
        if message.state != "failed" and STATE_RANK[status] > STATE_RANK.get(message.state, -1):
            vals["state"] = status
        if vals:
            message.write(vals)
        return message
