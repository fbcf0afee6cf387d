import logging
import re

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, RequestEntityTooLarge, ServiceUnavailable

from odoo import http
from odoo.http import request

from ..providers import Provider, WebhookError, get_provider

_logger = logging.getLogger(__name__)

#: webhook keys are ``secrets.token_urlsafe(32)``: anything else is not a key of ours (and a NUL byte or a
#: kilobyte-long "key" must never reach a query)
WEBHOOK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: refused before Odoo parses anything (a form body is parsed before the route is called)
MAX_BODY_SIZE = Provider.max_body_size
#: what a provider's parser may raise on a hostile body besides WebhookError: a 400, never a 500
PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, OverflowError)


def webhook_route(env, webhook_key):
    """(account id, company id, provider client) of a webhook key; NotFound for an unknown key."""
    valid = isinstance(webhook_key, str) and WEBHOOK_KEY_RE.fullmatch(webhook_key)
    # the account's id, company and provider configuration, cached per process (see _webhook_route)
    route = env["messenger.account"]._webhook_route(webhook_key) if valid else None
    if not route:
        raise NotFound()
    account_id, company_id, provider, config = route
    return account_id, company_id, get_provider(provider, config)


def receive_delivery(env, webhook_key, headers, args, read_body):
    """Authenticate the raw bytes of a delivery, store them once and trigger their processing.

    The one implementation of the webhook POST, for the route below and for the server-wide fast path
    (controllers/fast_path.py). ``read_body(limit)`` returns the raw body or raises RequestEntityTooLarge.
    Raises NotFound (unknown key), RequestEntityTooLarge, Forbidden (bad signature) or BadRequest (malformed);
    nothing is stored then. The caller commits, then answers 200.
    """
    account_id, company_id, provider = webhook_route(env, webhook_key)
    body = read_body(provider.max_body_size)
    try:
        provider.authenticate(headers, body, args)
        provider.parse(body)  # refuse a malformed body now: nothing is stored for a non-200 answer
        key = provider.delivery_key(body)
        text = body.decode()
    except WebhookError as error:
        _logger.info("Messenger webhook refused (%s) for account %s: %s", error.http_status, account_id, error)
        raise {403: Forbidden, 400: BadRequest}.get(error.http_status, BadRequest)() from None
    except UnicodeDecodeError:
        raise BadRequest() from None
    except PARSE_ERRORS as error:
        # A parser bug on a hostile body is still the body's fault: refuse it, keep the trace for us.
        _logger.warning("Messenger webhook body not understood for account %s: %r", account_id, error,
                        exc_info=True)
        raise BadRequest() from None
    # sudo: nobody (auth="none") can create events; the row holds only the authenticated raw body.
    Event = env["messenger.event"].sudo()
    if Event._store(env["messenger.account"].browse(account_id), key, text, company_id=company_id):
        Event._trigger_processing()


def read_bounded(httprequest, stream, limit):
    """The raw body, never reading more than ``limit`` + 1 bytes whatever the headers claim.

    The declared length is checked first; a chunked body (no declared length) is read up to the limit only.
    """
    length = httprequest.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    body = stream.read(limit + 1) if stream is not None else httprequest.get_data(cache=False)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


class MessengerWebhook(http.Controller):
    """One URL per account: ``/messenger/webhook/<webhook_key>`` (shared/CONTRACT.md).

    The request only authenticates and stores the raw delivery, then answers; processing (partner matching,
    media downloads, chatter) happens in the processing cron so that the platform gets its answer fast.
    Where the addon is loaded server-wide, the POSTs are served before Odoo's request dispatch by the same
    code (controllers/fast_path.py); this route serves them otherwise.
    """

    @staticmethod
    def _check_db():
        if not request.db:
            # auth="none" routes are also served when Odoo lost its database (it then falls back to serving
            # without one): the platform must hear "try again later", not 404/403 which an "auth=public" route
            # answered then (measured by bench/faults.py dblost).
            raise ServiceUnavailable()

    # auth="none": the platform is nobody; no session, no public user to load (and see _check_db).
    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="none", methods=["GET"],
                csrf=False, save_session=False)
    def webhook_handshake(self, webhook_key, **params):
        self._check_db()
        _account_id, _company_id, provider = webhook_route(request.env, webhook_key)
        try:
            answer = provider.handshake(request.httprequest.args)
        except WebhookError as error:
            _logger.info("Messenger webhook handshake refused: %s", error)
            raise Forbidden() from None
        return request.make_response(answer, headers=[("Content-Type", "text/plain")])

    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="none", methods=["POST"],
                csrf=False, save_session=False, max_content_length=MAX_BODY_SIZE, readonly=False)
    def webhook_receive(self, webhook_key, **params):
        """Authenticate the raw bytes, store them once, commit, answer.

        Answers: 200 stored or duplicate; 403 bad signature; 400 malformed; 404 unknown key; 413 too large;
        a 5xx only when the database fails (then nothing was stored and the platform retries).
        """
        self._check_db()
        httprequest = request.httprequest
        receive_delivery(request.env, webhook_key, httprequest.headers, httprequest.args, self._read_body)
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])

    @staticmethod
    def _read_body(limit):
        """The raw body (see read_bounded), kept on the request: if Odoo retries the request after a
        serialization failure, the stream is already consumed."""
        cached = getattr(request, "_messenger_body", None)
        if cached is not None:
            return cached
        httprequest = request.httprequest
        # Odoo's HTTPRequest does not expose the input stream and get_data() reads a chunked body (no declared
        # length) to its end, however long: read the wrapped werkzeug request's stream, bounded.
        wrapped = getattr(httprequest, "_HTTPRequest__wrapped", None)
        request._messenger_body = read_bounded(httprequest, getattr(wrapped, "stream", None), limit)
        return request._messenger_body
