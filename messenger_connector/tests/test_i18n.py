import polib

from odoo.exceptions import UserError
from odoo.tests import common, tagged
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestGerman(MessengerCase):
    """The addon speaks German once the language is installed: screens, menus and error messages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("de_DE")
        cls.env.ref("base.module_messenger_connector")._update_translations(["de_DE"], overwrite=True)
        cls.env_de = cls.env(context=dict(cls.env.context, lang="de_DE"))

    def test_labels_selection_values_and_menus(self):
        fields = self.env_de["messenger.conversation"].fields_get(["state", "last_message_preview"])
        self.assertEqual(fields["last_message_preview"]["string"], "Text der letzten Nachricht")
        states = dict(fields["state"]["selection"])
        self.assertEqual(states["answered"], "Beantwortet")
        self.assertEqual(states["closed"], "Geschlossen")
        self.assertEqual(self.env_de["messenger.message"].fields_get(["state"])["state"]["string"], "Status")
        self.assertEqual(dict(self.env_de["messenger.message"].fields_get(["state"])["state"]["selection"])["queued"],
                         "In Warteschlange")
        self.assertEqual(self.env_de.ref("messenger_connector.menu_messenger_conversation").name, "Unterhaltungen")
        self.assertEqual(self.env_de["ir.model"]._get("messenger.account").name, "Messenger-Konto")
        # English stays English for a user who did not choose German.
        self.assertEqual(self.env.ref("messenger_connector.menu_messenger_conversation").name, "Conversations")

    def test_error_message_in_german(self):
        conversation = self.env_de["messenger.conversation"].create({
            "account_id": self.wa_account.id, "external_user_id": "4917012345678"})
        with self.assertRaisesRegex(UserError, "^Schreiben Sie zuerst eine Nachricht\\.$"):
            conversation.action_send_text("  ")
        with self.assertRaisesRegex(UserError, "^Write a message first\\.$"):
            conversation.with_context(lang="en_US").action_send_text("")


@tagged("post_install", "-at_install")
class TestGermanComplete(common.TransactionCase):
    """Every text of the addon (labels, help, menus, views, messages of the code) has its German translation."""

    def test_every_term_has_a_german_translation(self):
        reader = TranslationModuleReader(self.env.cr, modules=["messenger_connector"])
        terms = {src for module, _type, _name, _res_id, src, _value, _comments in reader
                 if module == "messenger_connector" and src}
        self.assertGreater(len(terms), 100)
        german = polib.pofile(file_path("messenger_connector/i18n/de.po"))
        translated = {entry.msgid for entry in german.translated_entries()}
        missing = sorted(terms - translated)
        self.assertFalse(missing, "not translated in i18n/de.po (run tools/i18n_update.sh, then translate "
                                  "the new entries):\n" + "\n".join(missing))
