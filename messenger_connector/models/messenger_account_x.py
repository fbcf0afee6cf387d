import base64
import datetime
import hashlib
import json
import logging

from cryptography.fernet import Fernet, InvalidToken
from psycopg2 import errors as pg_errors
from werkzeug.urls import url_encode

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError

from .. import providers as prov
from ..providers import ProviderError
from ..providers import x as x_chat
from .messenger_account import MANAGER

_logger = logging.getLogger(__name__)

#: the option of Odoo's configuration file whose value encrypts the X Chat keys kept in the database
KEY_OPTION = "messenger_x_chat_key"
#: an access token is replaced this long before X says it expires
REFRESH_MARGIN = datetime.timedelta(minutes=5)
#: the participants' public keys are fetched again after this long (and at once when a signer is unknown)
PUBLIC_KEYS_MAX_AGE = datetime.timedelta(hours=24)
#: transactions that found the account's row changed under their snapshot look again this many times
LOCK_ATTEMPTS = 5


def _fernet(env):
    """The cipher of the X Chat keys at rest, from Odoo's configuration file; UserError when it is not set."""
    secret = tools.config.get(KEY_OPTION)
    if not secret or not isinstance(secret, str) or len(secret) < 16:
        raise UserError(env._(
            "X Chat keys are stored only encrypted, with a key from Odoo's configuration file: add the option "
            "%(option)s (a random text of at least 16 characters) to the [options] section of odoo.conf and "
            "restart Odoo.", option=KEY_OPTION))
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"messenger-x-chat:" + secret.encode()).digest()))


class MessengerXKey(models.Model):
    """A secret of X Chat: one of the account's exported key blobs (by key version) or a conversation key (by
    conversation and version), encrypted with the configuration file's key.

    Nobody reads this model: it has no access rights, so only the addon's own code (sudo) reaches it, never the
    UI, RPC or an export, whoever asks.
    """

    _name = "messenger.x.key"
    _description = "X Chat Key"

    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade", index=True, readonly=True)
    conversation = fields.Char(readonly=True, help="The conversation (low:high); empty for the account's own keys.")
    version = fields.Char(required=True, readonly=True)
    secret = fields.Text(required=True, readonly=True, groups="base.group_system")

    _sql_constraints = [
        ("version_unique", "UNIQUE(account_id, conversation, version)", "A key version is kept once."),
    ]

    @api.model
    def _keep(self, account, version, value, conversation=False):
        existing = self.sudo().search([("account_id", "=", account.id), ("conversation", "=", conversation),
                                       ("version", "=", str(version))], limit=1)
        if not existing:
            self.sudo().create({"account_id": account.id, "conversation": conversation, "version": str(version),
                                "secret": _fernet(self.env).encrypt(bytes(value)).decode()})

    @api.model
    def _read(self, account, conversation=False):
        """``{version: bytes}`` of the account's keys or of a conversation's."""
        rows = self.sudo().search([("account_id", "=", account.id), ("conversation", "=", conversation)])
        if not rows:
            return {}
        cipher = _fernet(self.env)
        found = {}
        for row in rows:
            try:
                found[row.version] = cipher.decrypt(row.secret.encode())
            except InvalidToken:
                _logger.warning("An X Chat key of account %s cannot be decrypted: was %s changed?", account.id,
                                KEY_OPTION)
        return found


class ChatStore(x_chat.ChatStore):
    """The X client's keys and send bodies, kept by the account (see providers.x.ChatStore)."""

    def __init__(self, account, message=None):
        self.account = account.sudo()
        self.message = message.sudo() if message else None
        self.Key = account.env["messenger.x.key"].sudo()

    def identities(self):
        keys = self._keys(self.Key._read, self.account)
        return sorted(keys.items(), key=lambda item: int(item[0]) if item[0].isdigit() else -1, reverse=True)

    def conversation_keys(self, conversation_id):
        return self._keys(self.Key._read, self.account, conversation_id)

    def add_conversation_keys(self, conversation_id, keys):
        for version, key in keys.items():
            self._keys(self.Key._keep, self.account, version, key, conversation_id)

    @staticmethod
    def _keys(method, *args):
        """Keys read or kept; without the configuration file's key, a reason the sender and the reader keep."""
        try:
            return method(*args)
        except UserError as error:
            raise ProviderError(prov.PERMANENT, error.args[0], code="config") from None

    def _conversation(self, conversation_id):
        person = next((u for u in conversation_id.split(":") if u != (self.account.x_user_id or "").strip()), None)
        return self.account.env["messenger.conversation"].sudo().search([
            ("account_id", "=", self.account.id), ("external_user_id", "=", person)], limit=1)

    def public_keys(self, conversation_id):
        conversation = self._conversation(conversation_id)
        if not conversation.x_public_keys or not conversation.x_public_keys_at or \
                conversation.x_public_keys_at < fields.Datetime.now() - PUBLIC_KEYS_MAX_AGE:
            return None
        return conversation.x_public_keys

    def keep_public_keys(self, conversation_id, rows_by_user):
        conversation = self._conversation(conversation_id)
        if conversation:
            rows = {user: [{k: v for k, v in row.items() if k != "juicebox_config"} for row in user_rows]
                    for user, user_rows in rows_by_user.items()}
            conversation.write({"x_public_keys": rows, "x_public_keys_at": fields.Datetime.now()})

    def conversation_token(self, conversation_id):
        return self._conversation(conversation_id).x_conversation_token or None

    def keep_conversation_token(self, conversation_id, token):
        conversation = self._conversation(conversation_id)
        if conversation and conversation.x_conversation_token != token:
            conversation.x_conversation_token = token

    def send_body(self):
        return self.message.x_send_body if self.message else None

    def keep_send_body(self, body):
        if self.message:
            self.message.x_send_body = body


class MessengerAccount(models.Model):
    """X Direct Messages through X Chat: one account per X user; its keys are kept encrypted, never shown."""

    _name = "messenger.account"
    _inherit = ["messenger.account", "mail.thread", "mail.activity.mixin"]

    provider = fields.Selection(selection_add=[("x", "X (Direct Messages)")], ondelete={"x": "cascade"})
    x_user_id = fields.Char(
        "X User ID", groups=MANAGER,
        help="The numeric id of the X account that receives the direct messages (not its @username).")
    x_consumer_secret = fields.Char(
        "Consumer Secret", groups=MANAGER, copy=False,
        help="The X app's API Key Secret: it answers X's CRC checks and verifies every delivery's signature.")
    x_access_token = fields.Char(
        "User Access Token", groups=MANAGER, copy=False,
        help="An OAuth 2.0 user token of this X account with the dm.read, dm.write, users.read, tweet.read, "
             "media.write and offline.access scopes. It lasts two hours and is renewed with the refresh token.")
    x_refresh_token = fields.Char(
        "Refresh Token", groups=MANAGER, copy=False,
        help="The refresh token given with the access token (scope offline.access).")
    x_client_id = fields.Char("OAuth 2.0 Client ID", groups=MANAGER, copy=False)
    x_client_secret = fields.Char(
        "OAuth 2.0 Client Secret", groups=MANAGER, copy=False, help="Empty for a public client.")
    x_app_token = fields.Char(
        "App Bearer Token", groups=MANAGER, copy=False,
        help="The app's bearer token, which registers the webhook. Empty: the user access token is used.")
    x_token_expires_at = fields.Datetime("Access Token Expires", groups=MANAGER, readonly=True, copy=False)
    x_reconnect_needed = fields.Boolean(
        "Reconnect Needed", readonly=True, copy=False,
        help="X refused to renew the access token: connect the account again and paste the new tokens.")
    x_chat_key_version = fields.Char(
        "Registered Key Version", readonly=True, copy=False,
        help="The version of the account's X Chat keys registered with X.")
    x_webhook_id = fields.Char("X Webhook ID", readonly=True, copy=False, groups=MANAGER)
    x_subscription_ids = fields.Char("X Subscriptions", readonly=True, copy=False, groups=MANAGER)

    def write(self, vals):
        if vals.get("x_access_token") and "x_token_expires_at" not in vals:
            # a token pasted by a person: X's tokens last two hours, renewed from then on
            vals = dict(vals, x_token_expires_at=fields.Datetime.now() + datetime.timedelta(hours=2),
                        x_reconnect_needed=False)
        return super().write(vals)

    def _provider_config(self):
        config = super()._provider_config()
        if self.provider == "x":
            account = self.sudo()
            config.update(user_id=(account.x_user_id or "").strip() or None,
                          consumer_secret=account.x_consumer_secret, access_token=account.x_access_token,
                          refresh_token=account.x_refresh_token, client_id=account.x_client_id,
                          client_secret=account.x_client_secret, app_token=account.x_app_token)
        return config

    def _get_provider(self):
        """An X client gets its keys through the account (a ChatStore bound to the message being sent, when
        there is one) and a valid access token on demand."""
        provider = super()._get_provider()
        if self.sudo().provider == "x":
            account = self.sudo()
            message = self.env["messenger.message"].browse(self.env.context.get("x_chat_message_id") or [])
            provider.store = provider.config["chat_store"] = ChatStore(account, message)
            provider.config["token_source"] = lambda stale: account._x_access_token(stale)
        return provider

    def _routing_fields(self):
        """One X app has one webhook URL for every account subscribed to it (``filter.user_id`` names ours)."""
        if self.provider != "x":
            return super()._routing_fields()
        return "x_user_id", "x_consumer_secret"

    # --- tokens -------------------------------------------------------------------------------------------

    def _x_access_token(self, stale=None):
        """The account's valid access token: the stored one, or one renewed with the refresh token when it expires
        soon or X just refused it (``stale``). Renewed under a row lock in a transaction of its own, committed at
        once, so that two workers never spend the single-use refresh token twice."""
        self.ensure_one()
        if not stale:
            self.flush_recordset(["x_access_token", "x_token_expires_at"])
            self.env.cr.execute("SELECT x_access_token, x_token_expires_at FROM messenger_account WHERE id = %s",
                                [self.id])
            token, expires_at = self.env.cr.fetchone() or (None, None)
            if token and (not expires_at or expires_at - REFRESH_MARGIN > fields.Datetime.now()):
                return token
        with self.env.registry.cursor() as cr:
            return self.with_env(self.env(cr=cr)).sudo()._x_locked_refresh(stale)

    def _x_locked_refresh(self, stale):
        """``_x_access_token`` in this environment's transaction, which it commits (its cursor is its own)."""
        cr = self.env.cr
        for attempt in range(LOCK_ATTEMPTS):
            try:
                # the lock: a second worker waits here until the first committed its new token
                cr.execute("SELECT x_access_token, x_token_expires_at FROM messenger_account WHERE id = %s FOR UPDATE",
                           [self.id], log_exceptions=False)
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                # another worker renewed the token after this transaction's snapshot: look again
                cr.rollback()
                _logger.debug("X token of account %s renewed concurrently (attempt %s)", self.id, attempt)
                continue
            token, expires_at = cr.fetchone()
            if token and token != stale and expires_at and expires_at - REFRESH_MARGIN > fields.Datetime.now():
                cr.commit()
                return token
            self.invalidate_recordset()
            try:
                token, refresh, expires_in = self._get_provider().refresh_access_token()
            except ProviderError as error:
                cr.rollback()
                if error.kind == prov.PERMANENT:
                    # X refused the refresh token; an X that did not answer is asked again with the next call
                    self._x_needs_reconnect(error.message)
                    cr.commit()
                raise
            self.write({"x_access_token": token, "x_refresh_token": refresh, "x_reconnect_needed": False,
                        "x_token_expires_at": fields.Datetime.now() + datetime.timedelta(seconds=expires_in)})
            cr.commit()
            _logger.info("X access token of account %s renewed", self.id)
            return token
        raise ProviderError(prov.RETRYABLE, "the X access token is being renewed by another worker", code="token_busy")

    def _x_needs_reconnect(self, reason):
        """X refused to renew the token: the account waits for a person, who is told by an activity."""
        if self.x_reconnect_needed:
            return
        self.x_reconnect_needed = True
        managers = self.env["res.users"].search([("groups_id", "in", self.env.ref(MANAGER).id), ("share", "=", False),
                                                 ("company_ids", "in", self.company_id.id)])
        user = self.create_uid if self.create_uid in managers else managers[:1]
        self.activity_schedule(
            "mail.mail_activity_data_todo", user_id=(user or self.env.user).id,
            summary=_("Reconnect the X account %(name)s", name=self.name),
            note=_("X refused to renew the access token (%(reason)s). Authorize the app again for this X account and "
                   "paste the new access and refresh tokens: nothing is sent or fetched until then.", reason=reason))

    # --- keys ----------------------------------------------------------------------------------------------

    def action_x_chat_setup_keys(self):
        """The account's X Chat keys: generated and registered when X has none, else unlocked once with the
        account's PIN (a wizard) and exported. Either way only the encrypted export is kept."""
        self.ensure_one()
        self._check_manager()
        if self.provider != "x":
            raise UserError(_("Only X accounts have X Chat keys."))
        _fernet(self.env)  # refuse before X is asked anything when the keys could not be kept
        provider = self._get_provider()
        try:
            existing = provider.existing_keys()
        except ProviderError as error:
            raise UserError(_("X did not answer about the account's keys: %(reason)s", reason=error.message)) from None
        if existing:
            newest = existing[0]
            if str(newest.get("public_key_version")) in self.env["messenger.x.key"]._read(self):
                return self._notify(_("The account's X Chat keys are set up."), "success")
            wizard = self.env["messenger.x.chat.unlock"].create({"account_id": self.id})
            return {"type": "ir.actions.act_window", "res_model": wizard._name, "res_id": wizard.id,
                    "view_mode": "form", "target": "new", "name": _("Unlock X Chat Keys")}
        try:
            version, blob = provider.register_keys()
        except ProviderError as error:
            raise UserError(_("X refused the account's keys: %(reason)s", reason=error.message)) from None
        self._x_keep_identity(version, blob)
        return self._notify(_("X Chat keys generated and registered (version %s).", version), "success")

    def _x_keep_identity(self, version, blob):
        self.env["messenger.x.key"]._keep(self, version, blob)
        self.sudo().x_chat_key_version = version

    def _x_unlock(self, pin):
        """Unlock the keys X keeps in its secure key backup with ``pin``, once; keep the export, never the PIN."""
        self.ensure_one()
        self._check_manager()
        provider = self._get_provider()
        try:
            newest = provider.existing_keys()[0]
            blob = provider.unlock_keys(pin, newest.get("juicebox_config") or {})
        except (ProviderError, IndexError) as error:
            reason = error.message if isinstance(error, ProviderError) else _("X has no keys of the account")
            raise UserError(_("The X Chat keys could not be unlocked: %(reason)s", reason=reason)) from None
        self._x_keep_identity(str(newest["public_key_version"]), blob)

    # --- webhook ----------------------------------------------------------------------------------------

    def action_register_webhook(self):
        if self.provider != "x":
            return super().action_register_webhook()
        self.ensure_one()
        self._check_manager()
        try:
            registered = self._get_provider().register_webhook(self.webhook_url)
        except ProviderError as error:
            raise UserError(_("%(platform)s refused the webhook: %(reason)s",
                              platform=self._provider_label(), reason=error.message)) from None
        self.sudo().write({"x_webhook_id": registered["webhook_id"],
                           "x_subscription_ids": ",".join(registered["subscription_ids"])})
        return self._notify(_("X now sends this account's X Chat messages (received and sent) to %(url)s",
                              url=self.webhook_url), "success")

    # --- click-to-chat ---------------------------------------------------------------------------------

    def _chat_link(self, text):
        """X's link that opens a direct message to the account with ``text`` typed in."""
        if self.provider != "x":
            return super()._chat_link(text)
        # sudo: the account's id is public on X; the field is a manager's to set, the link everybody's to share
        user_id = (self.sudo().x_user_id or "").strip()
        query = url_encode({"recipient_id": user_id, "text": text})
        return user_id.isdigit() and f"https://x.com/messages/compose?{query}"

    @api.model
    def _chat_link_hint(self):
        return super()._chat_link_hint() + [self.env._("an X user id")]


class MessengerConversation(models.Model):
    """X Chat conversations: the same person (their X user id) keeps their conversation from legacy DMs on; the
    messages are opened with the account's keys before they are stored."""

    _inherit = "messenger.conversation"

    x_public_keys = fields.Json(
        "X Chat Public Keys", readonly=True, copy=False, groups=MANAGER,
        help="The participants' public keys registered with X, verified, as last fetched.")
    x_public_keys_at = fields.Datetime(readonly=True, copy=False, groups=MANAGER)
    x_conversation_token = fields.Char(
        "X Chat Conversation Token", readonly=True, copy=False, groups=MANAGER,
        help="What X gave with the conversation's latest message; replies give it back.")

    def _receive(self, event, event_record):
        if self.provider != "x" or not (event.raw or {}).get("encoded_event"):
            return super()._receive(event, event_record)
        Message = self.env["messenger.message"]
        if Message.search_count([("account_id", "=", self.account_id.id), ("external_id", "=", event.external_id)],
                                limit=1):
            return Message
        opened = self._x_open(event)
        if opened is None:
            return Message
        message = super()._receive(event, event_record)
        message.sudo().write(opened)
        if opened.get("x_decrypt_state") == "ok":
            self._x_read_pending()
        return message

    def _receive_echo(self, event, event_record):
        if self.provider != "x" or not (event.raw or {}).get("encoded_event"):
            return super()._receive_echo(event, event_record)
        Message = self.env["messenger.message"]
        known = Message.search([("account_id", "=", self.account_id.id), ("external_id", "=", event.external_id)],
                               limit=1)
        if known:
            return Message  # our own send coming back: stored once, by the sender
        opened = self._x_open(event)
        if opened is None:
            return Message
        message = super()._receive_echo(event, event_record)
        if message:
            message.sudo().write(opened)
        return message

    def _x_open(self, event):
        """Decrypt and verify the event in place (its text, content, media, reply); the message's X Chat values.

        None for an event that is no message (a read receipt, a deletion, typing: kept with the delivery). A
        message that cannot be read keeps its reason and its encrypted event, never a ciphertext or unverified
        text."""
        provider = self.account_id._get_provider()
        payload = event.raw
        vals = {"x_encoded_event": json.dumps(payload)}
        try:
            opened = provider.open_event(payload)
        except x_chat.ChatUnreadable as unreadable:
            event.content_type, event.media, event.reply_to = prov.OTHER, None, None
            event.text = _("Encrypted message could not be read: %(reason)s", reason=unreadable.reason)
            return dict(vals, x_decrypt_state=unreadable.state, x_decrypt_error=unreadable.reason)
        except ProviderError as error:
            # X did not answer (keys, events): read again when the next delivery of the conversation comes
            event.content_type, event.media, event.reply_to = prov.OTHER, None, None
            event.text = _("Encrypted message could not be read: %(reason)s", reason=error.message)
            return dict(vals, x_decrypt_state="pending_key", x_decrypt_error=error.message)
        content = x_chat.event_content(opened, x_chat.canonical_conversation(payload["conversation_id"]))
        if content["kind"] not in ("message", "reaction"):
            event.kind = f"X Chat {content['kind']}"
            return None
        self._x_apply_content(event, content)
        return dict(vals, x_decrypt_state="ok", x_decrypt_error=False, x_sequence_id=content["sequence_id"],
                    x_key_version=content["key_version"])

    def _x_apply_content(self, event, content):
        event.content_type = content["content_type"]
        event.text = content.get("text")
        event.media = content.get("media")
        event.reply_to = content.get("reply_to")
        if content.get("more_media"):
            names = ", ".join(name for name in content["more_media"] if name)
            note = _("%(count)s more files came with this message; X's app shows them.", count=len(content["more_media"]))
            event.text = "\n".join(filter(None, [event.text, f"{note} {names}".strip() if names else note]))
        if content.get("reaction_to_sequence"):
            target = self.env["messenger.message"].search([
                ("conversation_id", "=", self.id), ("x_sequence_id", "=", content["reaction_to_sequence"])], limit=1)
            event.reply_to = target.external_id or None

    def _x_read_pending(self):
        """Messages of the conversation that waited for their key: read again now that a key arrived."""
        pending = self.env["messenger.message"].sudo().search([
            ("conversation_id", "=", self.id), ("x_decrypt_state", "=", "pending_key")], order="id")
        if not pending:
            return
        provider = self.account_id._get_provider()
        for message in pending:
            payload = json.loads(message.x_encoded_event or "{}")
            try:
                opened = provider.open_event(payload)
            except x_chat.ChatUnreadable as unreadable:
                if unreadable.state == x_chat.FAILED:
                    message.write({"x_decrypt_state": "failed", "x_decrypt_error": unreadable.reason,
                                   "body": _("Encrypted message could not be read: %(reason)s",
                                             reason=unreadable.reason)})
                continue
            except ProviderError:
                continue
            event = prov.Event(kind=prov.MESSAGE)
            content = x_chat.event_content(opened, x_chat.canonical_conversation(payload["conversation_id"]))
            self._x_apply_content(event, content)
            message.write({
                "body": event.text or "", "content_type": self.env["messenger.message"]._content_type_of(event),
                "reply_to_external_id": event.reply_to, "x_decrypt_state": "ok", "x_decrypt_error": False,
                "x_sequence_id": content["sequence_id"], "x_key_version": content["key_version"],
                "media_ref": event.media and {"id": event.media.id, "filename": event.media.filename} or False,
                "media_state": "pending" if event.media else "none"})
            posts = message.mail_message_id | message.chatter_message_ids
            if posts:
                # the message's copies (chatter, chat) now say what it says
                posts.sudo().write({"body": message._chatter_body()})
            if event.media:
                message._download_media()


class MessengerMessage(models.Model):
    """X Chat messages: the signed message id is the external id; the encrypted event of a message that could not
    be read yet, and the body of a send (a retry sends the same one)."""

    _inherit = "messenger.message"

    x_sequence_id = fields.Char("Sequence in X Chat", readonly=True, copy=False)
    x_key_version = fields.Char("X Chat Key Version", readonly=True, copy=False)
    x_decrypt_state = fields.Selection(
        [("ok", "Read"), ("pending_key", "Waiting for its key"), ("failed", "Cannot be read")],
        "Decryption", readonly=True, copy=False)
    x_decrypt_error = fields.Char("Decryption Error", readonly=True, copy=False)
    x_encoded_event = fields.Text("Encrypted Event", readonly=True, copy=False, groups=MANAGER)
    x_send_body = fields.Json("Encrypted Send", readonly=True, copy=False, groups="base.group_system")

    def _send_one(self):
        if self.account_id.provider == "x":
            # the X client keeps the encrypted body on this message: a retry sends the same one
            return super(MessengerMessage, self.with_context(x_chat_message_id=self.id))._send_one()
        return super()._send_one()

    def action_retry(self):
        """A person's retry of an X message that failed for good is a new message: encrypted again."""
        self.filtered(lambda m: m.account_id.provider == "x" and m.error_code in (
            "no_recipient_keys", "no_keys", "encryption")).sudo().write({"x_send_body": False})
        return super().action_retry()


class MessengerAccountSetup(models.Model):
    """X's set-up assistant: its steps, and its checks in words."""

    _inherit = "messenger.account"

    def _setup_steps(self):
        if self.provider != "x":
            return super()._setup_steps()
        return [
            {"key": "app", "title": _("X app"),
             "help": _("In the X Developer Console, open the app (with OAuth 2.0 user authentication): copy the API "
                       "Key Secret as Consumer Secret, the OAuth 2.0 Client ID and Secret, and the app's Bearer "
                       "Token below.")},
            {"key": "user", "title": _("User tokens"),
             "help": _("Authorize the app as the X account that receives the messages (scopes dm.read, dm.write, "
                       "users.read, tweet.read, media.write, offline.access) and paste its numeric user id, access "
                       "token and refresh token below.")},
            {"key": "keys", "title": _("X Chat keys"),
             "help": _("On the account, set up the X Chat keys (or unlock the existing ones with the account's PIN): "
                       "without them no message can be read or sent.")},
            {"key": "webhook", "title": _("Webhook"),
             "help": _("Register the webhook: X checks the URL with a CRC signed with the Consumer Secret, then "
                       "the account is subscribed to its chat events.")},
            {"key": "check", "title": _("Check"),
             "help": _("Check the set-up: Odoo asks X about the token, the keys, the webhooks and the "
                       "subscriptions.")},
        ]

    def _finding_in_words(self, finding):
        if self.provider != "x":
            return super()._finding_in_words(finding)
        params = finding.params
        words = {
            "token_valid": lambda: _("The access token is valid: it is the X account %(user)s.", user=params["user"]),
            "token_other_user": lambda: _(
                "The access token is the X account %(user)s, not the user id %(user_id)s of this account: authorize "
                "the app as the right account, or correct the user id.", user=params["user"],
                user_id=params["user_id"]),
            "token_invalid": lambda: _("X does not accept the access token: connect the account again."),
            "secret_missing": lambda: _(
                "No Consumer Secret: X's CRC checks and every delivery are refused. Paste the API Key Secret."),
            "keys_missing": lambda: _(
                "The X Chat keys are not set up: no message can be read or sent. Set them up on the account."),
            "keys_ok": lambda: _("The X Chat keys are set up."),
            "crc_failed": lambda: _(
                "X's last CRC check of the webhook failed: the Consumer Secret on this account is not the app's "
                "API Key Secret. Correct it, then press Register Webhook."),
            "subscription_missing": lambda: _(
                "The account is not subscribed to %(events)s on this webhook: press Register Webhook.",
                events=params["events"]),
            "subscriptions_ok": lambda: _("The account is subscribed to %(events)s.", events=params["events"]),
        }
        return words[finding.key]() if finding.key in words else super()._finding_in_words(finding)

    def _refusal_in_words(self, reason):
        if self.provider != "x" or reason not in ("handshake", "signature"):
            return super()._refusal_in_words(reason)
        return _("signature did not match: the Consumer Secret on this account is not the API Key Secret of the "
                 "app that calls us")
