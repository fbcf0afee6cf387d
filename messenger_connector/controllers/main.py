import logging
import re

import psycopg2
from werkzeug.exceptions import (
    BadRequest, Forbidden, HTTPException, LengthRequired, NotFound, RequestEntityTooLarge, ServiceUnavailable,
)

from odoo import http
from odoo.http import request
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

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
    # With the addon loaded server-wide (--load), Odoo routes this URL in every database, also in those
    # where the addon is not installed: there is no account to find there.
    if not valid or "messenger.account" not in env.registry:
        raise NotFound()
    # the account's id, company and provider configuration, cached per process (see _webhook_route)
    route = env["messenger.account"]._webhook_route(webhook_key)
    if not route:
        raise NotFound()
    account_id, company_id, provider, config = route
    return account_id, company_id, get_provider(provider, config)


def receive_delivery(env, webhook_key, headers, args, read_body, outcome=None):
    """Authenticate the raw bytes of a delivery, store them once and trigger their processing.

    ``read_body(limit)`` returns the raw body or raises RequestEntityTooLarge / LengthRequired.
    Raises NotFound (unknown key), RequestEntityTooLarge, Forbidden (bad signature) or BadRequest (malformed);
    nothing is stored then. The caller commits, then answers 200 with the provider's acknowledgement,
    which is returned. ``outcome`` (a dict) receives the account's id and whether the delivery was new.
    """
    account_id, company_id, provider = webhook_route(env, webhook_key)
    outcome = {} if outcome is None else outcome
    outcome["account_id"] = account_id
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
    nonce = provider.replay_nonce(body, args)
    # sudo: nobody (auth="none") can read the nonces seen; only this delivery's is recorded
    if nonce is not None and not env["messenger.webhook.nonce"].sudo()._claim(account_id, nonce, key):
        _logger.info("Messenger webhook refused (403) for account %s: a nonce seen before", account_id)
        raise Forbidden()
    # sudo: nobody (auth="none") can create events; the row holds only the authenticated raw body.
    Event = env["messenger.event"].sudo()
    outcome["stored"] = Event._store(env["messenger.account"].browse(account_id), key, text, company_id=company_id)
    if outcome["stored"]:
        Event._trigger_processing()
    return provider.acknowledgement


#: the reason a refusal is counted under (messenger.delivery.count), by its answer; any other 4xx: malformed
REFUSAL_REASONS = {NotFound: "unknown_account", Forbidden: "signature", RequestEntityTooLarge: "too_large"}


def count_delivery(env, outcome, refusal=None, reason=None):
    """Count a delivery's answer for its account's health, in a transaction of its own on the request's cursor
    (after the delivery's was committed or rolled back): numbers and the reason, nothing of the body. A key that
    is no account's is counted for the database."""
    if "messenger.delivery.count" not in env.registry:
        return
    reason = reason or refusal and REFUSAL_REASONS.get(type(refusal), "malformed")
    answer = "refused" if reason else "accepted" if outcome.get("stored") else "duplicate"
    env["messenger.delivery.count"]._count(outcome.get("account_id"), answer, reason)


def read_bounded(httprequest, limit):
    """The raw body, never more than ``limit`` bytes in memory whatever the headers claim.

    Odoo 18 offers no public way to read a request body in bounded pieces: ``get_data()`` reads a chunked
    body (no declared length) to its end, however long, and the input stream is private. So only a body with
    a declared length is read (then werkzeug stops at that length, checked against the limit first); a
    chunked one is refused with 411 Length Required. The platforms declare the length of their deliveries.
    """
    length = httprequest.content_length
    if length is None:
        if "chunked" in httprequest.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired()
        return b""
    if length > limit:
        raise RequestEntityTooLarge()
    return httprequest.get_data(cache=True)


class MessengerWebhook(http.Controller):
    """One URL per account: ``/messenger/webhook/<webhook_key>`` (shared/CONTRACT.md).

    The request only authenticates and stores the raw delivery, then answers; processing (partner matching,
    media downloads, chatter) happens in the processing cron so that the platform gets its answer fast.
    """

    @staticmethod
    def _check_db():
        if not request.db:
            # auth="none" routes are also served when Odoo lost its database (it then falls back to serving
            # without one): the platform must hear "try again later", not 404/403 which an "auth=public" route
            # answered then (measured by bench/faults.py dblost).
            raise ServiceUnavailable()

    # auth="none": the platform is nobody; no session, no public user to load (and see _check_db).
    # readonly=False: the account is looked up on the primary database (see _webhook_route_cached), never on a
    # replica that may lag behind a rotated secret.
    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="none", methods=["GET"],
                csrf=False, save_session=False, readonly=False)
    def webhook_handshake(self, webhook_key, **params):
        self._check_db()
        account_id, _company_id, provider = webhook_route(request.env, webhook_key)
        try:
            answer = provider.handshake(request.httprequest.args)
        except WebhookError as error:
            _logger.info("Messenger webhook handshake refused: %s", error)
            # the platform's console tells the administrator only "verification failed": the account says why
            count_delivery(request.env, {"account_id": account_id}, reason="handshake")
            raise Forbidden() from None
        return request.make_response(answer, headers=[("Content-Type", provider.handshake_content_type)])

    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="none", methods=["POST"],
                csrf=False, save_session=False, max_content_length=MAX_BODY_SIZE, readonly=False)
    def webhook_receive(self, webhook_key, **params):
        """Authenticate the raw bytes, store them once, commit, answer.

        Answers: 200 stored or duplicate; 403 bad signature; 400 malformed; 404 unknown key; 413 too large;
        411 chunked body (see read_bounded); 503 when the database fails (nothing was stored: the platform
        retries).
        """
        self._check_db()
        httprequest = request.httprequest
        outcome = {}
        try:
            acknowledgement = receive_delivery(request.env, webhook_key, httprequest.headers, httprequest.args,
                                               lambda limit: read_bounded(httprequest, limit), outcome)
            # committed here, where a lost connection can still be answered 503 (after the route, Odoo answers 500)
            request.env.cr.commit()
        except HTTPException as refusal:
            request.env.cr.rollback()  # nothing of a refused delivery is kept: only its count
            count_delivery(request.env, outcome, refusal)
            raise
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            if isinstance(error, PG_CONCURRENCY_EXCEPTIONS_TO_RETRY):
                raise  # Odoo retries the request
            # the database went away: nothing was stored, the platform must retry later
            _logger.warning("Messenger webhook: database %s unavailable (%s)", request.db, error)
            raise ServiceUnavailable() from None
        count_delivery(request.env, outcome)
        return request.make_response(acknowledgement, headers=[("Content-Type", "text/plain")])


class MessengerMonitoring(http.Controller):
    """``/messenger/health/<monitoring key>``: each account's health as JSON for monitoring tools (Prometheus,
    Uptime Kuma). The key is the database's (on an account's Health tab, for administrators); the answer holds no
    credential and nothing of a person."""

    @http.route("/messenger/health/<string:key>", type="http", auth="none", methods=["GET"], csrf=False,
                save_session=False)
    def monitoring_state(self, key, **params):
        MessengerWebhook._check_db()
        env = request.env
        if "messenger.account" not in env.registry or not WEBHOOK_KEY_RE.fullmatch(key or ""):
            raise NotFound()
        # sudo: nobody calls; the key proves the monitoring tool, and the answer is facts without secrets
        Account = env["messenger.account"].sudo()
        if not Account._monitoring_key_matches(key):
            raise NotFound()
        return request.make_json_response(Account._monitoring_state(), headers=[("Cache-Control", "no-store")])
