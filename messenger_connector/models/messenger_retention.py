import datetime
import logging
import threading

from odoo import _, api, fields, models

from .messenger_consent import PURPOSES

_logger = logging.getLogger(__name__)

RETENTION_BATCH = 100


class MessengerRetentionPolicy(models.Model):
    """How long chats of a kind are kept, and what happens to them after."""

    _name = "messenger.retention.policy"
    _description = "Messenger Retention Policy"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=False, help="Policies act only once a manager enables them.")
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    purpose = fields.Selection(PURPOSES, required=True, default="service")
    scope = fields.Selection([
        ("applicant_closed", "Refused or Closed Applicants"),
        ("lead_lost", "Lost Leads"),
        ("inactive", "Inactive Conversations"),
    ], required=True, default="inactive",
        help="Refused or closed applicants: counted from the refusal or hiring date. Lost leads: from the loss. "
             "Inactive conversations: from the last message.")
    days = fields.Integer("After (days)", required=True, default=365)
    action = fields.Selection([
        ("anonymize", "Anonymize"), ("delete", "Delete"),
    ], required=True, default="anonymize",
        help="Anonymize: contents, attachments and identities are removed; counts, states and dates stay for "
             "statistics. Delete: the conversations and their messages are removed.")
    audit_ids = fields.One2many("messenger.retention.audit", "policy_id", string="Runs")
    last_run_at = fields.Datetime(compute="_compute_last_run_at")

    _sql_constraints = [("days_positive", "CHECK(days > 0)", "The retention period must be at least one day.")]

    def _compute_last_run_at(self):
        for policy in self:
            policy.last_run_at = policy.audit_ids.filtered(lambda a: not a.dry_run)[:1].run_at

    # ------------------------------------------------------------------
    # Selection of what is due
    # ------------------------------------------------------------------

    def _due_conversations(self, limit=None):
        """Conversations this policy is due to act on (legal holds excluded), oldest first."""
        self.ensure_one()
        Conversation = self.env["messenger.conversation"].sudo().with_context(active_test=False)
        limit_date = fields.Datetime.now() - datetime.timedelta(days=self.days)
        domain = [("company_id", "=", self.company_id.id), ("legal_hold", "=", False), ("anonymized", "=", False)]
        if self.scope == "inactive":
            domain += ["|", ("last_message_at", "<", limit_date),
                       "&", ("last_message_at", "=", False), ("create_date", "<", limit_date)]
        elif self.scope == "lead_lost":
            leads = self.env["crm.lead"].sudo().with_context(active_test=False)._search([
                ("active", "=", False), ("probability", "=", 0),
                "|", ("date_closed", "<", limit_date), "&", ("date_closed", "=", False),
                ("write_date", "<", limit_date)])
            domain.append(("lead_id", "in", leads))
        elif self.scope == "applicant_closed":
            applicants = self.env["hr.applicant"].sudo().with_context(active_test=False)._search([
                "|", "|",
                "&", ("application_status", "in", ("refused", "archived")),
                "|", ("refuse_date", "<", limit_date), "&", ("refuse_date", "=", False), ("write_date", "<", limit_date),
                "&", ("application_status", "=", "hired"), ("date_closed", "<", limit_date),
                "&", ("active", "=", False), ("write_date", "<", limit_date)])
            domain.append(("applicant_id", "in", applicants))
        return Conversation.search(domain, order="id", limit=limit)

    # ------------------------------------------------------------------
    # Applying
    # ------------------------------------------------------------------

    def _apply(self, dry_run=False, limit=RETENTION_BATCH):
        """Apply this policy to one batch; write the audit entry of the run (counts, never content)."""
        self.ensure_one()
        conversations = self._due_conversations(limit=limit)
        messages = conversations.messenger_message_ids
        held = messages.filtered("legal_hold")
        counts = {"conversations": len(conversations), "messages": len(messages - held),
                  "attachments": len((messages - held).attachment_ids), "held": len(held)}
        if not dry_run and conversations:
            for conversation in conversations:
                conversation._retention_remove(delete=self.action == "delete")
        self.env["messenger.retention.audit"].sudo().create({
            "policy_id": self.id, "dry_run": dry_run, "action": self.action,
            "conversation_count": counts["conversations"], "message_count": counts["messages"],
            "attachment_count": counts["attachments"], "held_count": counts["held"],
        })
        return conversations

    def action_preview(self):
        """Dry run: list what the policy would act on now; nothing changes."""
        self.ensure_one()
        conversations = self._due_conversations()
        if not conversations:
            return {
                "type": "ir.actions.client", "tag": "display_notification",
                "params": {
                    "type": "info", "sticky": False, "title": _("Nothing is due"),
                    "message": _("%(policy)s has nothing to %(action)s now: no conversation of its kind is older "
                                 "than %(days)s days (conversations under legal hold are never due).",
                                 policy=self.name, action=self._action_label(), days=self.days),
                },
            }
        return {
            "type": "ir.actions.act_window",
            "name": _("%(policy)s would %(action)s %(count)s conversations", policy=self.name,
                      action=self._action_label(),
                      count=len(conversations)),
            "res_model": "messenger.conversation",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("id", "in", conversations.ids)],
            "context": {"create": False, "active_test": False},
        }

    def _action_label(self):
        return dict(self._fields["action"]._description_selection(self.env))[self.action].lower()

    def action_apply_now(self):
        for policy in self:
            policy._apply()
        return True

    @api.model
    def _cron_apply(self):
        """Daily: every active policy, in batches, one audit entry per batch."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        for policy in self.search([("active", "=", True)]):
            while True:
                done = policy._apply()
                if auto_commit:
                    self.env.cr.commit()
                if len(done) < RETENTION_BATCH:
                    break


class MessengerRetentionAudit(models.Model):
    """What one run of a retention policy did: counts only, never content."""

    _name = "messenger.retention.audit"
    _description = "Messenger Retention Run"
    _order = "run_at desc, id desc"
    _rec_name = "policy_id"

    policy_id = fields.Many2one("messenger.retention.policy", required=True, readonly=True, ondelete="cascade")
    run_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    user_id = fields.Many2one("res.users", readonly=True, default=lambda self: self.env.user)
    dry_run = fields.Boolean(readonly=True)
    action = fields.Selection([("anonymize", "Anonymize"), ("delete", "Delete")], readonly=True)
    conversation_count = fields.Integer("Conversations", readonly=True)
    message_count = fields.Integer("Messages", readonly=True)
    attachment_count = fields.Integer("Attachments", readonly=True)
    held_count = fields.Integer("Messages on Hold", readonly=True)
