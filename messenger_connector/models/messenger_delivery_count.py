import logging

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

#: what the webhook answered a delivery
OUTCOMES = [("accepted", "Accepted"), ("duplicate", "Duplicate"), ("refused", "Refused")]
#: why a delivery was refused (nothing of its body is kept, only this)
REASONS = [
    ("signature", "Bad signature"),
    ("unknown_account", "Unknown account"),
    ("malformed", "Malformed"),
    ("too_large", "Too large"),
    ("handshake", "Verification refused"),
]
#: counters older than this are removed by the health cron: the panel looks at the last 24 hours
KEEP_DAYS = 30
#: a concurrent delivery of the same hour may hold the counter's row: try again a few times, then give up the count
#: (the delivery itself is never held back for its count)
COUNT_ATTEMPTS = 5


class MessengerDeliveryCount(models.Model):
    """How many webhook deliveries an account received per hour, by answer and reason of refusal.

    Only numbers and the time of the latest one: a refused delivery is counted here while nothing of its body is
    stored anywhere. A delivery to an unknown webhook key has no account: it is counted for the database.
    """

    _name = "messenger.delivery.count"
    _description = "Messenger Webhook Delivery Count"
    _order = "hour desc, id desc"
    _log_access = False

    account_id = fields.Many2one("messenger.account", index=True, ondelete="cascade", readonly=True)
    hour = fields.Datetime(required=True, readonly=True, help="Start of the hour (UTC) counted.")
    outcome = fields.Selection(OUTCOMES, required=True, readonly=True)
    reason = fields.Selection(REASONS, readonly=True)
    count = fields.Integer(readonly=True)
    last_at = fields.Datetime("Latest", readonly=True)

    def init(self):
        # one row per account (or none), hour, outcome and reason: the target of the count's UPSERT
        self.env.cr.execute("""
            CREATE UNIQUE INDEX IF NOT EXISTS messenger_delivery_count_slot
            ON messenger_delivery_count (COALESCE(account_id, 0), hour, outcome, COALESCE(reason, ''))
        """)

    @api.model
    def _count(self, account_id, outcome, reason=None):
        """Count one delivery and commit: the caller's transaction must be over (the delivery stored and committed,
        or refused and rolled back). A count never fails a delivery: after concurrent counts of the same hour
        held its row a few times, or any error, the count is given up (and logged)."""
        query = SQL("""
            INSERT INTO messenger_delivery_count (account_id, hour, outcome, reason, count, last_at)
            VALUES (%(account)s, date_trunc('hour', %(now)s), %(outcome)s, %(reason)s, 1, %(now)s)
            ON CONFLICT ((COALESCE(account_id, 0)), hour, outcome, (COALESCE(reason, '')))
            DO UPDATE SET count = messenger_delivery_count.count + 1, last_at = EXCLUDED.last_at
        """, account=account_id or None, outcome=outcome, reason=reason or None, now=fields.Datetime.now())
        cr = self.env.cr
        for _attempt in range(COUNT_ATTEMPTS):
            try:
                # a concurrent count of the same row is expected, not an error worth the log's "bad query"
                cr.execute(query, log_exceptions=False)
                cr.commit()
                return True
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
                cr.rollback()
            except Exception:  # noqa: BLE001 (a count is never worth a failed delivery)
                cr.rollback()
                _logger.warning("Messenger: a webhook delivery could not be counted", exc_info=True)
                return False
        _logger.info("Messenger: a webhook delivery was not counted after %s attempts", COUNT_ATTEMPTS)
        return False

    @api.autovacuum
    def _gc_old_counts(self):
        self.search([("hour", "<", fields.Datetime.subtract(fields.Datetime.now(), days=KEEP_DAYS))]).unlink()
