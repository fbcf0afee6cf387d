{
    "name": "Messenger Connector: ack floor of an Odoo route (benchmark only)",
    "version": "18.0.1.0.0",
    "summary": "The least an Odoo route can do to store a webhook: loaded server-wide by bench/ack_floor.py --odoo",
    "license": "LGPL-3",
    "depends": ["base", "web"],
    "installable": True,
}
