"""Webhook deliveries served in front of Odoo's request dispatch.

A platform waits for the answer to each delivery, and Meta or WeChat send many at once: the answer must stay
fast under concurrent deliveries (bench/inbound.py: p99 under 100 ms with 32 concurrent senders). Odoo's
dispatch of a request (session, database selection, ir.http routing, the ORM environment of the request)
costs several times the work of the delivery itself (bench/profile_webhook.py). Here a POST to
``/messenger/webhook/<key>`` is answered before that dispatch, by the same code as the route
(``receive_delivery`` in controllers/main.py) on a cursor of the database's registry; everything else,
and every POST this cannot serve (no single database for the host, registry not loaded yet, addon not
installed in that database), goes to Odoo as usual, where the route answers it.

Installed by the addon's ``post_load`` hook, i.e. in every Odoo process that loads the addon (server-wide
with ``--load``, or with the first registry that has it installed).
"""
import atexit
import contextlib
import logging
import os
import threading
import time

import psycopg2
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.wrappers import Request, Response

import odoo
from odoo import api, sql_db
from odoo.modules.registry import Registry

from .main import WEBHOOK_KEY_RE, read_bounded, receive_delivery

_logger = logging.getLogger(__name__)

PREFIX = "/messenger/webhook/"
#: the databases a host may use (Odoo's dbfilter), remembered this long: asking costs a query per request
DB_LIST_SECONDS = 2.0
DB_LIST_HOSTS = 64
_DB_LISTS = {}
#: per thread: {database: cursor} kept between deliveries (see _transaction); all of them, closed at exit
_LOCAL = threading.local()
_KEPT = set()


def _database(environ):
    """The one database Odoo would serve this cookie-less request with, or None."""
    host = environ.get("HTTP_HOST", "")
    now = time.monotonic()
    cached = _DB_LISTS.get(host)
    if cached is None or cached[0] < now:
        if len(_DB_LISTS) >= DB_LIST_HOSTS:  # the Host header is the caller's: never let it grow the cache
            _DB_LISTS.clear()
        cached = _DB_LISTS[host] = (now + DB_LIST_SECONDS, odoo.http.db_list(force=True, host=host))
    dbs = cached[1]
    return dbs[0] if len(dbs) == 1 else None


@contextlib.contextmanager
def _transaction(registry):
    """A cursor on the registry's database, committed at the end of the block, rolled back on an error.

    Each thread keeps one between deliveries: a cursor borrowed from Odoo's pool resets its connection (a
    round trip and a session reset on the server) every time, a large part of a delivery's cost
    (py-spy of a worker under bench/inbound.py). A connection that broke is dropped and opened again by the
    next delivery. Tests use the registry's test cursor.
    """
    if registry.in_test_mode():
        with registry.cursor() as cr:
            yield cr
        return
    if getattr(_LOCAL, "pid", None) != os.getpid():  # cursors inherited through fork() are the parent's
        _LOCAL.pid, _LOCAL.cursors = os.getpid(), {}
    cr = _LOCAL.cursors.get(registry.db_name)
    if cr is None or cr.closed:
        cr = _LOCAL.cursors[registry.db_name] = sql_db.db_connect(registry.db_name).cursor()
        _KEPT.add(cr)
    try:
        yield cr
        cr.commit()
    except BaseException:
        try:
            cr.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone: forget it
            _LOCAL.cursors.pop(registry.db_name, None)
            _close_quietly(cr)
        raise


def _close_quietly(cr):
    _KEPT.discard(cr)
    try:
        cr.close()
    except Exception:  # noqa: BLE001 - closing a broken or closed cursor
        pass


@atexit.register
def _close_kept():
    for cr in list(_KEPT):
        _close_quietly(cr)


def serve(environ):
    """The answer to a webhook delivery (a werkzeug Response), or None to leave the request to Odoo."""
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX) \
            or not WEBHOOK_KEY_RE.fullmatch(path[len(PREFIX):]):
        return None
    db = _database(environ)
    registry = Registry.registries.get(db) if db else None
    if registry is None or not registry.ready or "messenger.account" not in registry:
        return None
    # what Odoo's Application.__call__ sets for its request log line
    thread = threading.current_thread()
    thread.query_count, thread.query_time, thread.perf_t0 = 0, 0, time.time()
    thread.dbname, thread.url = db, path
    httprequest = Request(environ)
    try:
        with _transaction(registry) as cr:
            registry.check_signaling(cr)
            receive_delivery(api.Environment(cr, None, {}), path[len(PREFIX):], httprequest.headers,
                             httprequest.args, lambda limit: read_bounded(httprequest, httprequest.stream, limit))
        # the cursor committed when the block ended (then the processing was woken): the delivery is stored
        return Response("OK", content_type="text/plain")
    except HTTPException as error:
        return error.get_response(environ)
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
        # the database is unreachable: nothing was stored, the platform retries later
        _logger.warning("Messenger webhook: database %s unavailable (%s)", db, error)
        return ServiceUnavailable().get_response(environ)
    except Exception:
        _logger.exception("Messenger webhook failed")
        return InternalServerError().get_response(environ)


def install():
    """Put ``serve`` in front of Odoo's WSGI application, once per process."""
    application = odoo.http.Application
    if getattr(application.__call__, "messenger_fast_path", False):
        return
    dispatch = application.__call__

    def __call__(self, environ, start_response):
        response = serve(environ)
        if response is None:
            return dispatch(self, environ, start_response)
        return response(environ, start_response)

    __call__.messenger_fast_path = True
    application.__call__ = __call__
