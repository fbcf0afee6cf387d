"""``odoo-bin`` as the benches start it: the same server, minus the websocket (gevent) process of prefork
mode when gevent cannot start on this machine.

In prefork mode the master spawns ``odoo-bin gevent`` for the bus websocket and respawns it whenever it
exits. Where gevent cannot import (here: its ``zope.interface`` dependency is missing) that child dies at
once and is respawned several times a second, each time importing Odoo: a core is lost to it and every
figure is wrong. Webhooks and crons never use the websocket, so the benches run without it then.
"""
import importlib.util
import os
import sys

ODOO_HOME = os.environ["BENCH_ODOO_HOME"]
sys.path.insert(0, ODOO_HOME)
sys.argv[0] = os.path.join(ODOO_HOME, "odoo-bin")

import odoo  # noqa: E402
from odoo.service import server  # noqa: E402

if importlib.util.find_spec("zope.interface") is None:
    server.PreforkServer.long_polling_spawn = lambda self: None

odoo.cli.main()
