import logging
import threading

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import providers as prov

_logger = logging.getLogger(__name__)

PROCESS_BATCH = 200
#: automatic attempts of a failing event before it waits for a person (Reprocess button or redelivery)
MAX_AUTO_ATTEMPTS = 3


def _auto_commit():
    return not getattr(threading.current_thread(), "testing", False)


class MessengerEvent(models.Model):
    """A webhook delivery exactly as received, stored before it is answered and processed later."""

    _name = "messenger.event"
    _description = "Messenger Webhook Event"
    _order = "id desc"
    _rec_name = "key"

    account_id = fields.Many2one("messenger.account", required=True, index=True, ondelete="cascade", readonly=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    provider = fields.Selection(related="account_id.provider")
    key = fields.Char(required=True, readonly=True, help="Delivery key: stored once per account.")
    body = fields.Text(readonly=True, help="The raw body received.")
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Processed"), ("failed", "Failed")],
        default="pending", required=True, index=True, readonly=True)
    error = fields.Text(readonly=True)
    info = fields.Char(readonly=True, help="What processing found, e.g. unknown kinds kept here.")
    attempts = fields.Integer(readonly=True)
    processed_at = fields.Datetime(readonly=True)
    message_ids = fields.One2many("messenger.message", "event_id", string="Messages", readonly=True)

    _sql_constraints = [
        ("account_key_unique", "UNIQUE(account_id, key)", "A webhook delivery is stored once."),
    ]

    # ------------------------------------------------------------------
    # Storing (webhook request)
    # ------------------------------------------------------------------

    @api.model
    def _store(self, account, key, body):
        """Store one delivery once; return True when new, False for a duplicate.

        INSERT ... ON CONFLICT DO NOTHING makes two concurrent deliveries of the same key store one row
        without raising (a concurrent insert seen under REPEATABLE READ raises a serialization failure,
        which Odoo's request retry turns into a second, clean attempt that finds the duplicate).
        """
        uid = self.env.uid
        self.env.cr.execute("""
            INSERT INTO messenger_event (account_id, company_id, key, body, state, attempts,
                                         create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, 'pending', 0, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (account_id, key) DO NOTHING
            RETURNING id
        """, (account.id, account.company_id.id, key, body, uid, uid))
        return bool(self.env.cr.fetchone())

    # ------------------------------------------------------------------
    # Processing (cron)
    # ------------------------------------------------------------------

    @api.model
    def _cron_process(self):
        events = self.search([("state", "=", "pending")], order="id", limit=PROCESS_BATCH)
        retry = self.search([("state", "=", "failed"), ("attempts", "<", MAX_AUTO_ATTEMPTS)],
                            order="id", limit=PROCESS_BATCH)
        (events | retry)._process()
        remaining = self.search_count([("state", "=", "pending")])
        self.env["ir.cron"]._notify_progress(done=len(events), remaining=remaining)

    def _process(self):
        """Apply each event in its own savepoint: a failing one keeps its error and blocks nothing."""
        for event in self:
            try:
                with self.env.cr.savepoint():
                    info = event._apply()
                    event.write({"state": "done", "processed_at": fields.Datetime.now(), "error": False,
                                 "info": info, "attempts": event.attempts + 1})
            except Exception as error:  # noqa: BLE001 - any failure is kept on the event, never lost
                _logger.warning("Messenger event %s failed: %s", event.id, error, exc_info=True)
                event.write({"state": "failed", "error": str(error) or repr(error),
                             "attempts": event.attempts + 1})
            if _auto_commit():
                self.env.cr.commit()

    def _apply(self):
        """Parse the stored body and apply every normalized event it carries; return a short summary."""
        self.ensure_one()
        account = self.account_id
        Conversation = self.env["messenger.conversation"]
        Message = self.env["messenger.message"]
        counts = {}
        for ev in account._get_provider().parse(self.body.encode()):
            account = self.account_id._route_to(ev.account_ref)
            if not account:
                ev.kind = f"{ev.kind} for another number ({ev.account_ref})"
            elif ev.kind == prov.MESSAGE:
                Conversation._get_or_create(account, ev)._receive(ev, self)
            elif ev.kind == prov.STATUS:
                if not Message._apply_status(account, ev):
                    ev.kind = "status for an unknown message"
            elif ev.kind in (prov.OPT_OUT, prov.OPT_IN, prov.BLOCK, prov.UNBLOCK):
                Conversation._get_or_create(account, ev)._apply_platform_event(ev)
            counts[ev.kind] = counts.get(ev.kind, 0) + 1
        return ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items())) or _("empty")

    # ------------------------------------------------------------------
    # UI
    # ------------------------------------------------------------------

    def action_reprocess(self):
        """Queue failed events again; the processing cron (never two at once) applies them."""
        if self.filtered(lambda e: e.state == "done"):
            raise UserError(_("Only pending or failed events can be processed again."))
        self.write({"state": "pending", "attempts": 0})
        self._trigger_processing()
        return True

    def _trigger_processing(self):
        self.env.ref("messenger_connector.ir_cron_process_events").sudo()._trigger()
