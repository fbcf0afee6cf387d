"""Before the platforms' own files and the Discuss inbox: the addon's view extensions name fields and groups that
moved (WhatsApp fields now come from the WhatsApp view file, loaded later) or went (the conversation's reply box).
Their old archs would fail the update of the views they extend, so each is emptied here and written again from
its file as the update loads it."""


def migrate(cr, version):
    if not version:
        return
    cr.execute("""
        UPDATE ir_ui_view v
           SET arch_db = jsonb_build_object('en_US', '<data/>')
          FROM ir_model_data d
         WHERE d.module = 'messenger_connector' AND d.model = 'ir.ui.view' AND d.res_id = v.id
           AND v.inherit_id IS NOT NULL
    """)
