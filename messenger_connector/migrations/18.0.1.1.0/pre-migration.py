"""Before the platforms' own model and view files: the account form's templates extension named a WhatsApp
field that now comes from the WhatsApp view file, loaded after it. Its old arch would fail the update of the
account form, so it goes and is loaded again from the current file."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("""
        DELETE FROM ir_ui_view WHERE id IN (
            SELECT res_id FROM ir_model_data
             WHERE module = 'messenger_connector' AND model = 'ir.ui.view'
               AND name = 'view_messenger_account_form_templates')
    """)
    cr.execute("""
        DELETE FROM ir_model_data
         WHERE module = 'messenger_connector' AND model = 'ir.ui.view'
           AND name = 'view_messenger_account_form_templates'
    """)
