import datetime

from odoo import fields, models
from odoo.tools import format_datetime


class MessengerAccount(models.Model):
    """Team work of an account: its working hours, reply target, greeting and away messages."""

    _inherit = "messenger.account"

    resource_calendar_id = fields.Many2one(
        "resource.calendar", "Working Hours",
        help="When the team answers: reply targets count only these hours (with the calendar's leaves and public "
             "holidays), and the away message goes outside them. Empty: always open.")
    reply_target_minutes = fields.Integer(
        "Reply Target (min)", default=15,
        help="Minutes of working hours within which a person's message should be answered (first and next reply).")
    greeting_message = fields.Text(
        translate=True, help="Sent automatically when a person writes for the first time (or again after the "
                             "auto-message period). Empty: no greeting.")
    away_message = fields.Text(
        translate=True, help="Sent automatically when a person writes outside the working hours. {back} stands for "
                             "when the team is back; without it, that time is added at the end. Empty: none.")
    auto_message_period_hours = fields.Integer(
        "Auto-Message Period (h)", default=24,
        help="Each of the greeting and the away message goes at most once per conversation in this period.")

    def _reply_due(self, start):
        """When a reply to a message of ``start`` (naive UTC) is due: the target counted in working hours."""
        self.ensure_one()
        minutes = max(self.reply_target_minutes, 0)
        if not self.resource_calendar_id:
            return start + datetime.timedelta(minutes=minutes)
        due = self.resource_calendar_id.plan_hours(minutes / 60.0, start, compute_leaves=True)
        return due or False

    def _next_opening(self, when):
        """``when`` (naive UTC) if the team works then, else the start of its next working time (naive UTC);
        None when the calendar has no working time in the coming weeks."""
        self.ensure_one()
        calendar = self.resource_calendar_id
        if not calendar:
            return when
        start = when.replace(tzinfo=datetime.timezone.utc)
        for start_at, stop_at, _meta in calendar._work_intervals_batch(
                start, start + datetime.timedelta(days=60))[False]:
            if stop_at > start:
                return when if start_at <= start else start_at.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return None

    def _format_opening(self, when):
        """``when`` (naive UTC) in words for a person: the weekday and time in the team's time zone."""
        self.ensure_one()
        tz = self.resource_calendar_id.tz or "UTC"
        return format_datetime(self.env, when, tz=tz, dt_format="EEEE, d MMMM, HH:mm")

