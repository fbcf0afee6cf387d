"""Local fake X API (v2 DM sends, user lookups, DM media) and Account Activity webhook payload builders.

Follows shared/PROVIDERS.md section 5: ``POST /2/dm_conversations/with/<participant_id>/messages`` with a
user-context bearer token, body ``{"text"}`` -> 201 ``{"data": {"dm_conversation_id", "dm_event_id"}}``;
429 with ``x-rate-limit-reset`` (epoch seconds) over the quota; 403 to a person who does not accept DMs from
us; 401 for a bad token. Errors are v2 problem objects (``title``, ``detail``, ``type``, ``status``).

Scripts beyond the common ones (also as ``POST /_fake/<action>``): ``refuse_dms {"user_id"}`` /
``accept_dms {"user_id"}``, ``rate_limit {"n", "reset_in"}`` (the next ``n`` sends answer 429 with the
reset ``reset_in`` seconds ahead), ``set_quota {"limit", "window"}`` (sends per window, as X counts them per
15 minutes), ``add_user {"user_id", "name", "username"}``, ``add_media {"media_id", "content_base64",
"mime_type"}`` (served at ``media_url(media_id)`` to the token only, as ton.twitter.com does).

``echoes``: for every accepted send, the Account Activity delivery X would post for it (our own DM coming
back), for a test to post to the webhook.
"""
import base64
import hashlib
import hmac
import itertools
import re
import time
import urllib.parse

from . import FakeServer, _reply, body_bytes

DEMO_X_USER_ID = "1500000000000000001"
DEMO_X_USERNAME = "demo_business"
DEMO_X_NAME = "Demo Business"
DEMO_X_TOKEN = "demo-x-user-token"
DEMO_X_CONSUMER_SECRET = "demo-x-consumer-secret"
DEMO_X_PERSON_ID = "1500000000000000099"
#: the app id X names in ``source_app_id`` of DMs our app sent, and the one of X's own web app
DEMO_X_APP_ID = "27000001"
X_WEB_APP_ID = "3033300"

MAX_TEXT = 10000
#: DM event ids (snowflakes): the fake's sends and the builders' deliveries never share one, nor with the small
#: ids (1800000000000000001...) tests give their own deliveries
_SENT_BASE = 1860000000000000000
_BUILT_BASE = 1850000000000000000


def _problem(status, title, detail, problem_type="about:blank", headers=None):
    return _reply(status, {"title": title, "detail": detail, "type": problem_type, "status": status},
                  headers=headers)


class FakeX(FakeServer):
    """Fake X API v2 of one account (the user the token belongs to)."""

    admin_actions = FakeServer.admin_actions + (
        "refuse_dms", "accept_dms", "rate_limit", "set_quota", "add_user", "add_media")

    def __init__(self, user_id=DEMO_X_USER_ID, access_token=DEMO_X_TOKEN, username=DEMO_X_USERNAME,
                 name=DEMO_X_NAME, app_id=DEMO_X_APP_ID, port=0, host="127.0.0.1"):
        self.user_id = user_id
        self.access_token = access_token
        self.username = username
        self.name = name
        self.app_id = app_id
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.refused = set()
        self.users = {self.user_id: {"id": self.user_id, "name": self.name, "username": self.username,
                                     "profile_image_url": "https://pbs.twimg.com/profile_images/1/demo_normal.jpg"}}
        self.media = {}
        self.echoes = []
        self.quota = None          # (limit, window seconds)
        self._window = (0, 0)      # (window end, sends counted in it)

    # --- scripts ------------------------------------------------------------------------------------

    def refuse_dms(self, user_id):
        """Sends to ``user_id`` answer 403: they do not accept DMs from us (or blocked us)."""
        with self._lock:
            self.refused.add(str(user_id))

    def accept_dms(self, user_id):
        with self._lock:
            self.refused.discard(str(user_id))

    def rate_limit(self, n=1, reset_in=60):
        """The next ``n`` sends answer 429 with ``x-rate-limit-reset`` ``reset_in`` seconds from now."""
        reset = int(time.time()) + int(reset_in)
        self.fail_next(n, 429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                                "status": 429},
                       headers={"x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
                                "x-rate-limit-reset": str(reset)})

    def set_quota(self, limit, window=900):
        """At most ``limit`` sends per ``window`` seconds (X counts per 15 minutes), then 429 until its end."""
        with self._lock:
            self.quota = (int(limit), int(window)) if limit else None
            self._window = (0, 0)

    def add_user(self, user_id, name="Demo Person", username=None, profile_image_url=None):
        user = {"id": str(user_id), "name": name, "username": username or f"person{user_id}"[-15:]}
        if profile_image_url:
            user["profile_image_url"] = profile_image_url
        with self._lock:
            self.users[str(user_id)] = user
        return user

    def add_media(self, media_id, content=None, mime_type="image/jpeg", content_base64=None):
        if content_base64 is not None:
            content = base64.b64decode(content_base64)
        content = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            self.media[str(media_id)] = {"content": content, "mime_type": mime_type}

    def media_url(self, media_id):
        """Where a DM's media is served (ton.twitter.com's form: only with the account's token)."""
        return f"{self.url}/1.1/ton/data/dm/{media_id}"

    # --- routes -------------------------------------------------------------------------------------

    def route(self, request):
        path = urllib.parse.unquote(request.path)
        if not self._authorized(request):
            return _problem(401, "Unauthorized", "Unauthorized")
        match = re.fullmatch(r"/2/dm_conversations/with/([^/]+)/messages", path)
        if request.method == "POST" and match:
            return self._send(match.group(1), request)
        if request.method == "GET" and path == "/2/users/me":
            return self._user(self.user_id, request)
        match = re.fullmatch(r"/2/users/([^/]+)", path)
        if request.method == "GET" and match:
            return self._user(match.group(1), request)
        match = re.fullmatch(r"/1\.1/ton/data/dm/([^/]+)", path)
        if request.method == "GET" and match and match.group(1) in self.media:
            media = self.media[match.group(1)]
            return _reply(200, media["content"], content_type=media["mime_type"])
        return _problem(404, "Not Found Error", f"Could not find {request.method} {path}",
                        "https://api.twitter.com/2/problems/resource-not-found")

    def _authorized(self, request):
        given = request.headers.get("authorization") or ""
        token = given.removeprefix("Bearer ") if given.startswith("Bearer ") else ""
        return bool(token) and hmac.compare_digest(token.encode(), self.access_token.encode())

    def _send(self, participant_id, request):
        failure = self._scripted_failure()
        if failure:
            return failure
        payload = request.json
        text = payload.get("text") if isinstance(payload, dict) else None
        if not re.fullmatch(r"[0-9]{1,19}", participant_id):
            return _problem(400, "Invalid Request", "The `participant_id` query parameter value is not valid.",
                            "https://api.twitter.com/2/problems/invalid-request")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return _problem(400, "Invalid Request", "One or more parameters to your request was invalid: text.",
                            "https://api.twitter.com/2/problems/invalid-request")
        with self._lock:
            if participant_id in self.refused:
                return _problem(403, "Forbidden", "You are not permitted to send Direct Messages to this user.")
            over = self._over_quota()
            if over:
                return over
            event_id = str(_SENT_BASE + self._next_id())
            self._accept(event_id, participant_id, "text", text, payload)
            self.echoes.append(x_echo_payload(participant_id, text, event_id, for_user_id=self.user_id,
                                              source_app_id=self.app_id, users=self._users_of(participant_id)))
        low, high = sorted((int(self.user_id), int(participant_id)))
        return _reply(201, {"data": {"dm_conversation_id": f"{low}-{high}", "dm_event_id": event_id}})

    def _over_quota(self):
        """Count one send against the quota; the 429 answer when over it. Called under the lock."""
        if not self.quota:
            return None
        limit, window = self.quota
        now = time.time()
        end, count = self._window
        if now >= end:
            end, count = int(now) + window, 0
        if count >= limit:
            return _problem(429, "Too Many Requests", "Too Many Requests", headers={
                "x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(end)})
        self._window = (end, count + 1)
        return None

    def _users_of(self, *user_ids):
        return {uid: _v11_user(self.users[uid]) for uid in (self.user_id, *user_ids) if uid in self.users}

    def _user(self, user_id, request):
        user = self.users.get(user_id)
        if user is None:
            # X answers a lookup of an unknown user 200 with only ``errors``
            return _reply(200, {"errors": [{
                "value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                "title": "Not Found Error", "resource_type": "user", "parameter": "id", "resource_id": user_id,
                "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
        fields = {f for f in request.query.get("user.fields", "").split(",") if f}
        return _reply(200, {"data": {key: value for key, value in user.items()
                                     if key in ("id", "name", "username") or key in fields}})


def _v11_user(user):
    """A user as Account Activity deliveries hydrate it (v1.1 field names)."""
    hydrated = {"id": user["id"], "created_timestamp": "1422556069340", "name": user["name"],
                "screen_name": user["username"], "protected": False, "verified": False}
    if user.get("profile_image_url"):
        hydrated["profile_image_url_https"] = user["profile_image_url"]
    return hydrated


# --- signatures -------------------------------------------------------------------------------------


def _hmac_base64(secret, message):
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def x_signature(body, consumer_secret=DEMO_X_CONSUMER_SECRET):
    """The ``x-twitter-webhooks-signature`` value of ``body`` (bytes, or a payload dict)."""
    if not isinstance(body, (bytes, bytearray)):
        body = body_bytes(body)
    return "sha256=" + _hmac_base64(consumer_secret, bytes(body))


def x_headers(body, consumer_secret=DEMO_X_CONSUMER_SECRET):
    """Headers of a delivery as X posts it."""
    return {"Content-Type": "application/json", "x-twitter-webhooks-signature": x_signature(body, consumer_secret)}


def x_crc_response(crc_token, consumer_secret=DEMO_X_CONSUMER_SECRET):
    """The JSON object X expects in answer to ``GET ?crc_token=...``."""
    return {"response_token": "sha256=" + _hmac_base64(consumer_secret, crc_token.encode())}


# --- webhook payload builders -----------------------------------------------------------------------

_counter = itertools.count(1)


def _event_id():
    return str(_BUILT_BASE + next(_counter))


def _ms(timestamp):
    return str(int((time.time() if timestamp is None else timestamp) * 1000))


def x_user(user_id, name="Demo Person", screen_name=None):
    """A hydrated user of a delivery's ``users``."""
    return _v11_user({"id": str(user_id), "name": name, "username": screen_name or f"person{user_id}"[-15:]})


URL_RE = re.compile(r"https?://\S+")


def x_short_links(text):
    """``(text, url entities)`` as X delivers a DM: every URL replaced by a t.co link, the URL in ``entities``."""
    entities = []

    def shorten(match):
        short = "https://t.co/" + hashlib.sha256(match.group(0).encode()).hexdigest()[:10]
        start = match.start() + sum(len(e["url"]) - len(e["expanded_url"]) for e in entities)
        entities.append({"url": short, "expanded_url": match.group(0), "display_url": match.group(0).split("://")[1][:26],
                         "indices": [start, start + len(short)]})
        return short

    return URL_RE.sub(shorten, text), entities


def x_dm_event(sender_id, recipient_id, text="hello", event_id=None, timestamp=None, source_app_id=None,
               media=None, quick_reply_metadata=None):
    """One ``direct_message_events[]`` item (``message_create``); ``media``: a media entity to attach. URLs in
    ``text`` come as t.co links with their ``entities``, as X sends them."""
    text, urls = x_short_links(text) if isinstance(text, str) else (text, [])
    data = {"text": text, "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": urls}}
    if media is not None:
        data["attachment"] = {"type": "media", "media": media}
    if quick_reply_metadata is not None:
        data["quick_reply_response"] = {"type": "options", "metadata": quick_reply_metadata}
    create = {"target": {"recipient_id": str(recipient_id)}, "sender_id": str(sender_id), "message_data": data}
    if source_app_id:
        create["source_app_id"] = source_app_id
    return {"type": "message_create", "id": event_id or _event_id(), "created_timestamp": _ms(timestamp),
            "message_create": create}


def x_photo(media_id, url):
    """A photo media entity, as a DM attachment carries it."""
    return {"id": int(media_id), "id_str": str(media_id), "media_url": url.replace("https://", "http://"),
            "media_url_https": url, "url": "https://t.co/demo", "display_url": "pic.x.com/demo",
            "expanded_url": url, "type": "photo", "sizes": {}}


def x_delivery(events, for_user_id=DEMO_X_USER_ID, users=None, key="direct_message_events", apps=None):
    """An Account Activity delivery of ``events`` under ``key``."""
    delivery = {"for_user_id": for_user_id, key: list(events)}
    if apps:
        delivery["apps"] = apps
    delivery["users"] = users or {}
    return delivery


def x_message_payload(sender_id, text, for_user_id=DEMO_X_USER_ID, name="Demo Person", screen_name=None,
                      event_id=None, timestamp=None, **event_fields):
    """The delivery of one DM a person sent to our account."""
    event = x_dm_event(sender_id, for_user_id, text, event_id=event_id, timestamp=timestamp, **event_fields)
    return x_delivery([event], for_user_id=for_user_id, users={
        str(sender_id): x_user(sender_id, name, screen_name), for_user_id: x_user(for_user_id, DEMO_X_NAME,
                                                                                  DEMO_X_USERNAME)})


def x_echo_payload(recipient_id, text, event_id, for_user_id=DEMO_X_USER_ID, source_app_id=DEMO_X_APP_ID,
                   users=None, timestamp=None):
    """The delivery of a DM our account sent (X posts our own DMs back): through our app when
    ``source_app_id`` is ours, typed in X's own app by a colleague with ``X_WEB_APP_ID``."""
    event = x_dm_event(for_user_id, recipient_id, text, event_id=event_id, timestamp=timestamp,
                       source_app_id=source_app_id)
    apps = {source_app_id: {"id": source_app_id, "name": "Demo App" if source_app_id != X_WEB_APP_ID
                            else "X Web App", "url": "https://x.com"}}
    return x_delivery([event], for_user_id=for_user_id, apps=apps, users=users or {
        str(recipient_id): x_user(recipient_id), for_user_id: x_user(for_user_id, DEMO_X_NAME, DEMO_X_USERNAME)})


def x_colleague_payload(recipient_id, text, for_user_id=DEMO_X_USER_ID, event_id=None, timestamp=None):
    """A DM a colleague typed in X's own app to ``recipient_id``: it comes back like an echo, unknown to us."""
    return x_echo_payload(recipient_id, text, event_id or _event_id(), for_user_id=for_user_id,
                          source_app_id=X_WEB_APP_ID, timestamp=timestamp)


def x_read_payload(reader_id, last_read_event_id, for_user_id=DEMO_X_USER_ID, timestamp=None):
    """``direct_message_mark_read_events``: ``reader_id`` read the conversation up to ``last_read_event_id``."""
    event = {"created_timestamp": _ms(timestamp), "sender_id": str(reader_id),
             "target": {"recipient_id": for_user_id}, "last_read_event_id": str(last_read_event_id)}
    return x_delivery([event], for_user_id=for_user_id, key="direct_message_mark_read_events",
                      users={str(reader_id): x_user(reader_id)})


def x_typing_payload(sender_id, for_user_id=DEMO_X_USER_ID, timestamp=None):
    """``direct_message_indicate_typing_events``: ``sender_id`` is typing to us."""
    event = {"created_timestamp": _ms(timestamp), "sender_id": str(sender_id),
             "target": {"recipient_id": for_user_id}}
    return x_delivery([event], for_user_id=for_user_id, key="direct_message_indicate_typing_events",
                      users={str(sender_id): x_user(sender_id)})
