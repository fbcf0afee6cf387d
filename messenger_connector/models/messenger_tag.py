from random import randint

from odoo import fields, models

from .messenger_routing_rule import keywords_match


class MessengerTag(models.Model):
    """A label that sorts conversations ("Complaint", "VIP", "Invoice"): set by hand, by a routing rule or by
    one of its keywords in a person's message."""

    _name = "messenger.tag"
    _description = "Messenger Label"
    _order = "name"

    def _default_color(self):
        return randint(1, 11)

    name = fields.Char("Label", required=True, translate=True)
    color = fields.Integer(default=lambda self: self._default_color())
    active = fields.Boolean(default=True)
    keywords = fields.Char(
        help="Comma-separated words: a person's message containing one of them as a whole word "
             "(case-insensitive) gives its conversation this label.")

    _sql_constraints = [
        ("name_uniq", "unique (name)", "A label of that name already exists."),
    ]

    def _matching(self, text):
        """The labels of ``self`` whose keywords are in ``text``."""
        return self.filtered(lambda tag: tag.keywords and keywords_match(tag.keywords, text))
