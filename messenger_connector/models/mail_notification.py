from odoo import fields, models


class MailNotification(models.Model):
    """The delivery of a chat post to the person on the messenger, as an SMS's delivery is one of its post."""

    _inherit = "mail.notification"

    notification_type = fields.Selection(selection_add=[("messenger", "Messenger")],
                                         ondelete={"messenger": "cascade"})
    failure_type = fields.Selection(selection_add=[("messenger", "Not Delivered on the Messenger")])
