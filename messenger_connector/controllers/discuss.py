from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

from odoo.addons.mail.controllers.discuss.public_page import PublicPageController


class MessengerChatPublicPage(PublicPageController):
    """A messenger chat has no invitation link: its members are the people who may read its conversation."""

    @http.route()
    def discuss_channel_invitation(self, channel_id, invitation_token):
        # sudo: only the channel's type is read, before Odoo compares the token; a chat answers as if it did
        # not exist (a former member knows its token)
        channel = request.env["discuss.channel"].sudo().browse(channel_id).exists()
        if channel.channel_type == "messenger":
            raise NotFound()
        return super().discuss_channel_invitation(channel_id, invitation_token)
