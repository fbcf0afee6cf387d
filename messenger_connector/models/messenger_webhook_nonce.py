import datetime

import psycopg2

from odoo import api, fields, models

from ..providers.wechat import REPLAY_WINDOW_SECONDS


class MessengerWebhookNonce(models.Model):
    """The one-time values of recent deliveries whose signature does not cover their body (WeChat's plain and
    compatible modes): a captured signature replayed with another body is refused."""

    _name = "messenger.webhook.nonce"
    _description = "Messenger Webhook Nonce"
    _log_access = False

    account_id = fields.Many2one("messenger.account", required=True, ondelete="cascade", index=True)
    nonce = fields.Char(required=True)
    key = fields.Char(required=True, help="The delivery key of the delivery that carried the nonce.")
    seen_at = fields.Datetime(required=True, default=fields.Datetime.now, index=True)

    _sql_constraints = [
        ("nonce_unique", "UNIQUE(account_id, nonce)", "A nonce is accepted once per account."),
    ]

    @api.model
    def _claim(self, account_id, nonce, key):
        """Whether a delivery with ``nonce`` and delivery ``key`` may be accepted: the first time, or again for
        the same delivery (the platform's redelivery, stored once); never for another body."""
        cutoff = fields.Datetime.now() - datetime.timedelta(seconds=2 * REPLAY_WINDOW_SECONDS)
        # nonces older than the timestamps accepted can come again
        self.search([("account_id", "=", account_id), ("seen_at", "<", cutoff)]).unlink()
        seen = self.search([("account_id", "=", account_id), ("nonce", "=", nonce)], limit=1)
        if seen:
            return seen.key == key
        try:
            with self.env.cr.savepoint():
                self.create({"account_id": account_id, "nonce": nonce, "key": key})
        except psycopg2.IntegrityError:
            return False  # the same nonce in a concurrent delivery
        return True
