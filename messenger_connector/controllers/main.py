import logging
import re

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, RequestEntityTooLarge, ServiceUnavailable

from odoo import http
from odoo.http import request

from ..providers import Provider, WebhookError

_logger = logging.getLogger(__name__)

#: webhook keys are ``secrets.token_urlsafe(32)``: anything else is not a key of ours (and a NUL byte or a
#: kilobyte-long "key" must never reach a query)
WEBHOOK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: refused before Odoo parses anything (a form body is parsed before the route is called)
MAX_BODY_SIZE = Provider.max_body_size
#: what a provider's parser may raise on a hostile body besides WebhookError: a 400, never a 500
PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, OverflowError)


class MessengerWebhook(http.Controller):
    """One URL per account: ``/messenger/webhook/<webhook_key>`` (shared/CONTRACT.md).

    The request only authenticates and stores the raw delivery, then answers; processing (partner matching,
    media downloads, chatter) happens in the processing cron so that the platform gets its answer fast.
    """

    def _account(self, webhook_key):
        if not request.db:
            # auth="none" routes are also served when Odoo lost its database (it then falls back to serving
            # without one): the platform must hear "try again later", not 404/403 which an "auth=public" route
            # answered then (measured by bench/faults.py dblost).
            raise ServiceUnavailable()
        # sudo: the platform calls as the public user, who can read no account. The search is the narrowest
        # possible (an exact, unguessable key, active accounts only) and the record is used only to
        # authenticate the request and to store its raw body; nothing is returned to the caller.
        valid = isinstance(webhook_key, str) and WEBHOOK_KEY_RE.fullmatch(webhook_key)
        account = request.env["messenger.account"].sudo().search(
            [("webhook_key", "=", webhook_key)], limit=1) if valid else None
        if not account:
            raise NotFound()
        return account

    # auth="none": the platform is nobody; no session, no public user to load (and see _account).
    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="none", methods=["GET"],
                csrf=False, save_session=False)
    def webhook_handshake(self, webhook_key, **params):
        provider = self._account(webhook_key)._get_provider()
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
        account = self._account(webhook_key)
        provider = account._get_provider()
        body = self._read_body(provider.max_body_size)
        try:
            provider.authenticate(request.httprequest.headers, body, request.httprequest.args)
            provider.parse(body)  # refuse a malformed body now: nothing is stored for a non-200 answer
            key = provider.delivery_key(body)
            text = body.decode()
        except WebhookError as error:
            _logger.info("Messenger webhook refused (%s) for account %s: %s", error.http_status, account.id, error)
            raise {403: Forbidden, 400: BadRequest}.get(error.http_status, BadRequest)() from None
        except UnicodeDecodeError:
            raise BadRequest() from None
        except PARSE_ERRORS as error:
            # A parser bug on a hostile body is still the body's fault: refuse it, keep the trace for us.
            _logger.warning("Messenger webhook body not understood for account %s: %r", account.id, error,
                            exc_info=True)
            raise BadRequest() from None
        # sudo: the public user cannot create events; the row holds only the authenticated raw body.
        if request.env["messenger.event"].sudo()._store(account, key, text):
            request.env["messenger.event"].sudo()._trigger_processing()
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])

    @staticmethod
    def _read_body(limit):
        """The raw body, never reading more than ``limit`` + 1 bytes whatever the headers claim.

        The declared length is checked first; a chunked body (no declared length) is read up to the limit
        only. The bytes are kept on the request: if Odoo retries the request after a serialization failure,
        the stream is already consumed.
        """
        cached = getattr(request, "_messenger_body", None)
        if cached is not None:
            return cached
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > limit:
            raise RequestEntityTooLarge()
        # Odoo's HTTPRequest does not expose the input stream and get_data() reads a chunked body (no declared
        # length) to its end, however long: read the wrapped werkzeug request's stream, bounded.
        wrapped = getattr(httprequest, "_HTTPRequest__wrapped", None)
        stream = getattr(wrapped, "stream", None)
        body = stream.read(limit + 1) if stream is not None else httprequest.get_data(cache=False)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        request._messenger_body = body
        return body
