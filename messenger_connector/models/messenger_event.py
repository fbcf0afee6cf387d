import dataclasses
import datetime
import logging
import threading
import time

from psycopg2 import errors as pg_errors

from odoo.tools import SQL, split_every

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import providers as prov

_logger = logging.getLogger(__name__)

#: database name -> the last second (epoch, whole) in which this process's wake-up of the processing cron was
#: committed: the other deliveries of that second need neither the wake-up nor the query that looks for one
_WOKEN_SECOND = {}

PROCESS_BATCH = 200
#: automatic attempts of a failing event before it waits for a person (Reprocess button or redelivery)
MAX_AUTO_ATTEMPTS = 3
#: one call of the processing cron works through batches for at most this long (Odoo calls it again at once
#: while events remain, and the call re-triggers the cron so that it never waits for its 5-minute interval)
PROCESS_RUN_SECONDS = 30
#: Odoo drops a job's wake-ups dated before its run started, to the second (a trigger's time has no fraction of
#: a second): a run lasts at least this long, processing what arrives, so that a delivery stored after the run's
#: last look always leaves a wake-up that survives the run
MIN_RUN_SECONDS = 1.0
#: events are applied and committed in groups of COMMIT_EVERY (see _process): a crash before the commit rolls the
#: whole group back, chatter posts included, so that it is processed again, once.
COMMIT_EVERY = 50

def _without_nul(value):
    """PostgreSQL text cannot hold NUL: remove it from every string of a normalized event (in place)."""
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, str):
                if "\x00" in item:
                    setattr(value, field.name, item.replace("\x00", ""))
            elif dataclasses.is_dataclass(item):
                _without_nul(item)
    return value


class ProcessingBatch:
    """What the events of one group share while they are applied together (see messenger.event._process).

    Given as ``messenger_batch`` in the context of the group's events while they are applied (see
    _apply_group), and to nothing after. Look-ups are prefetched once for the group and kept up to date by
    the code that changes what they hold; the chatter posts wait here for the end of the group.
    """

    def __init__(self):
        self.providers = {}        # account id -> provider client
        self.parsed = {}           # event id -> normalized events
        self.conversations = {}    # (account id, external user id) -> conversation id, for those looked up
        self.messages = {}         # (account id, external message id) -> stored (bool), for those looked up
        self.leads = {}            # commercial partner id -> its open crm.lead (most recent first), looked up
        self.candidates = {}       # partner id -> its hr.candidate (by id), looked up
        self.chatter = {}          # ids of messenger.message whose chatter posts wait for the end of the group (keys)


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
    def _store(self, account, key, body, company_id=None):
        """Store one delivery once; return True when new, False for a duplicate.

        INSERT ... ON CONFLICT DO NOTHING makes two concurrent deliveries of the same key store one row
        without raising. Under REPEATABLE READ (every Odoo cursor) the second one raises a serialization
        failure instead when the first committed after its snapshot was taken: that failure proves the row
        is there, committed, so it is a duplicate too. Answering it at once (instead of letting Odoo retry
        the whole request after a random sleep of up to 2 s, which also found the body already consumed)
        keeps the answer fast and never refuses a valid redelivery; the transaction held nothing else and is
        rolled back. (So the cursor must not log that failure as a "bad query" error.) ``company_id``: the account's, when the caller knows it (saves reading the account).
        """
        uid = self.env.uid
        try:
            self.env.cr.execute(SQL(
                """INSERT INTO messenger_event (account_id, company_id, key, body, state, attempts,
                                               create_uid, write_uid, create_date, write_date)
                   VALUES (%s, %s, %s, %s, 'pending', 0, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                   ON CONFLICT (account_id, key) DO NOTHING
                   RETURNING id""",
                account.id, company_id or account.company_id.id, key, body, uid, uid), log_exceptions=False)
            return bool(self.env.cr.fetchone())
        except pg_errors.SerializationFailure:
            self.env.cr.rollback()
            _logger.info("Messenger delivery %s of account %s stored concurrently: duplicate", key, account.id)
            return False

    # ------------------------------------------------------------------
    # Processing (cron)
    # ------------------------------------------------------------------

    @api.model
    def _cron_process(self):
        """Process pending events (and retry failed ones) batch after batch for up to PROCESS_RUN_SECONDS."""
        started = time.monotonic()
        done = 0
        retry = self.search([("state", "=", "failed"), ("attempts", "<", MAX_AUTO_ATTEMPTS)],
                            order="id", limit=PROCESS_BATCH)
        retry._process()
        while time.monotonic() - started < PROCESS_RUN_SECONDS:
            events = self.search([("state", "=", "pending")], order="id", limit=PROCESS_BATCH)
            if events:
                events._process()
                done += len(events)
                continue
            idle = MIN_RUN_SECONDS - (time.monotonic() - started)
            if idle <= 0 or not _auto_commit():
                break
            self.env.cr.commit()  # nothing to commit: the next look sees what was stored meanwhile
            time.sleep(min(idle, 0.1))
        remaining = self.search_count([("state", "=", "pending")])
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining:
            # Odoo calls a job reporting progress again at once, but only 10 times in a row; then the cron
            # worker sleeps until the next trigger or its poll (a minute): trigger ourselves.
            self._trigger_processing()

    def _process(self):
        """Apply the events in groups of COMMIT_EVERY, one transaction per group.

        A group is first applied together (``_apply_group``): look-ups done once for the group and the chatter
        posts created together at its end, which makes processing cheaper than posting each message on its own
        (bench/inbound.py). Any failure in the group rolls the whole group back and applies it again one event
        at a time, each in its own savepoint, so that a failing event keeps its error and blocks nothing. A
        crash before the commit rolls the group back: it is processed again, once.
        """
        for group in split_every(COMMIT_EVERY, self.ids, self.browse):
            if not group._apply_group():
                group._apply_each()
            if _auto_commit():
                self.env.cr.commit()

    def _apply_group(self):
        """Apply the events of ``self`` together; return False (everything rolled back) when one failed."""
        try:
            with self.env.cr.savepoint():
                batch = ProcessingBatch()
                events = self.with_context(messenger_batch=batch)
                events._prefetch(batch)
                now = fields.Datetime.now()
                for event in events:
                    info = event._apply(batch)
                    event.write({"state": "done", "processed_at": now, "error": False, "info": info,
                                 "attempts": event.attempts + 1})
                # the chatter posts of the whole group, at its end (messenger.message._post_to_chatters)
                self.env["messenger.message"].browse(list(batch.chatter))._post_to_chatters()
            return True
        except Exception as error:  # noqa: BLE001 - applied again one by one, where each failure is kept
            if self.env.cr.closed:
                raise  # the database connection is gone: nothing was stored, the next run redoes it all
            _logger.info("Messenger events %s failed as a group (%r): applying them one by one", self.ids, error)
            return False

    def _apply_each(self):
        """Apply each event in its own savepoint: a failing one keeps its error and blocks nothing."""
        for event in self:
            try:
                with self.env.cr.savepoint():
                    info = event._apply()
                    event.write({"state": "done", "processed_at": fields.Datetime.now(), "error": False,
                                 "info": info, "attempts": event.attempts + 1})
            except Exception as error:  # noqa: BLE001 - any failure is kept on the event, never lost
                if self.env.cr.closed:
                    raise  # the database connection is gone: nothing was stored, the next run redoes it all
                _logger.warning("Messenger event %s failed: %s", event.id, error, exc_info=True)
                event.write({"state": "failed", "error": str(error) or repr(error),
                             "attempts": event.attempts + 1})

    def _parse(self, batch=None):
        """The normalized events of this delivery (parsed once per group when ``batch`` is given)."""
        self.ensure_one()
        if batch is not None and self.id in batch.parsed:
            return batch.parsed[self.id]
        providers = batch.providers if batch is not None else {}
        account = self.account_id
        provider = providers.get(account.id) or providers.setdefault(account.id, account._get_provider())
        parsed = [_without_nul(ev) for ev in provider.parse(self.body.encode())]
        if batch is not None:
            batch.parsed[self.id] = parsed
        return parsed

    def _prefetch(self, batch):
        """Look up, once for the group, what applying its events asks for each of them."""
        people = []
        for event in self:
            try:
                parsed = event._parse(batch)
            except Exception:  # noqa: BLE001 - left to _apply, which fails the group and keeps the error
                continue
            for ev in parsed:
                account = event.account_id._route_to(ev.account_ref)
                if account and ev.external_user_id and ev.kind in (
                        prov.MESSAGE, prov.ECHO, prov.OPT_OUT, prov.OPT_IN, prov.BLOCK, prov.UNBLOCK):
                    people.append((account, ev))
        if people:
            self.env["messenger.conversation"]._prefetch_batch(batch, people)

    def _apply(self, batch=None):
        """Apply every normalized event this delivery carries; return a short summary.

        ``batch``: the ProcessingBatch of the group being applied together (see _apply_group), or None.
        """
        self.ensure_one()
        Conversation = self.env["messenger.conversation"]
        Message = self.env["messenger.message"]
        counts = {}
        for ev in self._parse(batch):
            account = self.account_id._route_to(ev.account_ref)
            if not account:
                ev.kind = f"{ev.kind} for another number ({ev.account_ref})"
            elif ev.kind == prov.MESSAGE:
                Conversation._get_or_create(account, ev)._receive(ev, self)
            elif ev.kind == prov.ECHO:
                if not Conversation._get_or_create(account, ev)._receive_echo(ev, self):
                    ev.kind = "echo of a message sent from Odoo"
            elif ev.kind == prov.STATUS:
                if not Message._apply_status(account, ev):
                    ev.kind = "status for an unknown message"
            elif ev.kind == prov.IDENTITY:
                # the person is found by the ids they had; the new ones join them (no chat message)
                conversation = Conversation._find_by_aliases(account, dataclasses.replace(
                    ev, aliases=ev.previous_aliases + ev.aliases, external_user_id=None))
                if conversation:
                    conversation._apply_identity_change(ev)
                else:
                    ev.kind = "identity change of an unknown person"
            elif ev.kind in (prov.OPT_OUT, prov.OPT_IN, prov.BLOCK, prov.UNBLOCK):
                conversation = Conversation._get_or_create(account, ev)
                conversation._apply_platform_event(ev)
                if ev.referral:
                    # a click-to-chat reference that came with the event (a WeChat QR scan that subscribes)
                    conversation._apply_referral(ev.referral)
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
        """Make the processing cron run as soon as possible: Odoo wakes the cron workers once this transaction
        committed. A run lasts at least a second and takes what arrives meanwhile, so an event stored while
        the cron runs is not lost with the triggers that run deletes (those older than its start).

        Odoo's wake-up opens a new connection to the server's ``postgres`` database each time, which costs more
        than storing the delivery itself: one wake-up per second is enough. A trigger due this second and
        created now (not one planned earlier, which came without a wake-up) means the cron workers have been,
        or are about to be, woken for this second's deliveries."""
        # sudo: the webhook runs as nobody; a trigger row only asks the cron to run now. The id by its cached
        # xmlid (env.ref would also check that the record exists: a query on every delivery).
        second = int(time.time())
        dbname = self.env.cr.dbname
        if _WOKEN_SECOND.get(dbname) == second:
            return
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("messenger_connector.ir_cron_process_events")
        now = fields.Datetime.now()
        woken = self.env["ir.cron.trigger"].sudo().search_count([
            ("cron_id", "=", cron_id), ("call_at", "=", now),
            ("create_date", ">=", now - datetime.timedelta(seconds=1))], limit=1)
        if not woken:
            self.env["ir.cron"].sudo().browse(cron_id)._trigger()
        # remembered once committed: a rolled-back delivery woke nobody, the next one must try again
        self.env.cr.postcommit.add(lambda: _WOKEN_SECOND.__setitem__(dbname, second))