import calendar
import datetime
import uuid

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..providers import ProviderError
from .messenger_consent import PURPOSES

#: WeChat counts its broadcast days and months in China's time
WECHAT_TZ = pytz.timezone("Asia/Shanghai")
#: broadcasts per period: subscription accounts one a day, service accounts four a calendar month (no carry-over)
QUOTAS = {"subscription": (1, "day"), "service": (4, "month")}
#: WeChat's mass send to OpenIDs takes 2 to 10,000 of them
MIN_RECIPIENTS, MAX_RECIPIENTS = 2, 10000
#: WeChat's answer to a second broadcast with the same client message id
DUPLICATE_CODE = "45065"


def quota_period(account_type, when):
    """(start, end, limit) of the quota period containing ``when`` (naive UTC): naive UTC bounds."""
    limit, unit = QUOTAS.get(account_type, QUOTAS["subscription"])
    local = pytz.utc.localize(when).astimezone(WECHAT_TZ)
    if unit == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(days=1)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(days=calendar.monthrange(start.year, start.month)[1])
    start, end = (WECHAT_TZ.normalize(value) for value in (start, end))
    return (start.astimezone(pytz.utc).replace(tzinfo=None), end.astimezone(pytz.utc).replace(tzinfo=None), limit)


class MessengerWeChatBroadcast(models.Model):
    """One mass send of a WeChat account to its opted-in followers, with its recipient count and result.

    WeChat rations broadcasts (a subscription account one a day, a service account four a calendar month): a
    broadcast is refused before anything is sent once the period's quota is used, with the date it frees up.
    """

    _name = "messenger.wechat.broadcast"
    _description = "WeChat Broadcast"
    _order = "id desc"

    name = fields.Char(required=True)
    account_id = fields.Many2one(
        "messenger.account", required=True, index=True, ondelete="restrict", domain=[("provider", "=", "wechat")])
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    body = fields.Text(required=True)
    purpose = fields.Selection(
        PURPOSES, required=True, default="marketing", readonly=True,
        help="A broadcast is marketing: only the followers whose latest marketing consent is an opt-in receive it.")
    state = fields.Selection(
        [("draft", "Draft"), ("sent", "Sent"), ("failed", "Failed")],
        default="draft", required=True, readonly=True, index=True)
    recipient_count = fields.Integer(readonly=True, help="Followers the broadcast went to.")
    sent_at = fields.Datetime(readonly=True, index=True)
    sent_by_id = fields.Many2one("res.users", readonly=True)
    msg_id = fields.Char("WeChat Message ID", readonly=True)
    error = fields.Text(readonly=True)
    client_msg_id = fields.Char(
        "Client Message ID", readonly=True, copy=False, default=lambda self: uuid.uuid4().hex,
        help="Sent with the broadcast: WeChat refuses a second broadcast with the same id (a retry after a lost "
             "answer sends nothing twice).")

    @api.model_create_multi
    def create(self, vals_list):
        # the same text to every follower, unasked: marketing, whatever label it is given
        return super().create([dict(vals, purpose="marketing") for vals in vals_list])

    def write(self, vals):
        if "purpose" in vals:
            vals = dict(vals, purpose="marketing")
        return super().write(vals)

    def _recipients(self):
        """The conversations of the account's followers opted in to marketing (not blocked)."""
        self.ensure_one()
        conversations = self.env["messenger.conversation"].sudo().search([
            ("account_id", "=", self.account_id.id), ("blocked", "=", False)])
        return conversations.filtered(lambda conversation: conversation._consent_state("marketing") == "opt_in")

    def _lock_quota(self):
        """Count the account's broadcasts under a lock: a concurrent send of the same account waits for this
        transaction, then fails on its concurrent update (and is retried by Odoo), so that it counts this one."""
        # sudo: the time of the account's last broadcast is the addon's field
        account = self.account_id.sudo()
        account.write({"wc_last_broadcast_at": fields.Datetime.now()})
        account.flush_recordset(["wc_last_broadcast_at"])  # the row is locked now, before anything is counted

    def _check_quota(self, now=None):
        """Refuse (UserError) when the period's broadcasts are used, naming the day the next one may go."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        account_type = self.account_id.sudo().wc_account_type or "subscription"
        start, end, limit = quota_period(account_type, now)
        used = self.search_count([("account_id", "=", self.account_id.id), ("state", "=", "sent"),
                                  ("sent_at", ">=", start), ("sent_at", "<", end), ("id", "!=", self.id)])
        if used >= limit:
            frees_up = pytz.utc.localize(end).astimezone(WECHAT_TZ).date()
            raise UserError(_(
                "The broadcast quota of %(account)s is used (%(limit)s per %(period)s): the next broadcast can go "
                "on %(date)s (China time).", account=self.account_id.name, limit=limit,
                period=_("day") if account_type == "subscription" else _("calendar month"),
                date=fields.Date.to_string(frees_up)))

    def action_send(self):
        """Send the broadcast now: quota and recipients checked first, nothing sent when either fails."""
        for broadcast in self:
            if broadcast.state == "sent":
                raise UserError(_("This broadcast was sent already."))
            broadcast._lock_quota()
            broadcast._check_quota()
            recipients = broadcast._recipients()
            if len(recipients) < MIN_RECIPIENTS:
                raise UserError(_("A WeChat broadcast needs at least %(count)s opted-in followers; this one has "
                                  "%(found)s.", count=MIN_RECIPIENTS, found=len(recipients)))
            if len(recipients) > MAX_RECIPIENTS:
                raise UserError(_("A WeChat broadcast goes to at most %(count)s followers; this one has %(found)s.",
                                  count=MAX_RECIPIENTS, found=len(recipients)))
            try:
                answer = broadcast.account_id._get_provider().send_mass(
                    text=broadcast.body, openids=recipients.mapped("external_user_id"),
                    client_msg_id=broadcast.client_msg_id)
            except ProviderError as error:
                if error.code != DUPLICATE_CODE:
                    broadcast.write({"state": "failed", "error": error.message, "recipient_count": len(recipients)})
                    continue
                # a retry of a broadcast whose answer was lost: WeChat has it already, under this client id
                answer = {}
            broadcast.write({"state": "sent", "error": False, "recipient_count": len(recipients),
                             "msg_id": str(answer.get("msg_id") or ""), "sent_at": fields.Datetime.now(),
                             "sent_by_id": self.env.user.id})
        return True

    result = fields.Char(readonly=True, help="WeChat's final state of the broadcast (MASSSENDJOBFINISH).")
    sent_count = fields.Integer("Delivered to", readonly=True, help="Followers WeChat delivered the broadcast to.")
    error_count = fields.Integer("Not Delivered", readonly=True, help="Followers WeChat could not deliver it to.")

    @api.model
    def _apply_job_finish(self, account, raw):
        """WeChat's report on a broadcast (MASSSENDJOBFINISH): its final state and counts; False when no broadcast
        of the account has that message id."""
        broadcast = self.sudo().search([("account_id", "=", account.id), ("msg_id", "=", str(raw.get("MsgID")))],
                                       limit=1)
        if not broadcast:
            return False

        def count(key):
            value = str(raw.get(key) or "").strip()
            return int(value) if value.isdigit() else 0

        broadcast.write({"result": str(raw.get("Status") or "")[:100], "sent_count": count("SentCount"),
                         "error_count": count("ErrorCount")})
        return True

    @api.ondelete(at_uninstall=False)
    def _unlink_only_drafts(self):
        if self.filtered(lambda broadcast: broadcast.state != "draft"):
            raise UserError(_("A broadcast that was sent (or tried) stays on record."))
