import logging

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, RequestEntityTooLarge

from odoo import http
from odoo.http import request

from ..providers import WebhookError

_logger = logging.getLogger(__name__)


class MessengerWebhook(http.Controller):
    """One URL per account: ``/messenger/webhook/<webhook_key>`` (shared/CONTRACT.md).

    The request only authenticates and stores the raw delivery, then answers; processing (partner matching,
    media downloads, chatter) happens in the processing cron so that the platform gets its answer fast.
    """

    def _account(self, webhook_key):
        # sudo: the platform calls as the public user, who can read no account. The search is the narrowest
        # possible (an exact, unguessable key, active accounts only) and the record is used only to
        # authenticate the request and to store its raw body; nothing is returned to the caller.
        account = request.env["messenger.account"].sudo().search(
            [("webhook_key", "=", webhook_key)], limit=1) if webhook_key else None
        if not account:
            raise NotFound()
        return account

    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="public", methods=["GET"],
                csrf=False, save_session=False)
    def webhook_handshake(self, webhook_key, **params):
        provider = self._account(webhook_key)._get_provider()
        try:
            answer = provider.handshake(request.httprequest.args)
        except WebhookError as error:
            _logger.info("Messenger webhook handshake refused: %s", error)
            raise Forbidden() from None
        return request.make_response(answer, headers=[("Content-Type", "text/plain")])

    @http.route("/messenger/webhook/<string:webhook_key>", type="http", auth="public", methods=["POST"],
                csrf=False, save_session=False)
    def webhook_receive(self, webhook_key, **params):
        account = self._account(webhook_key)
        provider = account._get_provider()
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > provider.max_body_size:
            raise RequestEntityTooLarge()
        body = httprequest.get_data(cache=False)  # bounded by the declared length checked above
        if len(body) > provider.max_body_size:
            raise RequestEntityTooLarge()
        try:
            provider.authenticate(httprequest.headers, body, httprequest.args)
            provider.parse(body)  # refuse a malformed body now: nothing is stored for a non-200 answer
            key = provider.delivery_key(body)
            text = body.decode()
        except WebhookError as error:
            _logger.info("Messenger webhook refused (%s) for account %s: %s", error.http_status, account.id, error)
            raise {403: Forbidden, 400: BadRequest}.get(error.http_status, BadRequest)() from None
        except UnicodeDecodeError:
            raise BadRequest() from None
        # sudo: the public user cannot create events; the row holds only the authenticated raw body.
        if request.env["messenger.event"].sudo()._store(account, key, text):
            request.env["messenger.event"].sudo()._trigger_processing()
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])
