"""Local fake X API for X Chat (encrypted Direct Messages), playing the person with X's own SDK.

Follows X Chat's wire contract. Real HTTP on 127.0.0.1; real encryption on both sides: the fake keeps
the public key rows of every user, the conversation keys (as the person unwraps them), the key-change events
and the framed events of each conversation, and media ciphertext by hash key. Every message Odoo sends is
decrypted and verified *as the person* (``received``); every message the person sends is encrypted and signed
by the person's own ``chat_xdk.Chat`` and comes as a signed ``chat.received`` delivery (``person_sends``).

Routes: ``GET/POST /2/users/<id>/public_keys``, ``POST /2/chat/conversations/<id>/keys``, ``POST
/2/chat/conversations/<id>/messages``, ``GET /2/chat/conversations/<id>/events``, media upload
(initialize/append/finalize) and download, ``GET/POST /2/webhooks`` (POST runs a real CRC against the URL),
``PUT /2/webhooks/<id>``, ``POST /2/activity/subscriptions``, ``POST /2/oauth2/token`` (refresh), ``GET
/2/users/me`` and ``/2/users/<id>``.

Scripts (also as ``POST /_fake/<action>``): ``add_person``, ``person_has_no_keys``, ``person_rotates_identity``,
``person_rotates_conversation_key``, ``rate_limit``, ``refuse``, ``expire_token``, ``drop_scope``,
``fail_next`` (common). Delivery helpers: ``person_sends``, ``tamper``, ``x_headers``.
"""
import base64
import hashlib
import hmac
import itertools
import json
import re
import struct
import threading
import time
import urllib.parse
import urllib.request
import uuid

from . import FakeServer, _reply, body_bytes

try:
    from chat_xdk import Chat
except ImportError:  # the fakes also serve tools that never speak X Chat
    Chat = None

DEMO_X_USER_ID = "1500000000000000001"
DEMO_X_USERNAME = "demo_business"
DEMO_X_NAME = "Demo Business"
DEMO_X_TOKEN = "demo-x-user-token"
DEMO_X_REFRESH_TOKEN = "demo-x-refresh-token"
DEMO_X_CLIENT_ID = "demo-x-client-id"
DEMO_X_CONSUMER_SECRET = "demo-x-consumer-secret"
DEMO_X_PERSON_ID = "1500000000000000099"
TOKEN_SECONDS = 7200

_webhook_ids = itertools.count(1_600_000_000_000_000_001)
_uuids = itertools.count(8_511_582_263_942_900_001)


def _problem(status, title, detail, problem_type="about:blank", headers=None):
    return _reply(status, {"title": title, "detail": detail, "type": problem_type, "status": status},
                  headers=headers)


def _ms():
    return str(int(time.time() * 1000))


def canonical(a, b):
    low, high = sorted((str(a), str(b)), key=int)
    return f"{low}:{high}"


# --- event framing (Thrift binary, as the SDK's own vectors lay it out) -------------------------------

def _tstr(field, value):
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return b"\x0b" + struct.pack(">hi", field, len(raw)) + raw


def _tstruct(field, raw):
    return b"\x0c" + struct.pack(">h", field) + raw


def frame_message(sequence_id, message_id, sender_id, conversation_id, created, create_b64, signature_b64):
    """``encoded_event`` of a message: its create event wrapped in the detail union, its signature."""
    detail = _tstruct(1, base64.b64decode(create_b64)) + b"\x00"
    body = (_tstr(1, sequence_id) + _tstr(2, message_id) + _tstr(3, sender_id) + _tstr(4, conversation_id)
            + _tstr(6, created) + _tstruct(7, detail) + _tstruct(9, base64.b64decode(signature_b64)) + b"\x00")
    return base64.b64encode(body).decode()


def frame_key_change(sequence_id, sender_id, conversation_id, created, action):
    """``encoded_event`` of a key change from one of its ``action_signatures``."""
    signature = (_tstr(1, action["signature"]) + _tstr(2, action["public_key_version"])
                 + _tstr(3, action["signature_version"]) + b"\x00")
    body = (_tstr(1, sequence_id) + _tstr(2, action["message_id"]) + _tstr(3, sender_id) + _tstr(4, conversation_id)
            + _tstr(6, created) + _tstruct(7, base64.b64decode(action["encoded_message_event_detail"]))
            + _tstruct(9, signature) + b"\x00")
    return base64.b64encode(body).decode()


def tamper(delivery, index=-40):
    """The same delivery with one byte of its encrypted event flipped (X would never send it)."""
    delivery = json.loads(json.dumps(delivery))
    payload = delivery["data"]["payload"]
    raw = bytearray(base64.b64decode(payload["encoded_event"]))
    raw[index] ^= 0x01
    payload["encoded_event"] = base64.b64encode(bytes(raw)).decode()
    return delivery


class _User:
    """Someone with X Chat keys: their Chat and their registered public key rows (newest last)."""

    def __init__(self, user_id):
        self.user_id = str(user_id)
        self.chat = None
        self.rows = []

    def generate(self):
        chat = Chat()
        registration = chat.generate_keypairs()
        version = registration.version or _ms()
        chat.set_identity(self.user_id, version)
        self.chat = chat
        key = registration.public_key
        self.rows.append({"public_key_version": version, "public_key": key.public_key,
                          "signing_public_key": key.signing_public_key,
                          "identity_public_key_signature": key.identity_public_key_signature})
        return self.rows[-1]


class FakeX(FakeServer):
    """Fake X API of one account and the people who write to it."""

    admin_actions = FakeServer.admin_actions + (
        "add_person", "person_has_no_keys", "person_rotates_identity", "person_rotates_conversation_key",
        "rate_limit", "refuse", "accept", "expire_token", "drop_scope", "add_user")

    def __init__(self, user_id=DEMO_X_USER_ID, access_token=DEMO_X_TOKEN, refresh_token=DEMO_X_REFRESH_TOKEN,
                 client_id=DEMO_X_CLIENT_ID, consumer_secret=DEMO_X_CONSUMER_SECRET, username=DEMO_X_USERNAME,
                 name=DEMO_X_NAME, port=0, host="127.0.0.1"):
        self.user_id = user_id
        self.initial_token = access_token
        self.initial_refresh = refresh_token
        self.client_id = client_id
        self.consumer_secret = consumer_secret
        self.username = username
        self.name = name
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.tokens = {self.initial_token: time.time() + TOKEN_SECONDS}
        self.refresh_token = self.initial_refresh
        self.refreshes = 0
        self.refresh_delay = 0
        self.refresh_unavailable = 0  # the next refreshes X cannot answer (503)
        self.scopes_dropped = False
        self.users = {self.user_id: {"id": self.user_id, "name": self.name, "username": self.username}}
        self.keys = {}             # user id -> _User (public key rows, and the Chat of a person we play)
        self.conversations = {}    # low:high -> {"keys": {version: bytes}, "changes": [encoded], "events": [dict]}
        self.media = {}            # media hash key -> ciphertext
        self.uploads = {}          # session id -> {"conversation_id", "media_hash_key", "parts"}
        self.received = []         # what the person read of Odoo's sends: {"to", "id", "text", "attachments"}
        self.echoes = []           # the chat.sent delivery of each accepted send, for a test to post
        self.refused = set()
        self.webhooks = {}
        self.subscriptions = []
        self._sequence = itertools.count(1)
        self._refresh_lock = threading.Lock()
        # X's documents disagree on which upload step names the media hash key: "initialize", "finalize" or both
        self.media_hash_key_at = "initialize"
        # /events pages: X's page size cap, and whether meta says has_more (else next_token alone tells)
        self.events_page_limit = 100
        self.events_has_more = True

    # --- people ---------------------------------------------------------------------------------------

    def add_user(self, user_id, name="Demo Person", username=None, profile_image_url=None):
        user = {"id": str(user_id), "name": name, "username": username or f"person{user_id}"[-15:]}
        if profile_image_url:
            user["profile_image_url"] = profile_image_url
        with self._lock:
            self.users[str(user_id)] = user
        return user

    def add_person(self, user_id, name="Demo Person", username=None, keys=True):
        """A person on X (with X Chat keys unless ``keys`` is false)."""
        self.add_user(user_id, name, username)
        with self._lock:
            person = self.keys.setdefault(str(user_id), _User(user_id))
            if keys and not person.rows:
                person.generate()
        return person

    def person_has_no_keys(self, user_id):
        with self._lock:
            self.keys.pop(str(user_id), None)

    def person_rotates_identity(self, user_id):
        """The person registers new keys (a new device): a new row, newest first at X."""
        with self._lock:
            return self.keys[str(user_id)].generate()

    def person_rotates_conversation_key(self, user_id):
        """The person makes a new conversation key (to every participant's newest keys); its version."""
        with self._lock:
            return self._new_conversation_key(str(user_id), canonical(self.user_id, user_id))

    def _new_conversation_key(self, sender_id, conversation_id):
        person = self.keys[sender_id]
        participants = [{"user_id": uid, "public_key": self.keys[uid].rows[-1]["public_key"],
                         "key_version": self.keys[uid].rows[-1]["public_key_version"]}
                        for uid in conversation_id.split(":")]
        change = person.chat.prepare_conversation_key_change(participants, conversation_id=conversation_id)
        self._store_key_change(sender_id, conversation_id, change["action_signatures"],
                               change["conversation_key_version"], bytes(change["conversation_key"]))
        return change["conversation_key_version"]

    def _store_key_change(self, sender_id, conversation_id, actions, version, key=None):
        conversation = self.conversations.setdefault(conversation_id, {"keys": {}, "changes": [], "events": []})
        for action in actions:
            encoded = frame_key_change(str(next(self._sequence)), sender_id, conversation_id, _ms(), action)
            conversation["changes"].append(encoded)
        if key is None:
            # the person unwraps the key Odoo made for them, with their own keys
            person = self.keys.get(self._person_of(conversation_id))
            if person is not None and person.chat is not None:
                result = person.chat.decrypt_events(conversation["changes"][-len(actions):],
                                                    self._signing_keys(conversation_id))
                key = result["conversation_keys"]["keys"].get(str(version))
        if key is not None:
            conversation["keys"][str(version)] = key
        return conversation

    def _person_of(self, conversation_id):
        low, high = conversation_id.split(":")
        return high if low == self.user_id else low

    def _signing_keys(self, conversation_id):
        return [{"user_id": uid, "public_key_version": row["public_key_version"], "public_key": row["signing_public_key"],
                 "identity_public_key": row["public_key"],
                 "identity_public_key_signature": row["identity_public_key_signature"]}
                for uid in conversation_id.split(":") if uid in self.keys for row in self.keys[uid].rows]

    def _latest(self, conversation_id):
        keys = self.conversations.get(conversation_id, {}).get("keys") or {}
        if not keys:
            return None, None
        version = max(keys, key=int)
        return version, keys[version]

    def person_sends(self, user_id, text="hello", media=None, filename="photo.png", reply_to=None, react_to=None,
                     emoji="\U0001f44d", with_key_change=True):
        """The signed ``chat.received`` delivery of a message the person writes (a conversation key is made
        first when there is none). ``media``: bytes of a file, encrypted and uploaded first; ``reply_to`` /
        ``react_to``: the framed ``encoded_event`` replied or reacted to. Returns the delivery."""
        user_id = str(user_id)
        conversation_id = canonical(self.user_id, user_id)
        with self._lock:
            person = self.keys[user_id]
            version, key = self._latest(conversation_id)
            if key is None:
                version = self._new_conversation_key(user_id, conversation_id)
                version, key = self._latest(conversation_id)
            options = {"conversation_key": key, "conversation_key_version": version}
            if react_to is not None:
                payload = person.chat.encrypt_add_reaction(react_to, emoji, **options)
            elif reply_to is not None:
                payload = person.chat.encrypt_reply(conversation_id, text, reply_to, **options)
            else:
                attachments = None
                if media is not None:
                    # several files (X allows several images, GIFs or videos): a list of (bytes, filename)
                    files = media if isinstance(media, list) else [(media, filename)]
                    attachments = []
                    for content, name in files:
                        hash_key = uuid.uuid4().hex[:24]
                        self.media[hash_key] = person.chat.encrypt_stream(content, key)
                        attachments.append({"attachment_type": "media", "media_hash_key": hash_key, "width": 1,
                                            "height": 1, "filesize_bytes": len(content), "filename": name})
                payload = person.chat.encrypt_message(conversation_id, text, attachments=attachments, **options)
            return self._deliver(user_id, conversation_id, payload, "chat.received", with_key_change)

    def person_deletes(self, user_id, sequence_ids, for_all=True):
        """The signed ``chat.received`` delivery of the person deleting their messages (by sequence id)."""
        user_id = str(user_id)
        conversation_id = canonical(self.user_id, user_id)
        with self._lock:
            action = self.keys[user_id].chat.prepare_message_delete(
                conversation_id, [str(s) for s in sequence_ids], for_all)
            sequence, created = str(next(self._sequence)), _ms()
            encoded = frame_key_change(sequence, user_id, conversation_id, created, action)
            self.conversations[conversation_id]["events"].append(
                {"id": sequence, "conversation_id": conversation_id, "encoded_event": encoded, "sender_id": user_id,
                 "created_at": created})
        return {"data": {"event_uuid": str(next(_uuids)), "filter": {"user_id": self.user_id},
                         "event_type": "chat.received", "tag": "chat-inbound", "payload": {
                             "id": action["message_id"], "created_at_msec": created, "sender_id": user_id,
                             "conversation_id": conversation_id, "encoded_event": encoded}}}

    def _deliver(self, sender_id, conversation_id, payload, event_type, with_key_change=True):
        """Frame and keep an event; its delivery as X posts it. Called under the lock."""
        conversation = self.conversations[conversation_id]
        sequence = str(next(self._sequence))
        created = _ms()
        encoded = frame_message(sequence, payload.message_id, sender_id, conversation_id, created,
                                payload.encrypted_content, payload.encoded_event_signature)
        conversation["events"].append({"id": sequence, "conversation_id": conversation_id, "encoded_event": encoded,
                                       "sender_id": sender_id, "created_at": created})
        body = {"conversation_token": "fake-token-" + conversation_id, "id": payload.message_id,
                "created_at_msec": created, "sender_id": sender_id, "conversation_id": conversation_id,
                "conversation_key_version": payload.conversation_key_version, "encoded_event": encoded,
                "message_event_signature": {"public_key_version": payload.signature_info.public_key_version,
                                            "signature": payload.signature, "signature_version":
                                            payload.signature_info.signature_version}}
        if with_key_change and conversation["changes"]:
            body["conversation_key_change_event"] = conversation["changes"][-1]
        return {"data": {"event_uuid": str(next(_uuids)), "filter": {"user_id": self.user_id},
                         "event_type": event_type, "tag": "chat-inbound" if event_type == "chat.received"
                         else "chat-outbound", "payload": body}}

    # --- other scripts --------------------------------------------------------------------------------

    def rate_limit(self, n=1, reset_in=60):
        reset = int(time.time()) + int(reset_in)
        self.fail_next(n, 429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                                "status": 429}, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})

    def refuse(self, user_id):
        """Sends to ``user_id`` answer 403: they do not accept our messages."""
        with self._lock:
            self.refused.add(str(user_id))

    def accept(self, user_id):
        with self._lock:
            self.refused.discard(str(user_id))

    def expire_token(self):
        """Every access token stops working (X answers 401)."""
        with self._lock:
            self.tokens = {token: 0 for token in self.tokens}

    def drop_scope(self):
        """The token lost ``dm.write``: writes answer 403 client-forbidden."""
        with self._lock:
            self.scopes_dropped = True

    def account_token(self):
        """A valid access token now (what the newest refresh gave)."""
        with self._lock:
            return max(self.tokens, key=self.tokens.get)

    # --- routes -------------------------------------------------------------------------------------

    def route(self, request):
        path = urllib.parse.unquote(request.path)
        if request.method == "POST" and path == "/2/oauth2/token":
            return self._refresh(request)
        if not self._authorized(request):
            return _problem(401, "Unauthorized", "Unauthorized")
        routes = [
            ("GET", r"/2/users/me", lambda: self._user(self.user_id, request)),
            ("GET", r"/2/users/([0-9]+)/public_keys", lambda uid: self._public_keys(uid)),
            ("POST", r"/2/users/([0-9]+)/public_keys", lambda uid: self._register(uid, request)),
            ("GET", r"/2/users/([0-9]+)", lambda uid: self._user(uid, request)),
            ("POST", r"/2/chat/conversations/([0-9-]+)/keys", lambda cid: self._keys(cid, request)),
            ("POST", r"/2/chat/conversations/([0-9-]+)/messages", lambda cid: self._send(cid, request)),
            ("GET", r"/2/chat/conversations/([0-9-]+)/events", lambda cid: self._events(cid, request)),
            ("POST", r"/2/chat/media/upload/initialize", lambda: self._upload_start(request)),
            ("POST", r"/2/chat/media/upload/([A-Za-z0-9_-]+)/append", lambda sid: self._upload_part(sid, request)),
            ("POST", r"/2/chat/media/upload/([A-Za-z0-9_-]+)/finalize", lambda sid: self._upload_end(sid, request)),
            ("GET", r"/2/chat/media/([0-9-]+)/([a-zA-Z0-9]{1,50})", lambda cid, key: self._media(key)),
            ("GET", r"/2/webhooks", lambda: _reply(200, {"data": list(self.webhooks.values())})),
            ("POST", r"/2/webhooks", lambda: self._webhook(request)),
            ("PUT", r"/2/webhooks/([0-9]+)", lambda wid: self._recheck(wid)),
            ("POST", r"/2/activity/subscriptions", lambda: self._subscribe(request)),
            ("GET", r"/2/activity/subscriptions", lambda: _reply(200, {
                "data": list(self.subscriptions), "meta": {"result_count": len(self.subscriptions)}})),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if request.method == method and match:
                return handler(*match.groups())
        return _problem(404, "Not Found Error", f"Could not find {request.method} {path}",
                        "https://api.x.com/2/problems/resource-not-found")

    def _authorized(self, request):
        given = request.headers.get("authorization") or ""
        token = given.removeprefix("Bearer ") if given.startswith("Bearer ") else ""
        with self._lock:
            return self.tokens.get(token, 0) > time.time()

    def _refresh(self, request):
        form = request.form or {}
        with self._refresh_lock:  # the refresh token is single-use: a second concurrent refresh loses
            time.sleep(self.refresh_delay)
            with self._lock:
                if self.refresh_unavailable:
                    self.refresh_unavailable -= 1
                    return _problem(503, "Service Unavailable", "Service Unavailable")
                if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
                    return _reply(400, {"error": "invalid_request",
                                        "error_description": "Value passed for the token was invalid."})
                self.refreshes += 1
                token = f"access-{self.refreshes}-{uuid.uuid4().hex[:8]}"
                self.refresh_token = f"refresh-{self.refreshes}-{uuid.uuid4().hex[:8]}"
                self.tokens[token] = time.time() + TOKEN_SECONDS
                return _reply(200, {"token_type": "bearer", "expires_in": TOKEN_SECONDS, "access_token": token,
                                    "scope": "dm.read dm.write users.read tweet.read media.write offline.access",
                                    "refresh_token": self.refresh_token})

    def _user(self, user_id, request):
        user = self.users.get(user_id)
        if user is None:
            return _reply(200, {"errors": [{"value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                                            "title": "Not Found Error", "type":
                                            "https://api.x.com/2/problems/resource-not-found"}]})
        fields = {f for f in request.query.get("user.fields", "").split(",") if f}
        return _reply(200, {"data": {k: v for k, v in user.items() if k in ("id", "name", "username") or k in fields}})

    def _public_keys(self, user_id):
        with self._lock:
            user = self.keys.get(user_id)
            rows = list(reversed(user.rows)) if user else []
        return _reply(200, {"data": rows} if rows else {"data": []})

    def _register(self, user_id, request):
        if user_id != self.user_id:
            return _problem(403, "Forbidden", "You can only register keys for yourself.",
                            "https://api.x.com/2/problems/client-forbidden")
        body = request.json if isinstance(request.json, dict) else {}
        key = body.get("public_key") if isinstance(body.get("public_key"), dict) else {}
        if not all(isinstance(key.get(f), str) for f in ("public_key", "signing_public_key",
                                                           "identity_public_key_signature")):
            return _problem(400, "Invalid Request", "public_key is required.",
                            "https://api.x.com/2/problems/invalid-request")
        version = str(body.get("version") or _ms())
        with self._lock:
            account = self.keys.setdefault(user_id, _User(user_id))
            account.rows.append({"public_key_version": version, "public_key": key["public_key"],
                                 "signing_public_key": key["signing_public_key"],
                                 "identity_public_key_signature": key["identity_public_key_signature"]})
        return _reply(200, {"data": {"public_key_version": version}})

    def _conversation_of(self, path_id):
        if "-" in path_id:
            a, b = path_id.split("-", 1)
            return canonical(a, b)
        return canonical(self.user_id, path_id)

    def _keys(self, path_id, request):
        body = request.json if isinstance(request.json, dict) else {}
        actions = body.get("action_signatures")
        if not actions:
            return _problem(400, "Invalid Request", "action_signatures is required.",
                            "https://api.x.com/2/problems/invalid-request")
        conversation_id = self._conversation_of(path_id)
        with self._lock:
            flattened = [{"message_id": a["message_id"], "encoded_message_event_detail": a["encoded_message_event_detail"],
                          **a["message_event_signature"]} for a in actions]
            self._store_key_change(self.user_id, conversation_id, flattened, body.get("conversation_key_version"))
            sequence = len(self.conversations[conversation_id]["changes"])
        return _reply(200, {"data": {"conversation_id": conversation_id, "sequence_id": str(sequence)}})

    def _send(self, path_id, request):
        failure = self._scripted_failure()
        if failure:
            return failure
        conversation_id = self._conversation_of(path_id)
        body = request.json if isinstance(request.json, dict) else {}
        if self.scopes_dropped:
            return _problem(403, "Forbidden", "The token lacks dm.write.", "https://api.x.com/2/problems/client-forbidden")
        if not all(isinstance(body.get(f), str) for f in ("message_id", "encoded_message_create_event",
                                                            "encoded_message_event_signature")):
            return _problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                            "https://api.x.com/2/problems/invalid-request")
        person_id = self._person_of(conversation_id)
        with self._lock:
            if person_id in self.refused:
                return _problem(403, "Forbidden", "You are not permitted to send messages to this user.")
            if conversation_id not in self.conversations:
                return _problem(400, "Invalid Request", "The conversation has no key.",
                                "https://api.x.com/2/problems/invalid-request")
            conversation = self.conversations[conversation_id]
            duplicate = [e for e in conversation["events"] if e.get("message_id") == body["message_id"]]
            if duplicate:
                return _reply(201, {"data": {"encoded_message_event": duplicate[0]["encoded_event"]}})
            sequence = str(next(self._sequence))
            created = _ms()
            encoded = frame_message(sequence, body["message_id"], self.user_id, conversation_id, created,
                                    body["encoded_message_create_event"], body["encoded_message_event_signature"])
            # the person reads it: decrypted and verified with the person's own keys
            person = self.keys.get(person_id)
            event = person.chat.decrypt_event(encoded, dict(conversation["keys"]), self._signing_keys(conversation_id))
            conversation["events"].append({"id": sequence, "conversation_id": conversation_id, "encoded_event": encoded,
                                           "sender_id": self.user_id, "created_at": created,
                                           "message_id": body["message_id"]})
            content = event.get("content") or {}
            self.received.append({"to": person_id, "id": event["id"], "text": content.get("text"),
                                  "attachments": content.get("attachments"), "verified": event.get("verified"),
                                  "key_version": event.get("key_version"),
                                  "conversation_token": body.get("conversation_token")})
            self._accept(event["id"], person_id, "text", content.get("text"), body)
            self.echoes.append({"data": {
                "event_uuid": str(next(_uuids)), "filter": {"user_id": self.user_id}, "event_type": "chat.sent",
                "tag": "chat-outbound", "payload": {
                    "id": body["message_id"], "created_at_msec": created, "sender_id": self.user_id,
                    "conversation_id": conversation_id, "conversation_key_version": event.get("key_version"),
                    "encoded_event": encoded, "conversation_key_change_event": conversation["changes"][-1]}}})
        return _reply(201, {"data": {"encoded_message_event": encoded}})

    def colleague_sends(self, user_id, text, account_chat):
        """A message a colleague types in X's own app with the account's keys (``account_chat``, a Chat holding
        them): its ``chat.sent`` delivery."""
        conversation_id = canonical(self.user_id, user_id)
        with self._lock:
            version, key = self._latest(conversation_id)
            payload = account_chat.encrypt_message(conversation_id, text, conversation_key=key,
                                                        conversation_key_version=version)
            return self._deliver(self.user_id, conversation_id, payload, "chat.sent")

    def _events(self, path_id, request):
        """A page of the conversation's events, newest first; its key changes, newest first, page by page too."""
        conversation_id = self._conversation_of(path_id)
        try:
            size = min(int(request.query.get("max_results") or 10), 100, self.events_page_limit)
            page = int(request.query.get("pagination_token") or "0")
        except ValueError:
            return _problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                            "https://api.x.com/2/problems/invalid-request")
        with self._lock:
            conversation = self.conversations.get(conversation_id, {"changes": [], "events": []})
            events, changes = conversation["events"][::-1], conversation["changes"][::-1]
            data = [dict(e, previous_id=None, is_trusted=True) for e in events[page * size:(page + 1) * size]]
            more = (page + 1) * size < max(len(events), len(changes))
            meta = {"conversation_key_events": changes[page * size:(page + 1) * size], "result_count": len(data)}
            if more:
                meta["next_token"] = str(page + 1)
            if self.events_has_more:
                meta["has_more"] = more
            return _reply(200, {"data": data, "meta": meta})

    def _upload_start(self, request):
        body = request.json if isinstance(request.json, dict) else {}
        if not _body_conversation(body):
            return _problem(400, "Invalid Request", "conversation_id is invalid.",
                            "https://api.x.com/2/problems/invalid-request")
        session = uuid.uuid4().hex
        hash_key = uuid.uuid4().hex[:32]
        with self._lock:
            self.uploads[session] = {"conversation_id": body.get("conversation_id"), "media_hash_key": hash_key,
                                     "total": body.get("total_bytes"), "parts": {}}
        data = {"session_id": session, "conversation_id": body.get("conversation_id")}
        if self.media_hash_key_at in ("initialize", "both"):
            data["media_hash_key"] = hash_key
        return _reply(200, {"data": data})

    def _upload_of(self, session, body):
        """The upload a step names; the hash key, when given, must be the upload's (X checks its form)."""
        upload = self.uploads.get(session)
        if upload and _body_conversation(body) != upload["conversation_id"]:
            return None
        given = body.get("media_hash_key", upload and upload["media_hash_key"]) if upload else None
        if not upload or given != upload["media_hash_key"] or (
                "media_hash_key" not in body and self.media_hash_key_at != "finalize"):
            return None
        return upload

    def _upload_part(self, session, request):
        body = request.json if isinstance(request.json, dict) else {}
        with self._lock:
            upload = self._upload_of(session, body)
            if not upload:
                return _problem(400, "Invalid Request", "Unknown upload.", "https://api.x.com/2/problems/invalid-request")
            upload["parts"][int(body.get("segment_index", 0))] = base64.b64decode(body.get("media") or "")
        return _reply(200, {"data": {"expires_at": int(time.time()) + 86400}})

    def _upload_end(self, session, request):
        body = request.json if isinstance(request.json, dict) else {}
        with self._lock:
            upload = self._upload_of(session, body)
            self.uploads.pop(session, None)
            if not upload:
                return _problem(400, "Invalid Request", "Unknown upload.", "https://api.x.com/2/problems/invalid-request")
            content = b"".join(upload["parts"][i] for i in sorted(upload["parts"]))
            if upload["total"] is not None and len(content) != int(upload["total"]):
                return _problem(400, "Invalid Request", "Size mismatch.", "https://api.x.com/2/problems/invalid-request")
            self.media[upload["media_hash_key"]] = content
        data = {"success": True}
        if self.media_hash_key_at in ("finalize", "both"):
            data["media_hash_key"] = upload["media_hash_key"]
        return _reply(200, {"data": data})

    def _media(self, hash_key):
        with self._lock:
            content = self.media.get(hash_key)
        if content is None:
            return _problem(404, "Not Found Error", "No such media.", "https://api.x.com/2/problems/resource-not-found")
        return _reply(200, content, content_type="application/octet-stream")

    def decrypt_media(self, user_id, hash_key):
        """A file Odoo uploaded, as the person reads it (with the conversation's latest key)."""
        with self._lock:
            conversation_id = canonical(self.user_id, user_id)
            keys = self.conversations[conversation_id]["keys"]
            for key in keys.values():
                try:
                    return self.keys[str(user_id)].chat.decrypt_stream(self.media[hash_key], key)
                except ValueError:
                    continue
        raise ValueError("no key opens the file")

    def _webhook(self, request):
        url = (request.json or {}).get("url") if isinstance(request.json, dict) else None
        if not isinstance(url, str) or len(url) > 200:
            return _problem(400, "UrlValidationFailed", "The URL is not valid.")
        if not self._crc(url):
            return _problem(400, "CrcValidationFailed", "The CRC check of the URL failed.")
        webhook = {"id": str(next(_webhook_ids)), "url": url, "valid": True,
                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        with self._lock:
            self.webhooks[webhook["id"]] = webhook
        return _reply(200, {"data": webhook})

    def _recheck(self, webhook_id):
        webhook = self.webhooks.get(webhook_id)
        if not webhook:
            return _problem(404, "Not Found Error", "No such webhook.")
        webhook["valid"] = self._crc(webhook["url"])
        return _reply(204 if webhook["valid"] else 400, None)

    def _crc(self, url):
        """A real CRC GET against the URL: the answer must be the HMAC of the token with the consumer secret."""
        token = uuid.uuid4().hex
        try:
            with urllib.request.urlopen(f"{url}?crc_token={token}", timeout=10) as answer:  # noqa: S310 - local
                body = json.loads(answer.read())
        except (OSError, ValueError):
            return False
        return body == x_crc_response(token, self.consumer_secret)

    def _subscribe(self, request):
        body = request.json if isinstance(request.json, dict) else {}
        if body.get("event_type") not in ("chat.received", "chat.sent") or body.get("webhook_id") not in self.webhooks:
            return _problem(400, "Invalid Request", "Unknown event type or webhook.",
                            "https://api.x.com/2/problems/invalid-request")
        subscription = {"subscription_id": str(len(self.subscriptions) + 1), **body}
        with self._lock:
            self.subscriptions.append(subscription)
        return _reply(200, {"data": subscription})


def _body_conversation(body):
    """A conversation id as request bodies give it (``low:high``, as in X's samples; paths take ``low-high``)."""
    value = body.get("conversation_id")
    match = re.fullmatch(r"([0-9]{1,19}):([0-9]{1,19})", value) if isinstance(value, str) else None
    return value if match and canonical(*match.groups()) == value else None


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
