{
    "name": "Messenger Connector: a platform added from test code",
    "summary": "Shows that a platform is its provider module, one model file and one view file",
    "version": "18.0.1.0.0",
    "category": "Hidden/Tests",
    "author": "messenger_connector developers",
    "license": "LGPL-3",
    "depends": ["messenger_connector"],
    "data": ["views/messenger_account_views.xml"],
    "installable": True,
}
