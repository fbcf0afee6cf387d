{
    "name": "Messenger Connector",
    "summary": "WhatsApp, Telegram, Messenger, Instagram, X and WeChat chats in CRM and Recruitment: one "
               "history per person, "
               "delivery states, reply windows, routing and access that follows the record",
    "version": "18.0.1.1.0",
    "category": "Marketing/Messenger",
    "author": "messenger_connector developers",
    "license": "LGPL-3",
    "depends": ["mail", "phone_validation", "sms", "crm", "hr_recruitment"],
    "external_dependencies": {"python": ["requests", "phonenumbers", "chatxdk"]},
    "data": [
        "security/messenger_security.xml",
        "security/ir.model.access.csv",
        "security/messenger_discuss_security.xml",
        "data/ir_cron_data.xml",
        "data/utm_data.xml",
        "data/messenger_consent_data.xml",
        "data/messenger_team_data.xml",
        "wizard/messenger_template_send_views.xml",
        "wizard/messenger_contact_change_views.xml",
        "views/messenger_account_views.xml",
        "views/messenger_message_views.xml",
        "views/messenger_conversation_views.xml",
        "views/messenger_event_views.xml",
        "views/res_partner_views.xml",
        "views/crm_hr_views.xml",
        "views/messenger_privacy_views.xml",
        "views/messenger_template_views.xml",
        "views/res_config_settings_views.xml",
        "views/messenger_menus.xml",
        "views/messenger_discuss_views.xml",
        "views/messenger_team_views.xml",
        # platforms: each one's part of the account form
        "views/messenger_account_whatsapp_views.xml",
        "views/messenger_account_telegram_views.xml",
        "views/messenger_account_x_views.xml",
        "views/messenger_account_meta_views.xml",
        "views/messenger_account_wechat_views.xml",
        "security/messenger_wechat_security.xml",
    ],
    "demo": [
        "demo/messenger_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "messenger_connector/static/src/discuss/**/*",
            "messenger_connector/static/src/inbox/**/*",
        ],
        "web.assets_unit_tests": [
            "messenger_connector/static/tests/discuss/**/*",
        ],
        "web.assets_tests": [
            "messenger_connector/static/tests/tours/**/*",
        ],
    },
    "application": True,
}
