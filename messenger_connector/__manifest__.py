{
    "name": "Messenger Connector",
    "summary": "WhatsApp Business and Telegram chats inside Odoo: one history per person, "
               "delivery states, reply windows and least privilege",
    "version": "18.0.1.0.0",
    "category": "Marketing/Messenger",
    "author": "messenger_connector developers",
    "license": "LGPL-3",
    "depends": ["mail", "phone_validation"],
    "external_dependencies": {"python": ["requests", "phonenumbers"]},
    "data": [
        "security/messenger_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "wizard/messenger_template_send_views.xml",
        "views/messenger_account_views.xml",
        "views/messenger_message_views.xml",
        "views/messenger_conversation_views.xml",
        "views/messenger_event_views.xml",
        "views/res_partner_views.xml",
        "views/messenger_menus.xml",
    ],
    "demo": [
        "demo/messenger_demo.xml",
    ],
    "application": True,
    "installable": True,
}
