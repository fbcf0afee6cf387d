from odoo import api, models


class MessengerCachedMixin(models.AbstractModel):
    """Records that methods cache per process (``tools.ormcache``): any change clears those caches, in every
    worker (through Odoo's cache invalidation signal)."""

    _name = "messenger.cached.mixin"
    _description = "Messenger: records cached per process"

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()
