"""``odoo-bin`` as the benches and the tests against a running server start it: the same server, minus the
websocket (gevent) process of prefork mode when gevent cannot start on this machine.

    ODOO_HOME=/path/to/odoo python3 tools/odoo_launcher.py <odoo-bin options>

In prefork mode the master spawns ``odoo-bin gevent`` for the bus websocket and respawns it whenever it
exits. Where gevent cannot patch (here: the ``zope.interface`` distribution its plugins require is missing)
that child dies at once and is respawned several times a second, each time importing Odoo: a core is lost
to it and every figure is wrong. Webhooks and crons never use the websocket, so they run without it then.
"""
import os
import subprocess
import sys

ODOO_HOME = os.environ.get("ODOO_HOME") or os.environ["BENCH_ODOO_HOME"]
sys.path.insert(0, ODOO_HOME)
sys.argv[0] = os.path.join(ODOO_HOME, "odoo-bin")

import odoo  # noqa: E402
from odoo.service import server  # noqa: E402

GEVENT_CHECK = "import gevent.monkey; gevent.monkey.patch_all()"
if subprocess.run([sys.executable, "-c", GEVENT_CHECK], capture_output=True).returncode != 0:
    server.PreforkServer.long_polling_spawn = lambda self: None

odoo.cli.main()
