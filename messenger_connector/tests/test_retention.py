import datetime

from odoo import fields
from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestRetention(MessengerCase):

    def setUp(self):
        super().setUp()
        self.policy = self.env.ref("messenger_connector.retention_inactive")
        self.policy.write({"active": True, "days": 30, "action": "anonymize"})
        self.old = self.chat("3249000001", "old secret plans", days_ago=40)
        self.recent = self.chat("3249000002", "recent words", days_ago=2)
        self.held = self.chat("3249000003", "promise on record", days_ago=40)
        self.held.write({"legal_hold": True, "legal_hold_reason": "Warranty dispute 2026-17"})
        self.partly_held = self.chat("3249000004", "keep this one", days_ago=40, extra="drop this one")
        self.partly_held.messenger_message_ids.filtered(lambda m: m.body == "keep this one").action_set_legal_hold(
            "Price promise")

    def chat(self, wa_id, text, days_ago, extra=None):
        self.receive(self.wa_account, self.wa_text(wa_id, text, f"wamid.R{wa_id}", name=f"Ret {wa_id}"))
        conversation = self.conversation(self.wa_account, wa_id)
        if extra:
            self.receive(self.wa_account, self.wa_text(wa_id, extra, f"wamid.R{wa_id}.2", name=f"Ret {wa_id}"))
        attachment = self.env["ir.attachment"].create({
            "name": f"{wa_id}.pdf", "raw": b"%PDF secret", "res_model": "messenger.conversation",
            "res_id": conversation.id})
        conversation.messenger_message_ids.sorted("id")[-1:].attachment_ids = attachment
        past = fields.Datetime.now() - datetime.timedelta(days=days_ago)
        conversation.write({"last_message_at": past})
        return conversation

    def contents(self, conversation):
        return conversation.messenger_message_ids.mapped("body")

    def test_dry_run_lists_and_changes_nothing(self):
        before = {c.id: self.contents(c) for c in (self.old, self.recent, self.held, self.partly_held)}
        action = self.policy.action_preview()
        self.assertEqual(set(action["domain"][0][2]), {self.old.id, self.partly_held.id})
        self.assertIn("would anonymize 2 conversations", action["name"])
        self.assertEqual({c.id: self.contents(c) for c in (self.old, self.recent, self.held, self.partly_held)},
                         before)
        self.assertFalse(self.policy.audit_ids)

    def test_anonymize(self):
        message = self.old.messenger_message_ids
        attachment = message.attachment_ids
        chatter = message.chatter_message_ids
        self.assertTrue(chatter)
        self.env["messenger.retention.policy"]._cron_apply()
        self.assertFalse(message.body)
        self.assertEqual(message.state, "received", "states stay for statistics")
        self.assertTrue(message.anonymized)
        self.assertFalse(attachment.exists(), "attachments really gone")
        self.assertTrue(all("secret" not in (m.body or "") for m in chatter.exists()))
        self.assertFalse(self.old.partner_id)
        self.assertTrue(self.old.external_user_id.startswith("anonymized-"))
        self.assertNotIn("secret", message.event_id.sudo().body)
        self.assertEqual(self.contents(self.recent), ["recent words"], "not due")
        self.assertEqual(self.contents(self.held), ["promise on record"], "conversation on hold")
        self.assertEqual(sorted(filter(None, self.contents(self.partly_held))), ["keep this one"])
        audit = self.policy.audit_ids
        self.assertEqual(len(audit), 1)
        self.assertEqual((audit.conversation_count, audit.message_count, audit.attachment_count, audit.held_count),
                         (2, 2, 2, 1))
        self.assertFalse(audit.dry_run)
        # a second run finds nothing left to do
        self.env["messenger.retention.policy"]._cron_apply()
        last = self.env["messenger.retention.audit"].search([("policy_id", "=", self.policy.id)], order="id desc",
                                                            limit=1)
        self.assertEqual(last.conversation_count, 0)

    def test_delete(self):
        self.policy.action = "delete"
        old_messages = self.old.messenger_message_ids
        chatter = old_messages.chatter_message_ids
        attachments = old_messages.attachment_ids
        partner = self.old.partner_id
        self.policy._apply()
        self.assertFalse(self.old.exists())
        self.assertFalse(old_messages.exists())
        self.assertFalse(chatter.exists(), "the chatter copies go too")
        self.assertFalse(attachments.exists())
        self.assertFalse(self.env["mail.message"].search([("model", "=", "res.partner"), ("res_id", "=", partner.id),
                                                          ("body", "ilike", "secret")]))
        self.assertTrue(self.partly_held.exists(), "a held message keeps its conversation")
        self.assertEqual(self.contents(self.partly_held), ["keep this one"])
        audit = self.policy.audit_ids
        self.assertEqual((audit.conversation_count, audit.message_count, audit.held_count), (2, 2, 1))

    def test_inactive_policy_does_nothing(self):
        self.policy.active = False
        self.env["messenger.retention.policy"]._cron_apply()
        self.assertEqual(self.contents(self.old), ["old secret plans"])

    def test_lost_leads_and_refused_applicants(self):
        leads_policy = self.env.ref("messenger_connector.retention_lost_leads")
        leads_policy.write({"active": True, "days": 10})
        lost = self.env["crm.lead"].create({"name": "Lost", "partner_id": self.recent.partner_id.id})
        lost.action_set_lost()
        self.recent.lead_id = lost
        self.assertFalse(leads_policy._due_conversations(), "lost only yesterday")
        self.env.cr.execute("UPDATE crm_lead SET date_closed = now() - interval '20 days', "
                            "write_date = now() - interval '20 days' WHERE id = %s", [lost.id])
        self.env.invalidate_all()
        self.assertEqual(leads_policy._due_conversations(), self.recent)

        apps_policy = self.env.ref("messenger_connector.retention_applicants")
        apps_policy.write({"active": True, "days": 10})
        candidate = self.env["hr.candidate"].create({"partner_name": "Refused Rita"})
        applicant = self.env["hr.applicant"].create({"candidate_id": candidate.id})
        self.old.applicant_id = applicant
        self.assertFalse(apps_policy._due_conversations(), "still in the process")
        applicant.write({"active": False, "refuse_date": fields.Datetime.now() - datetime.timedelta(days=20)})
        self.env.invalidate_all()
        self.assertEqual(apps_policy._due_conversations(), self.old)
