from odoo.tests import HttpCase, tagged

from odoo.addons.web.tests.test_js import unit_test_error_checker


@tagged("post_install", "-at_install")
class TestDiscussClient(HttpCase):
    """The web client patches of the Discuss chats (static/tests/discuss, Odoo's hoot test framework)."""

    def test_discuss_client_patches(self):
        self.browser_js(
            "/web/tests?headless&loglevel=2&preset=desktop&timeout=15000&filter=%40messenger_connector%2F", "", "",
            login="admin", timeout=900, success_signal="[HOOT] test suite succeeded",
            error_checker=unit_test_error_checker)
