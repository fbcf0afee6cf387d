import itertools

from odoo import api, models

#: bumped once a change of a cached record committed: methods that cache rows put it in their cache key
_GENERATION = itertools.count(1)
_CURRENT = [0]


def _next_generation():
    _CURRENT[0] = next(_GENERATION)


class MessengerCachedMixin(models.AbstractModel):
    """Records that methods cache per process (``tools.ormcache``): a change of what those methods read of them
    (``_cached_state``) clears the caches, in every worker (through Odoo's cache invalidation signal); other
    changes (an account's counters, its health) leave them.

    The caches are cleared when the change is made (this transaction reads the new rows, and Odoo signals the
    other processes once it committed) and again after the commit: in between, a request of this process that
    still sees the old rows may have cached them again, and the signal never clears its sender's caches. A
    cached value read in a snapshot older than the commit is kept under the previous generation (see
    ``_cache_generation``; the caching method reads in a snapshot taken after the generation), so it is never
    found again.
    """

    _name = "messenger.cached.mixin"
    _description = "Messenger: records cached per process"

    @api.model
    def _cache_generation(self):
        """Part of the key of every cache of these records: it changes once a change of them committed."""
        return _CURRENT[0]

    def _clear_cached(self):
        self.env.registry.clear_cache()
        postcommit = self.env.cr.postcommit
        if not postcommit.data.get("messenger_clear_cached"):
            postcommit.data["messenger_clear_cached"] = True
            postcommit.add(_next_generation)
            postcommit.add(self.env.registry.clear_cache)

    @api.model_create_multi
    def create(self, vals_list):
        self._clear_cached()
        return super().create(vals_list)

    def write(self, vals):
        # only what the caches read is read here: a field read before the write would be in the cache, and
        # the ORM writes no value equal to the cached one (a write that locks the row must still reach it)
        records = self.with_context(prefetch_fields=False)
        before = records._cached_state()
        result = super().write(vals)
        if records._cached_state() != before:
            self._clear_cached()
        return result

    def _cached_state(self):
        """What the caching methods read of these records (compared before and after a write). By default
        everything: any write clears the caches."""
        return object()

    def unlink(self):
        self._clear_cached()
        return super().unlink()
