import json

from odoo import _, models


class MessengerEvent(models.Model):
    """Removal of what a stored delivery said (retention policies, data-subject erasure)."""

    _inherit = "messenger.event"

    def _values(self):
        """Every scalar value of the delivery, as text (a person's platform id is one of them)."""
        self.ensure_one()
        stack = [self._body_object()]
        values = set()
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif item is not None and not isinstance(item, bool):
                values.add(str(item).strip())
        return values

    def _body_object(self):
        """The delivery's content as dicts and lists (its JSON here; a platform whose deliveries are something
        else reads them); None when nothing readable is left."""
        try:
            return json.loads(self.body or "{}")
        except ValueError:
            return None

    def _remove_content(self):
        """Keep the delivery's row (key, state, dates) without its body, error and summary."""
        # sudo: called by retention and erasure, whose caller may not edit raw deliveries; only content goes
        self.sudo().write({"body": "{}", "error": False, "info": _("content removed")})
