import re

from odoo import _, api, fields, models
from odoo.exceptions import UserError

#: a placeholder of a template text: {{1}} (positional) or {{first_name}} (named)
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

STATUSES = [
    ("approved", "Approved"), ("pending", "Pending Review"), ("rejected", "Rejected"), ("paused", "Paused"),
    ("disabled", "Disabled"), ("in_appeal", "In Appeal"), ("pending_deletion", "Pending Deletion"),
    ("deleted", "Deleted"), ("archived", "Archived"), ("limit_exceeded", "Limit Exceeded"), ("other", "Other"),
]
CATEGORIES = [("marketing", "Marketing"), ("utility", "Utility"), ("authentication", "Authentication"),
              ("other", "Other")]


def placeholders(text):
    """The placeholder names of a template text, each once, in the order they appear."""
    return list(dict.fromkeys(PLACEHOLDER_RE.findall(text or "")))


class MessengerTemplate(models.Model):
    """A message template approved (or not) by the platform, as synced from it; sent outside the window."""

    _name = "messenger.template"
    _description = "Messenger Template"
    _order = "account_id, name, language"

    name = fields.Char(required=True, readonly=True, help="The template's name on the platform.")
    language = fields.Char(required=True, readonly=True, help="Language code, e.g. en_US.")
    account_id = fields.Many2one("messenger.account", required=True, readonly=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    external_id = fields.Char("Template ID", readonly=True)
    category = fields.Selection(CATEGORIES, readonly=True)
    status = fields.Selection(STATUSES, readonly=True, index=True,
                              help="Only approved templates can be sent.")
    parameter_format = fields.Selection([("positional", "Positional ({{1}})"), ("named", "Named ({{name}})")],
                                        default="positional", readonly=True)
    header = fields.Char(readonly=True, help="Text header (a media header shows as its kind).")
    body = fields.Text(readonly=True)
    footer = fields.Char(readonly=True)
    buttons = fields.Json("Button Definitions", readonly=True, help="The template's buttons as the platform lists them.")
    buttons_text = fields.Char("Buttons", compute="_compute_buttons_text")
    placeholder_names = fields.Char("Parameters", compute="_compute_placeholder_names",
                                    help="Values the template needs, in order.")
    active = fields.Boolean(default=True, readonly=True, help="Archived once the platform no longer lists it.")
    synced_at = fields.Datetime(readonly=True)

    _sql_constraints = [("account_name_language_unique", "UNIQUE(account_id, name, language)",
                         "A template is stored once per account and language.")]

    @api.depends("name", "language")
    def _compute_display_name(self):
        for template in self:
            template.display_name = f"{template.name} ({template.language})"

    @api.depends("buttons")
    def _compute_buttons_text(self):
        for template in self:
            template.buttons_text = ", ".join(b.get("text") or "" for b in template.buttons or []) or False

    @api.depends("body", "header")
    def _compute_placeholder_names(self):
        for template in self:
            template.placeholder_names = ", ".join(template._placeholders()) or False

    def _placeholders(self):
        """The values the template needs, in order (those of its body; a text header has none here)."""
        self.ensure_one()
        return placeholders(self.body)

    # ------------------------------------------------------------------
    # Sync
    # ------------------------------------------------------------------

    @api.model
    def _values_from_platform(self, data):
        """Field values of a template as the platform lists it (unknown statuses/categories as "other")."""
        components = {c.get("type", "").upper(): c for c in data.get("components") or [] if isinstance(c, dict)}
        header = components.get("HEADER") or {}
        header_text = header.get("text") if (header.get("format") or "TEXT").upper() == "TEXT" else \
            "[%s]" % (header.get("format") or "").lower()
        status = (data.get("status") or "").lower()
        category = (data.get("category") or "").lower()
        return {
            "external_id": str(data.get("id") or "") or False,
            "status": status if status in dict(STATUSES) else "other",
            "category": category if category in dict(CATEGORIES) else "other",
            "parameter_format": "named" if (data.get("parameter_format") or "").upper() == "NAMED" else "positional",
            "header": header_text or False,
            "body": (components.get("BODY") or {}).get("text") or False,
            "footer": (components.get("FOOTER") or {}).get("text") or False,
            "buttons": [b for b in (components.get("BUTTONS") or {}).get("buttons") or [] if isinstance(b, dict)],
            "active": True,
            "synced_at": fields.Datetime.now(),
        }

    @api.model
    def _sync(self, account, platform_templates):
        """Create or update the account's templates from the platform's list; archive those it no longer lists.
        Return (created, updated, archived) counts."""
        existing = {(t.name, t.language): t for t in self.with_context(active_test=False).search(
            [("account_id", "=", account.id)])}
        seen, created, updated = set(), 0, 0
        for data in platform_templates:
            key = (data.get("name"), data.get("language"))
            if not all(isinstance(k, str) and k for k in key) or key in seen:
                continue
            seen.add(key)
            values = self._values_from_platform(data)
            if key in existing:
                existing[key].write(values)
                updated += 1
            else:
                self.create(dict(values, account_id=account.id, name=key[0], language=key[1]))
                created += 1
        gone = self.browse([t.id for key, t in existing.items() if key not in seen and t.active])
        gone.write({"active": False})
        return created, updated, len(gone)

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    @api.model
    def _find(self, account, name, language):
        return self.search([("account_id", "=", account.id), ("name", "=", name), ("language", "=", language)],
                           limit=1)

    def _values(self, params):
        """{placeholder: value} of ``params`` (a list in the placeholders' order, or a dict by name); raise a
        clear UserError when values are missing or too many."""
        self.ensure_one()
        names = self._placeholders()
        if isinstance(params, dict):
            values = {str(k): "" if v is None else str(v) for k, v in params.items()}
            unknown = set(values) - set(names)
            if unknown:
                raise UserError(_("The template %(name)s has no parameter %(params)s (it has: %(expected)s).",
                                  name=self.name, params=", ".join(sorted(unknown)),
                                  expected=", ".join(names) or _("none")))
        else:
            params = list(params or [])
            if len(params) > len(names):
                raise UserError(_("The template %(name)s takes %(count)s parameters (%(expected)s), not %(given)s.",
                                  name=self.name, count=len(names), expected=", ".join(names) or _("none"),
                                  given=len(params)))
            values = dict(zip(names, ("" if p is None else str(p) for p in params)))
        missing = [n for n in names if not (values.get(n) or "").strip()]
        if missing:
            raise UserError(_("The template %(name)s needs a value for %(params)s.", name=self.name,
                              params=", ".join("{{%s}}" % n for n in missing)))
        return values

    def _render(self, values):
        """The text the person receives: header, body and footer with the values, then the buttons."""
        self.ensure_one()

        def fill(text):
            return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")

        parts = [fill(self.header), fill(self.body), self.footer or ""]
        if self.buttons:
            parts.append(" ".join("[%s]" % (b.get("text") or "") for b in self.buttons))
        return "\n".join(p for p in parts if p)

    def _send_params(self, values):
        """The parameters for the platform: body texts in order, named ones with their names."""
        self.ensure_one()
        names = self._placeholders()
        if self.parameter_format == "named":
            return [{"type": "body", "parameters": [
                {"type": "text", "parameter_name": n, "text": values[n]} for n in names]}] if names else []
        return [values[n] for n in names]
