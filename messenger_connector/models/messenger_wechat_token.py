import datetime
import logging

from psycopg2 import errors as pg_errors

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

#: a token is replaced this long before WeChat says it expires (a call in flight must not carry an expired one)
REFRESH_MARGIN = datetime.timedelta(minutes=5)
#: transactions that found the row changed under their snapshot start again this many times
LOCK_ATTEMPTS = 5


class MessengerWeChatToken(models.Model):
    """The one access token of a WeChat account, shared by every worker and server.

    WeChat invalidates a token as soon as a new one is fetched, so two processes must never fetch at once: the
    fetch happens under a row lock (SELECT ... FOR UPDATE) in a transaction of its own, committed at once (the
    new token is valid whatever happens to the caller's transaction). Nobody reads this model but the addon
    (no access rights: sudo only).
    """

    _name = "messenger.wechat.token"
    _description = "WeChat Access Token"

    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade", index=True, readonly=True)
    token = fields.Char(readonly=True, groups="base.group_system")
    expires_at = fields.Datetime(readonly=True)
    fetch_count = fields.Integer(readonly=True, help="How many tokens were fetched for the account.")

    _sql_constraints = [
        ("account_unique", "UNIQUE(account_id)", "An account has one access token."),
    ]

    @api.model
    def _get_token(self, account, stale=None):
        """The account's valid token: the stored one, or a new one when there is none, it expires soon, or it is
        ``stale`` (WeChat just refused it). Raises the ProviderError of a failed fetch."""
        if not stale:
            # most calls: the stored token read as it is, no lock, no transaction of its own (one read in an older
            # snapshot may give a token just replaced: WeChat refuses it, and the call asks again with it as stale)
            # (SQL, not the ORM: a record cached earlier in this transaction would still hold a replaced token)
            self.env.cr.execute("SELECT token, expires_at FROM messenger_wechat_token WHERE account_id = %s",
                                [account.id])
            token, expires_at = self.env.cr.fetchone() or (None, None)
            if token and expires_at and expires_at - REFRESH_MARGIN > fields.Datetime.now():
                return token
        with self.env.registry.cursor() as cr:
            return self.with_env(self.env(cr=cr))._locked_token(account.id, stale)

    @api.model
    def _locked_token(self, account_id, stale=None):
        """``_get_token`` in this environment's transaction, which it commits (its cursor is its own)."""
        cr = self.env.cr
        for attempt in range(LOCK_ATTEMPTS):
            try:
                cr.execute("""
                    INSERT INTO messenger_wechat_token (account_id, fetch_count, create_uid, write_uid, create_date,
                                                        write_date)
                    VALUES (%s, 0, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                    ON CONFLICT (account_id) DO NOTHING
                """, (account_id, self.env.uid, self.env.uid), log_exceptions=False)
                # the lock: a second process waits here until the first committed its token
                cr.execute("SELECT token, expires_at FROM messenger_wechat_token WHERE account_id = %s FOR UPDATE",
                           (account_id,), log_exceptions=False)
                token, expires_at = cr.fetchone()
                now = fields.Datetime.now()
                if token and token != stale and expires_at and expires_at - REFRESH_MARGIN > now:
                    cr.commit()
                    return token
                account = self.env["messenger.account"].sudo().browse(account_id)
                token, expires_in = account._get_provider().fetch_access_token()
                cr.execute("""
                    UPDATE messenger_wechat_token
                       SET token = %s, expires_at = %s, fetch_count = fetch_count + 1,
                           write_date = now() at time zone 'UTC'
                     WHERE account_id = %s
                """, (token, now + datetime.timedelta(seconds=expires_in), account_id))
                cr.commit()
                _logger.info("WeChat access token of account %s fetched", account_id)
                return token
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                # another process changed the row after this transaction's snapshot (and committed): look again
                cr.rollback()
                _logger.debug("WeChat token of account %s changed concurrently (attempt %s)", account_id, attempt)
            except Exception:
                cr.rollback()
                raise
        raise RuntimeError("the WeChat access token row stayed busy")
