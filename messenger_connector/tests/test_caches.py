from unittest.mock import patch

from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestCaches(MessengerCase):
    """The per-process caches (webhook routing, consent keywords) are cleared when what they hold changes, and
    only then: an account's assignment or health leaves every worker's caches as they are."""

    def clears(self, change):
        Registry = type(self.env.registry)
        with patch.object(Registry, "clear_cache", autospec=True, side_effect=Registry.clear_cache) as clear_cache:
            change()
        return clear_cache.called

    def test_routing_cache_follows_the_key_and_credentials_only(self):
        account = self.wa_account
        self.assertFalse(self.clears(lambda: account.write({"assign_mode": "least_active"})))
        self.assertFalse(self.clears(lambda: account.write({"assign_max_open": 3})))
        self.assertTrue(self.clears(lambda: account.write({"wa_access_token": "another-token"})))
        self.assertTrue(self.clears(lambda: account.write({"active": False})))
        self.assertTrue(self.clears(lambda: account.write({"active": True})))

    def test_keyword_cache_follows_the_keywords(self):
        keyword = self.env["messenger.consent.keyword"].create({"keyword": "CACHEOUT", "action": "opt_out"})
        self.assertEqual(keyword._match("cacheout"), "opt_out")
        self.assertFalse(self.clears(lambda: keyword.write({"lang": "en"})))
        self.assertTrue(self.clears(lambda: keyword.write({"action": "opt_in"})))
        self.assertEqual(keyword._match("cacheout"), "opt_in")
