import hashlib
import hmac

from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request

#: the bench's app secret (bench/_common.py APP_SECRET)
SECRET = b"bench-app-secret"


class AckFloor(http.Controller):
    """What any Odoo webhook route must do, and nothing more: Odoo's dispatch, the HMAC check, one
    INSERT ... ON CONFLICT DO NOTHING and a commit. Served to every database when the module is loaded
    server-wide (``--load``); the table is created by bench/ack_floor.py."""

    @http.route("/messenger_bench/floor", type="http", auth="none", methods=["POST"], csrf=False,
                save_session=False, readonly=False)
    def floor(self, **_params):
        body = request.httprequest.get_data()
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.httprequest.headers.get("X-Hub-Signature-256") or ""):
            raise Forbidden()
        request.env.cr.execute("INSERT INTO floor_event (key, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               ["sha256:" + hashlib.sha256(body).hexdigest(), body.decode()])
        request.env.cr.commit()
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])
