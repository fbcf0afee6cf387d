"""Local fake WhatsApp Cloud API and Telegram Bot API servers, and webhook payload builders.

The fakes listen on real sockets (``http.server.ThreadingHTTPServer``, 127.0.0.1, port 0 = any free
port, served from a daemon thread) and follow the platforms' wire contracts. They serve the pure suite,
the Odoo tests and the demo database (``tools/fake_providers.py``): test and demo tooling, not part of the
shipped addon. Nothing here imports odoo or the addon (``provider_layer`` imports the addon's providers
without Odoo).

Common to both fakes:

- ``start()``, ``stop()``, context manager; ``url`` is the API root "http://127.0.0.1:<port>";
- ``requests``: every API call received, as :class:`RecordedRequest`; ``sent``: the accepted outbound
  messages in order, dicts ``{"id", "to", "type", "text", "payload"}`` (both lists are copies);
- scripts: ``fail_next(n, http_status, body_dict=None, headers=None)`` (the next ``n`` send calls get
  that answer; ``body_dict`` may also be str/bytes for a non-JSON body), ``delay`` (seconds to wait
  before answering any API call), ``reset()`` (back to the state after construction);
- admin JSON endpoints for another process: ``GET /_fake/sent``, ``GET /_fake/requests``,
  ``POST /_fake/reset`` and ``POST /_fake/<action>`` with the action's keyword arguments as a JSON
  object, e.g. ``POST /_fake/fail_next {"n": 1, "http_status": 500, "body_dict": {...}}``, ``/_fake/close_window
  {"wa_id": "..."}``, ``/_fake/add_media {"media_id", "content_base64", "mime_type", "filename"}`` (WhatsApp),
  ``/_fake/block {"chat_id": 42}``, ``/_fake/add_file {"file_id", "content_base64", "file_path"}`` (Telegram).
"""
import base64
import collections
import dataclasses
import hashlib
import hmac
import http.server
import itertools
import json
import re
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

DEMO_WA_PHONE_NUMBER_ID = "100000000000001"
DEMO_WA_DISPLAY_NUMBER = "15550000001"
DEMO_WABA_ID = "100000000000000"
DEMO_WA_TOKEN = "demo-wa-token"
DEMO_TG_TOKEN = "100000:demo-telegram-token"
DEMO_TG_CHAT_ID = 424242
_DEMO_BOT = {"id": 100000, "is_bot": True, "first_name": "Demo Bot", "username": "demo_bot"}

WINDOW_DETAILS = ("Message failed to send because more than 24 hours have passed since the customer last "
                  "replied to this number.")

# --- recorded requests ------------------------------------------------------------------------------


@dataclasses.dataclass
class Upload:
    """A file part of a multipart body."""

    filename: str
    content_type: str
    content: bytes


@dataclasses.dataclass
class RecordedRequest:
    """One request as a fake received it. ``headers`` keys are lower-case."""

    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    json: object = None
    form: dict = dataclasses.field(default_factory=dict)
    files: dict = dataclasses.field(default_factory=dict)

    @property
    def params(self):
        """Query, form fields and JSON object merged (how the Bot API reads parameters)."""
        return {**self.query, **self.form, **(self.json if isinstance(self.json, dict) else {})}

    def as_dict(self):
        """JSON-safe summary (files by name, size and sha256)."""
        files = {name: {"filename": upload.filename, "content_type": upload.content_type,
                        "size": len(upload.content), "sha256": hashlib.sha256(upload.content).hexdigest()}
                 for name, upload in self.files.items()}
        return {"method": self.method, "path": self.path, "query": self.query, "headers": self.headers,
                "json": self.json, "form": self.form, "files": files}


def _header_param(header, key):
    match = re.search(rf'(?:^|;)\s*{key}="((?:[^"\\]|\\.)*)"', header) or re.search(
        rf"(?:^|;)\s*{key}=([^;\s]+)", header)
    return match and match.group(1)


def _parse_multipart(body, content_type):
    """(form fields, files) of a multipart/form-data body."""
    boundary = _header_param(content_type, "boundary")
    form, files = {}, {}
    if not boundary:
        return form, files
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name, filename = _header_param(disposition, "name"), _header_param(disposition, "filename")
        if filename is None:
            form[name] = content.decode("utf-8", "replace")
        else:
            files[name] = Upload(filename, headers.get("content-type", "application/octet-stream"), content)
    return form, files


def _parse_request(method, target, headers, body):
    split = urllib.parse.urlsplit(target)
    headers = {name.lower(): value for name, value in headers.items()}
    content_type = headers.get("content-type", "")
    mime = content_type.partition(";")[0].strip().lower()
    request = RecordedRequest(method, split.path, dict(urllib.parse.parse_qsl(split.query)), headers, body)
    if mime == "application/json":
        try:
            request.json = json.loads(body)
        except ValueError:
            request.json = None
    elif mime == "application/x-www-form-urlencoded":
        request.form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    elif mime == "multipart/form-data":
        request.form, request.files = _parse_multipart(body, content_type)
    return request


# --- server plumbing --------------------------------------------------------------------------------


def _reply(status, body, headers=None, content_type=None):
    """(status, headers, bytes) of an answer: a dict/list/None body is sent as JSON, str as text."""
    if body is None or isinstance(body, (dict, list)):
        body, default_type = json.dumps({} if body is None else body).encode(), "application/json"
    elif isinstance(body, str):
        body, default_type = body.encode(), "text/plain; charset=utf-8"
    else:
        default_type = "application/octet-stream"
    return status, {"Content-Type": content_type or default_type, **(headers or {})}, bytes(body)


class _Refusal(Exception):
    """Raised by a route to answer with ``reply`` (an error of the platform) at once."""

    def __init__(self, reply):
        super().__init__(reply[0])
        self.reply = reply


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeMessenger/1.0"

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = _parse_request(self.command, self.path, self.headers, body)
        status, headers, payload = self.server.fake.handle(request)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        if self.server.fake.verbose:
            super().log_message(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is not our error
            super().handle_error(request, client_address)


class FakeServer:
    """Base of the fakes: serving, recording, scripted failures, admin endpoints."""

    #: methods callable as POST /_fake/<action>
    admin_actions = ("reset", "fail_next")

    def __init__(self, port=0, host="127.0.0.1"):
        self.host = host
        self.port = port
        self.verbose = False
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._ids = itertools.count(1)  # never reset: ids stay unique for the life of the fake
        self._clear()

    def _clear(self):
        """Forget everything received or scripted."""
        self._requests = []
        self._sent = []
        self._failures = collections.deque()
        self.delay = 0

    # --- public API ---------------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        if self._server is None:
            self._server = _Server((self.host, self.port), _Handler)
            self._server.fake = self
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{type(self).__name__}:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def sent(self):
        with self._lock:
            return list(self._sent)

    def fail_next(self, n, http_status, body_dict=None, headers=None):
        """Answer the next ``n`` send calls with ``http_status`` and ``body_dict`` (dict, str or bytes)."""
        with self._lock:
            self._failures.extend([_reply(http_status, body_dict, headers)] * n)

    def reset(self):
        with self._lock:
            self._clear()

    # --- serving ------------------------------------------------------------------------------------

    def handle(self, request):
        """Answer one request: (status, headers, body bytes)."""
        if request.path.startswith("/_fake/"):
            return self._admin(request)
        with self._lock:
            self._requests.append(request)
            delay = self.delay
        if delay:
            time.sleep(delay)
        try:
            return self.route(request)
        except _Refusal as refusal:
            return refusal.reply
        except Exception:  # a bug of the fake: show it, answer 500 rather than drop the connection
            traceback.print_exc()
            return _reply(500, traceback.format_exc())

    def route(self, request):
        raise NotImplementedError

    def _admin(self, request):
        action = request.path.removeprefix("/_fake/")
        if request.method == "GET" and action == "sent":
            return _reply(200, self.sent)
        if request.method == "GET" and action == "requests":
            return _reply(200, [recorded.as_dict() for recorded in self.requests])
        if request.method == "POST" and action in self.admin_actions:
            try:
                getattr(self, action)(**(request.json if isinstance(request.json, dict) else {}))
            except (TypeError, ValueError) as exc:
                return _reply(400, {"ok": False, "error": str(exc)})
            return _reply(200, {"ok": True})
        return _reply(404, {"ok": False, "error": f"unknown admin action {action!r}"})

    def _scripted_failure(self):
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _next_id(self):
        with self._lock:
            return next(self._ids)

    def _accept(self, message_id, to, msg_type, text, payload):
        with self._lock:
            self._sent.append({"id": message_id, "to": to, "type": msg_type, "text": text, "payload": payload})


# --- WhatsApp ---------------------------------------------------------------------------------------

WA_MEDIA_TYPES = {"image", "document", "audio", "video", "sticker"}
WA_OTHER_TYPES = {"interactive", "location", "reaction", "contacts"}
#: a business-scoped user id (BSUID) or a parent BSUID ("US.1349...", "US.ENT.1181...")
WA_BSUID_RE = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
#: templates that need a phone number (a BSUID recipient is refused with 131062)
WA_AUTH_CATEGORIES = {"AUTHENTICATION", "AUTHENTICATION_INTERNATIONAL"}


def _wa_message_problem(payload, media_store):
    """What the Cloud API would object to in a /messages body, or None."""
    if not isinstance(payload, dict):
        return "The request body must be a JSON object"
    if payload.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'"
    problem = _wa_address_problem(payload)
    if problem:
        return problem
    if payload.get("recipient_type", "individual") != "individual":
        return "The parameter recipient_type must be 'individual'"
    context = payload.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        return "The parameter context.message_id must be a string"
    msg_type = payload.get("type", "text")
    part = payload.get(msg_type) if isinstance(msg_type, str) else None
    if msg_type not in {"text", "template", *WA_MEDIA_TYPES, *WA_OTHER_TYPES}:
        return f"Unsupported message type: {msg_type}"
    if not isinstance(part, dict):
        return f"The parameter {msg_type} is required and must be an object"
    if msg_type == "text":
        body = part.get("body")
        if not isinstance(body, str) or not body.strip():
            return "The parameter text.body is required"
        if len(body) > 4096:
            return "The parameter text.body must be at most 4096 characters"
        if not isinstance(part.get("preview_url", False), bool):
            return "The parameter text.preview_url must be a boolean"
    elif msg_type == "template":
        return _wa_template_problem(part)
    elif msg_type in WA_MEDIA_TYPES:
        return _wa_media_problem(msg_type, part, media_store)
    elif msg_type == "interactive" and part.get("type") == "request_contact_info":
        return _wa_contact_request_problem(part)
    return None


def _wa_address_problem(payload):
    """``to`` (a number) or ``recipient`` (a BSUID); both given, ``to`` wins."""
    to, recipient = payload.get("to"), payload.get("recipient")
    if to is None and recipient is None:
        return "The parameter to or recipient is required"
    if recipient is not None and not (isinstance(recipient, str) and WA_BSUID_RE.fullmatch(recipient)):
        return "The parameter recipient must be a business-scoped user id"
    # a BSUID in "to" passes here: Meta answers 200 with a message id and drops the message (see FakeWhatsApp)
    if to is not None and not (isinstance(to, str) and (re.fullmatch(r"\+?\d{6,15}", to)
                                                         or WA_BSUID_RE.fullmatch(to))):
        return "The parameter to must be a phone number"
    return None


def _wa_contact_request_problem(part):
    body = part.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
        return "The parameter interactive.body.text is required"
    if part.get("action") != {"name": "request_contact_info"}:
        return "The parameter interactive.action.name must be 'request_contact_info'"
    return None


def _wa_template_problem(template):
    if not isinstance(template.get("name"), str) or not template["name"]:
        return "The parameter template.name is required"
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return "The parameter template.language.code is required"
    components = template.get("components", [])
    if not isinstance(components, list):
        return "The parameter template.components must be an array"
    for component in components:
        if not isinstance(component, dict) or component.get("type") not in ("header", "body", "button", "footer"):
            return "Each template component needs a type header, body or button"
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(
                isinstance(param, dict) and isinstance(param.get("type"), str) for param in parameters):
            return "Template parameters must be objects with a type"
    return None


def _wa_media_problem(msg_type, part, media_store):
    if ("id" in part) == ("link" in part):
        return f"The parameter {msg_type} needs exactly one of id or link"
    if "id" in part and not (isinstance(part["id"], str) and part["id"] in media_store):
        return f"Invalid media id: {part['id']}"
    if "link" in part and not (isinstance(part["link"], str) and part["link"].startswith(("http://", "https://"))):
        return f"The parameter {msg_type}.link must be a URL"
    caption = part.get("caption")
    if caption is not None:
        if msg_type not in ("image", "document", "video") or not isinstance(caption, str):
            return f"The parameter {msg_type}.caption is not allowed here"
        if len(caption) > 1024:
            return "The caption must be at most 1024 characters"
    if "filename" in part and not isinstance(part["filename"], str):
        return "The parameter document.filename must be a string"
    return None


class FakeWhatsApp(FakeServer):
    """Fake WhatsApp Cloud API of one phone number.

    Scripts beyond the common ones: ``close_window(wa_id, mode="sync")`` (non-template sends to it
    fail with 131047 synchronously; ``mode="status"`` accepts them and appends a failed status to
    ``statuses`` instead, for a test to post as a webhook), ``open_window(wa_id)``, ``rate_cap``
    (accepted sends per second; over it error 130429 with HTTP ``rate_limit_status``),
    ``add_media(media_id, content, mime_type, filename=None)``. ``media`` holds uploaded/added media.
    People known by their business-scoped user id (BSUID) are written to with ``recipient``; a BSUID put in
    ``to`` is answered 200 with a message id and never delivered (kept in ``dropped``), as Meta does; an
    authentication template to a BSUID fails with 131062.
    """

    admin_actions = FakeServer.admin_actions + ("close_window", "open_window", "add_media")

    def __init__(self, phone_number_id=DEMO_WA_PHONE_NUMBER_ID, access_token=DEMO_WA_TOKEN, api_version="v21.0",
                 port=0, host="127.0.0.1", rate_cap=None, rate_limit_status=400,
                 display_phone_number="+1 555-000-0001", verified_name="Demo Business", waba_id=DEMO_WABA_ID):
        self.waba_id = waba_id
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.api_version = api_version
        self.display_phone_number = display_phone_number
        self.verified_name = verified_name
        self._initial_rate = (rate_cap, rate_limit_status)
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.rate_cap, self.rate_limit_status = self._initial_rate
        self.media = {}
        self.statuses = []
        self._closed_windows = {}
        self._send_times = collections.deque()
        self.templates = []
        self.dropped = []  # accepted with 200 and never delivered (a BSUID put in "to")

    # --- scripts ------------------------------------------------------------------------------------

    def close_window(self, wa_id, mode="sync"):
        if mode not in ("sync", "status"):
            raise ValueError("mode must be 'sync' or 'status'")
        with self._lock:
            self._closed_windows[str(wa_id).lstrip("+")] = mode

    def open_window(self, wa_id):
        with self._lock:
            self._closed_windows.pop(str(wa_id).lstrip("+"), None)

    def add_template(self, name, body, language="en_US", category="UTILITY", status="APPROVED", header=None,
                     footer=None, buttons=(), parameter_format="POSITIONAL"):
        """A template of the WABA, listed by ``GET /<waba_id>/message_templates`` as Meta lists it."""
        components = []
        if header:
            components.append({"type": "HEADER", "format": "TEXT", "text": header})
        components.append({"type": "BODY", "text": body})
        if footer:
            components.append({"type": "FOOTER", "text": footer})
        if buttons:
            components.append({"type": "BUTTONS", "buttons": [dict(button) for button in buttons]})
        template = {"name": name, "language": language, "category": category, "status": status,
                    "parameter_format": parameter_format, "components": components,
                    "id": str(900000000000000 + len(self.templates) + 1)}
        with self._lock:
            self.templates.append(template)
        return template

    def add_media(self, media_id, content=None, mime_type="application/octet-stream", filename=None,
                  content_base64=None):
        """Media the API serves by id; ``content_base64`` instead of ``content`` from another process."""
        if content_base64 is not None:
            content = base64.b64decode(content_base64)
        content = content.encode() if isinstance(content, str) else bytes(content)
        with self._lock:
            self.media[str(media_id)] = {"content": content, "mime_type": mime_type, "filename": filename,
                                         "sha256": hashlib.sha256(content).hexdigest()}

    # --- routes -------------------------------------------------------------------------------------

    def route(self, request):
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        path = urllib.parse.unquote(request.path)
        if path.startswith("/media-download/"):
            return self._media_content(path.removeprefix("/media-download/"))
        parts = path.strip("/").split("/")
        if re.fullmatch(r"v\d+\.\d+", parts[0]):
            if parts[0] != self.api_version:
                return self._error(400, 100, f"Unknown API version: {parts[0]}")
            parts = parts[1:]
        method = request.method
        if method == "POST" and parts == [self.phone_number_id, "messages"]:
            return self._send(request)
        if method == "POST" and parts == [self.phone_number_id, "media"]:
            return self._upload(request)
        if method == "GET" and parts == [self.phone_number_id]:
            return self._phone_info(request)
        if method == "GET" and parts == [self.waba_id, "message_templates"]:
            return self._list_templates(request)
        if method == "GET" and len(parts) == 1 and parts[0] in self.media:
            return self._media_info(parts[0])
        return self._error(400, 100, f"Unsupported {method.lower()} request. Object with ID '{'/'.join(parts)}' "
                           "does not exist, cannot be loaded due to missing permissions, or does not support "
                           "this operation.", subcode=33)

    def _authorized(self, request):
        given = request.headers.get("authorization") or ""
        token = given.removeprefix("Bearer ") if given.startswith("Bearer ") else request.query.get("access_token")
        return bool(token) and hmac.compare_digest(token.encode(), self.access_token.encode())

    def _error(self, http_status, code, message, details=None, subcode=None):
        body = wa_error_body(code, message, details=details)
        if subcode is not None:
            body["error"]["error_subcode"] = subcode
        return _reply(http_status, body, headers={"WWW-Authenticate": "OAuth"} if http_status == 401 else None)

    def _send(self, request):
        failure = self._scripted_failure()
        if failure:
            return failure
        payload = request.json
        problem = _wa_message_problem(payload, self.media)
        if problem:
            return self._error(400, 100, "(#100) Invalid parameter", details=problem)
        msg_type = payload.get("type", "text")
        # "to" wins when both are given; a BSUID in "to" is accepted and silently dropped, as Meta does
        to = payload["to"].lstrip("+") if "to" in payload else payload["recipient"]
        by_user_id = "to" not in payload
        if by_user_id and msg_type == "template" and self._template_category(payload["template"]) in WA_AUTH_CATEGORIES:
            return self._error(400, 131062, "(#131062) BSUID recipients are not supported for this message",
                               details="Authentication templates need a phone number.")
        if WA_BSUID_RE.fullmatch(to) and not by_user_id:
            wamid = f"wamid.FAKE{self._next_id()}"
            with self._lock:
                self.dropped.append({"id": wamid, "to": to, "type": msg_type, "payload": payload})
            return _reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                "messages": [{"id": wamid}]})
        with self._lock:
            window = None if msg_type == "template" else self._closed_windows.get(to)
            if window == "sync":
                return self._error(400, 131047, "(#131047) Re-engagement message", details=WINDOW_DETAILS)
            if self._over_rate():
                return self._error(self.rate_limit_status, 130429, "(#130429) Rate limit hit",
                                   details="Cloud API message throughput has been reached.")
            wamid = f"wamid.FAKE{self._next_id()}"
            if window == "status":
                failure = {"error_code": 131047, "error_title": "Re-engagement message",
                           "error_details": WINDOW_DETAILS}
                self.statuses.append(wa_user_status(wamid, "failed", user_id=to, **failure) if by_user_id
                                     else wa_status(wamid, "failed", to, **failure))
            part = payload[msg_type]
            text = part.get("body", part.get("caption"))
            self._accept(wamid, to, msg_type, text.get("text") if isinstance(text, dict) else text, payload)
        message = {"id": wamid, **({"message_status": "accepted"} if msg_type == "template" else {})}
        contact = {"input": to, "user_id": to} if by_user_id else {"input": payload["to"], "wa_id": to}
        return _reply(200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]})

    def _template_category(self, template):
        with self._lock:
            for known in self.templates:
                if known["name"] == template.get("name") and known["language"] == template.get("language", {}).get(
                        "code"):
                    return known["category"].upper()
        return None

    def _over_rate(self):
        """Count one send against ``rate_cap`` (per second); True when over it. Called under the lock."""
        if not self.rate_cap:
            return False
        now = time.monotonic()
        while self._send_times and now - self._send_times[0] >= 1:
            self._send_times.popleft()
        if len(self._send_times) >= self.rate_cap:
            return True
        self._send_times.append(now)
        return False

    def _upload(self, request):
        upload, mime_type = request.files.get("file"), request.form.get("type")
        if request.form.get("messaging_product") != "whatsapp" or upload is None or not mime_type:
            return self._error(400, 100, "(#100) Invalid parameter",
                               details="messaging_product=whatsapp, file and type are required")
        media_id = str(900000000000000 + self._next_id())
        self.add_media(media_id, upload.content, mime_type, upload.filename)
        return _reply(200, {"id": media_id})

    def _media_info(self, media_id):
        media = self.media[media_id]
        return _reply(200, {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/media-download/{media_id}",
            "mime_type": media["mime_type"],
            "sha256": media["sha256"],
            "file_size": len(media["content"]),
            "id": media_id,
        })

    def _media_content(self, media_id):
        media = self.media.get(media_id)
        if media is None:
            return _reply(404, "Not Found")
        return _reply(200, media["content"], content_type=media["mime_type"])

    def _list_templates(self, request):
        """One page of templates (``limit``, cursor ``after``: the index of the next one)."""
        limit = int(request.query.get("limit") or 25)
        after = request.query.get("after") or "0"
        start = int(after) if after.isdigit() else 0
        with self._lock:
            page = self.templates[start:start + limit]
            more = start + limit < len(self.templates)
        paging = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if more:
            paging["next"] = f"{self.url}/{self.api_version}/{self.waba_id}/message_templates?after={start + limit}"
        return _reply(200, {"data": page, "paging": paging})

    def _phone_info(self, request):
        info = {"display_phone_number": self.display_phone_number, "verified_name": self.verified_name,
                "quality_rating": "GREEN"}
        fields = [f for f in request.query.get("fields", "").split(",") if f] or list(info)
        return _reply(200, {**{f: info[f] for f in fields if f in info}, "id": self.phone_number_id})


# --- Telegram ---------------------------------------------------------------------------------------


def _json_param(value):
    """A Bot API parameter that may come as a JSON string (form and multipart bodies)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram(FakeServer):
    """Fake Telegram Bot API of one bot.

    Scripts beyond the common ones: ``block(chat_id)`` / ``unblock(chat_id)`` (sends answer 403 "bot
    was blocked by the user"), ``add_file(file_id, content, file_path)`` (served by getFile and
    /file/bot<token>/<file_path>). ``webhook`` holds the last setWebhook parameters,
    ``callback_answers`` the answerCallbackQuery calls.
    """

    admin_actions = FakeServer.admin_actions + ("block", "unblock", "add_file")
    send_methods = ("sendMessage", "sendDocument")

    def __init__(self, bot_token=DEMO_TG_TOKEN, port=0, host="127.0.0.1", bot_username="demo_bot",
                 bot_name="Demo Bot"):
        self.bot_token = bot_token
        bot_id = bot_token.partition(":")[0]
        self.bot_user = {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True, "first_name": bot_name,
                         "username": bot_username}
        super().__init__(port=port, host=host)

    def _clear(self):
        super()._clear()
        self.files = {}
        self.blocked = set()
        self.webhook = None
        self.callback_answers = []

    # --- scripts ------------------------------------------------------------------------------------

    def block(self, chat_id):
        with self._lock:
            self.blocked.add(str(chat_id))

    def unblock(self, chat_id):
        with self._lock:
            self.blocked.discard(str(chat_id))

    def add_file(self, file_id, content=None, file_path=None, content_base64=None):
        """A file getFile serves; ``content_base64`` instead of ``content`` from another process."""
        if content_base64 is not None:
            content = base64.b64decode(content_base64)
        content = content.encode() if isinstance(content, str) else bytes(content)
        file_path = file_path or f"documents/{file_id}"
        with self._lock:
            self.files[file_id] = {"content": content, "file_path": file_path}

    # --- routes -------------------------------------------------------------------------------------

    def route(self, request):
        path = urllib.parse.unquote(request.path)
        match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if match:
            if not self._authorized(match.group(1)):
                return _tg_error(401, "Unauthorized")
            return self._file_content(match.group(2))
        match = re.fullmatch(r"/bot([^/]*)/(\w+)", path)
        if not match:
            return _tg_error(404, "Not Found")
        if not self._authorized(match.group(1)):
            return _tg_error(401, "Unauthorized")
        method = match.group(2)
        handler = {
            "getMe": self._get_me, "sendMessage": self._send_message, "sendDocument": self._send_document,
            "getFile": self._get_file, "setWebhook": self._set_webhook, "getWebhookInfo": self._webhook_info,
            "deleteWebhook": self._delete_webhook, "answerCallbackQuery": self._answer_callback,
        }.get(method)
        if handler is None:
            return _tg_error(404, "Not Found: method not found")
        if method in self.send_methods:
            failure = self._scripted_failure()
            if failure:
                return failure
        return handler(request.params, request)

    def _authorized(self, token):
        return hmac.compare_digest(token.encode(), self.bot_token.encode())

    def _message(self, chat_id, params, **content):
        """The Message object sent to ``chat_id``; raise _Refusal when the API would refuse it."""
        if chat_id in (None, ""):
            raise _Refusal(_tg_error(400, "Bad Request: chat_id is empty"))
        if str(chat_id) in self.blocked:
            raise _Refusal(_tg_error(403, "Forbidden: bot was blocked by the user"))
        chat_id = int(chat_id) if re.fullmatch(r"-?\d+", str(chat_id)) else chat_id
        message = {"message_id": self._next_id(), "from": self.bot_user, "chat": {"id": chat_id, "type": "private"},
                   "date": int(time.time()), **content}
        reply = _json_param(params.get("reply_parameters")) or (
            {"message_id": _json_param(params["reply_to_message_id"])} if "reply_to_message_id" in params else None)
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise _Refusal(_tg_error(400, "Bad Request: can't parse reply parameters JSON object"))
            message["reply_to_message"] = {"message_id": reply["message_id"], "chat": message["chat"]}
        return message

    def _send_message(self, params, request):
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _tg_error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _tg_error(400, "Bad Request: message is too long")
        message = self._message(params.get("chat_id"), params, text=text)
        return self._sent_answer(message, "text", text, params)

    def _send_document(self, params, request):
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            return _tg_error(400, "Bad Request: message caption is too long")
        upload, reference = request.files.get("document"), params.get("document")
        if upload is not None:
            file_id = f"FAKEDOC{self._next_id()}"
            self.add_file(file_id, upload.content, f"documents/{upload.filename}")
            document = {"file_name": upload.filename, "mime_type": upload.content_type,
                        "file_size": len(upload.content)}
        elif isinstance(reference, str) and (reference in self.files or reference.startswith(("http://", "https://"))):
            file_id, document = reference, {}
        else:
            return _tg_error(400, "Bad Request: there is no document in the request")
        document = {"file_id": file_id, "file_unique_id": f"U{file_id}", **document}
        message = self._message(params.get("chat_id"), params, document=document,
                                **({"caption": caption} if caption else {}))
        summary = {**params, "document": document}
        return self._sent_answer(message, "document", caption, summary)

    def _sent_answer(self, message, msg_type, text, params):
        chat_id = message["chat"]["id"]
        self._accept(f"{chat_id}:{message['message_id']}", str(chat_id), msg_type, text, params)
        return _tg_ok(message)

    def _get_me(self, params, request):
        return _tg_ok({**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                       "supports_inline_queries": False})

    def _get_file(self, params, request):
        file_id = params.get("file_id")
        stored = self.files.get(file_id)
        if stored is None:
            return _tg_error(400, "Bad Request: invalid file_id")
        return _tg_ok({"file_id": file_id, "file_unique_id": f"U{file_id}", "file_size": len(stored["content"]),
                       "file_path": stored["file_path"]})

    def _file_content(self, file_path):
        with self._lock:
            stored = next((f for f in self.files.values() if f["file_path"] == file_path), None)
        if stored is None:
            return _tg_error(404, "Not Found")
        return _reply(200, stored["content"], content_type="application/octet-stream")

    def _set_webhook(self, params, request):
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str):
            return _tg_error(400, "Bad Request: bad webhook: URL is required")
        if secret is not None and not (isinstance(secret, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)):
            return _tg_error(400, "Bad Request: secret token contains unallowed characters")
        allowed = _json_param(params.get("allowed_updates"))
        with self._lock:
            self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed}
        return _tg_ok(True, description="Webhook was set")

    def _webhook_info(self, params, request):
        webhook = self.webhook or {}
        return _tg_ok({"url": webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                       **({"allowed_updates": webhook["allowed_updates"]} if webhook.get("allowed_updates") else {})})

    def _delete_webhook(self, params, request):
        with self._lock:
            self.webhook = None
        return _tg_ok(True, description="Webhook was deleted")

    def _answer_callback(self, params, request):
        if not params.get("callback_query_id"):
            return _tg_error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        with self._lock:
            self.callback_answers.append(dict(params))
        return _tg_ok(True)


def _tg_ok(result, **extra):
    return _reply(200, {"ok": True, "result": result, **extra})


def _tg_error(error_code, description, retry_after=None):
    return _reply(error_code, tg_error_body(error_code, description, retry_after))


# --- error bodies -----------------------------------------------------------------------------------


def wa_error_body(code, message, details=None, error_type="OAuthException"):
    """A Graph API error envelope, for ``fail_next``."""
    error = {"message": message, "type": error_type, "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "AFakeTraceId"
    return {"error": error}


def tg_error_body(error_code, description, retry_after=None):
    """A Bot API error answer, for ``fail_next``."""
    body = {"ok": False, "error_code": error_code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


# --- webhook payload builders -----------------------------------------------------------------------


def _epoch(timestamp):
    return int(time.time()) if timestamp is None else int(timestamp)


def body_bytes(payload):
    """The bytes a platform posts for ``payload``: compact JSON with escaped unicode (what Meta signs)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def wa_signature(body, app_secret):
    """The ``X-Hub-Signature-256`` header value of ``body`` (bytes, or a payload dict)."""
    if not isinstance(body, (bytes, bytearray)):
        body = body_bytes(body)
    return "sha256=" + hmac.new(app_secret.encode(), bytes(body), hashlib.sha256).hexdigest()


def wa_contact(wa_id, name="Demo Customer"):
    return {"profile": {"name": name}, "wa_id": wa_id}


def wa_message(wa_id, msg_type="text", content=None, wamid=None, timestamp=None, context=None):
    """One ``messages[]`` item; ``content`` is the object under ``msg_type`` (e.g. {"body": "hi"})."""
    message = {"from": wa_id, "id": wamid or f"wamid.IN{uuid.uuid4().hex.upper()}",
               "timestamp": str(_epoch(timestamp)), "type": msg_type}
    if context:
        message["context"] = context
    if content is not None:
        message[msg_type] = content
    return message


def wa_status(wamid, status, recipient_id, timestamp=None, error_code=None, error_title=None,
              error_details=None):
    """One ``statuses[]`` item; a failed one carries ``errors`` when ``error_code`` is given."""
    item = {"id": wamid, "status": status, "timestamp": str(_epoch(timestamp)), "recipient_id": recipient_id}
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": f"CONV{hashlib.sha256(recipient_id.encode()).hexdigest()[:16]}",
                                "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if error_code is not None:
        error = {"code": error_code, "title": error_title or "Error", "message": error_title or "Error"}
        if error_details:
            error["error_data"] = {"details": error_details}
        error["href"] = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
        item["errors"] = [error]
    return item


def wa_preference(wa_id, value, category="marketing_messages", timestamp=None, user_id=None):
    """One ``user_preferences[]`` item (value "stop" or "resume"); ``wa_id`` None for a person whose number is
    not visible (``user_id``, their BSUID, then keys it)."""
    item = {"detail": "User requested to stop marketing messages" if value == "stop"
            else "User requested to resume marketing messages", "category": category, "value": value,
            "timestamp": _epoch(timestamp)}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    return item


def wa_preference_payload(wa_id, value, user_id=None, name="Demo Customer", timestamp=None,
                          phone_number_id=DEMO_WA_PHONE_NUMBER_ID):
    """The ``user_preferences`` webhook of one stop or resume."""
    return wa_payload(field="user_preferences", contacts=[wa_user_contact(user_id, name, wa_id=wa_id)],
                      value_extra={"user_preferences": [wa_preference(wa_id, value, timestamp=timestamp,
                                                                      user_id=user_id)]},
                      phone_number_id=phone_number_id)


def wa_user_contact(user_id, name="Demo Customer", username=None, wa_id=None, parent_user_id=None):
    """One ``contacts[]`` item of 2026 webhooks: the BSUID always, the number only where it may be shown."""
    contact = {"profile": {"name": name, **({"username": username} if username else {})}}
    if wa_id:
        contact["wa_id"] = wa_id
    if user_id:
        contact["user_id"] = user_id
    if parent_user_id:
        contact["parent_user_id"] = parent_user_id
    return contact


def wa_user_message(user_id, msg_type="text", content=None, wamid=None, timestamp=None, wa_id=None,
                    parent_user_id=None):
    """One ``messages[]`` item from a person known by their BSUID (``from_user_id``); ``from`` only when
    ``wa_id`` is given (their number is visible)."""
    message = {"id": wamid or f"wamid.IN{uuid.uuid4().hex.upper()}", "timestamp": str(_epoch(timestamp)),
               "type": msg_type, "from_user_id": user_id}
    if wa_id:
        message["from"] = wa_id
    if parent_user_id:
        message["from_parent_user_id"] = parent_user_id
    if content is not None:
        message[msg_type] = content
    return message


def wa_user_text_payload(user_id, text, wamid=None, name="Demo Customer", username=None, wa_id=None,
                         parent_user_id=None, phone_number_id=DEMO_WA_PHONE_NUMBER_ID, timestamp=None):
    """The webhook of one inbound text of a person with a username: BSUID always, number only if ``wa_id``."""
    return wa_payload(messages=[wa_user_message(user_id, "text", {"body": text}, wamid=wamid, timestamp=timestamp,
                                                wa_id=wa_id, parent_user_id=parent_user_id)],
                      contacts=[wa_user_contact(user_id, name, username, wa_id=wa_id, parent_user_id=parent_user_id)],
                      phone_number_id=phone_number_id)


def wa_user_status(wamid, status, user_id=None, wa_id=None, timestamp=None, pricing_category=None,
                   pricing_type=None, error_code=None, error_title=None, error_details=None, parent_user_id=None):
    """One ``statuses[]`` item of 2026: ``recipient_user_id`` (the BSUID) and ``recipient_id`` only when the
    message went to the number; per-message ``pricing`` (PMP) when ``pricing_category`` is given."""
    item = {"id": wamid, "status": status, "timestamp": str(_epoch(timestamp))}
    if wa_id:
        item["recipient_id"] = wa_id
    if user_id and not (status == "failed" and wa_id):
        item["recipient_user_id"] = user_id
    if parent_user_id:
        item["recipient_parent_user_id"] = parent_user_id
    if pricing_category:
        item["pricing"] = {"billable": pricing_type == "regular", "pricing_model": "PMP",
                           "type": pricing_type or "regular", "category": pricing_category}
    if error_code is not None:
        error = {"code": error_code, "title": error_title or "Error", "message": error_title or "Error"}
        if error_details:
            error["error_data"] = {"details": error_details}
        item["errors"] = [error]
    return item


def wa_user_status_payload(statuses, user_id=None, name="Demo Customer", username=None, wa_id=None,
                           phone_number_id=DEMO_WA_PHONE_NUMBER_ID):
    """A statuses webhook; ``contacts`` is left out when every status failed, as Meta does."""
    contacts = [wa_user_contact(user_id, name, username, wa_id=wa_id)] \
        if any(item["status"] != "failed" for item in statuses) else []
    return wa_payload(statuses=statuses, contacts=contacts, phone_number_id=phone_number_id)


def wa_user_id_change(previous_user_id, user_id, wamid=None, previous_parent_user_id=None, parent_user_id=None,
                      timestamp=None, phone_number_id=DEMO_WA_PHONE_NUMBER_ID):
    """The ``user_changed_user_id`` system message: a new BSUID, no number, no ``contacts``."""
    system = {"type": "user_changed_user_id", "body": "User changed their business-scoped user id",
              "previous_user_id": previous_user_id, "user_id": user_id}
    if previous_parent_user_id:
        system["previous_parent_user_id"] = previous_parent_user_id
    if parent_user_id:
        system["parent_user_id"] = parent_user_id
    message = {"id": wamid or f"wamid.SYS{uuid.uuid4().hex.upper()}", "timestamp": str(_epoch(timestamp)),
               "type": "system", "system": system}
    return wa_payload(messages=[message], phone_number_id=phone_number_id)


def wa_number_change(previous_wa_id, wa_id, previous_user_id, user_id, wamid=None, timestamp=None,
                     phone_number_id=DEMO_WA_PHONE_NUMBER_ID):
    """The ``user_changed_number`` system message: the old number in ``from``, the new ids in ``system``."""
    message = {"from": previous_wa_id, "id": wamid or f"wamid.SYS{uuid.uuid4().hex.upper()}",
               "timestamp": str(_epoch(timestamp)), "type": "system",
               "system": {"type": "user_changed_number",
                          "body": f"User {previous_wa_id} changed from {previous_wa_id} to {wa_id}",
                          "wa_id": wa_id, "previous_user_id": previous_user_id, "user_id": user_id}}
    return wa_payload(messages=[message], phone_number_id=phone_number_id)


def wa_contact_info_reply(user_id, wa_id, origin="contact_request", wamid=None, name="Demo Customer",
                          username=None, card_name=None, timestamp=None, phone_number_id=DEMO_WA_PHONE_NUMBER_ID):
    """A ``contacts`` message: the answer to a contact info request (``origin="contact_request"``) or a
    contact card shared by hand (``origin="other"``, with a vCard)."""
    card = {"origin": origin, "phones": [{"phone": f"+{wa_id}", "wa_id": wa_id, "type": "CELL"}]}
    if card_name:
        card["name"] = {"formatted_name": card_name}
    if origin != "contact_request":
        card["vcard"] = f"BEGIN:VCARD\nVERSION:3.0\nFN:{card_name or name}\nTEL;type=CELL:+{wa_id}\nEND:VCARD"
    message = wa_user_message(user_id, "contacts", [card], wamid=wamid, timestamp=timestamp)
    return wa_payload(messages=[message], contacts=[wa_user_contact(user_id, name, username)],
                      phone_number_id=phone_number_id)


def wa_payload(messages=(), statuses=(), contacts=(), field="messages", value_extra=None,
               phone_number_id=DEMO_WA_PHONE_NUMBER_ID, display_phone_number=DEMO_WA_DISPLAY_NUMBER,
               waba_id=DEMO_WABA_ID):
    """A webhook envelope with one entry and one change; empty lists are left out."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}}
    for key, items in (("contacts", contacts), ("messages", messages), ("statuses", statuses)):
        if items:
            value[key] = list(items)
    value.update(value_extra or {})
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}]}


def wa_text_payload(wa_id, text, wamid=None, name="Demo Customer", phone_number_id=DEMO_WA_PHONE_NUMBER_ID,
                    timestamp=None):
    """The webhook of one inbound text message."""
    return wa_payload(messages=[wa_message(wa_id, "text", {"body": text}, wamid=wamid, timestamp=timestamp)],
                      contacts=[wa_contact(wa_id, name)], phone_number_id=phone_number_id)


def wa_batch(*payloads):
    """One envelope carrying the entries of several payloads (Meta batches deliveries)."""
    return {"object": "whatsapp_business_account",
            "entry": [entry for payload in payloads for entry in payload["entry"]]}


def tg_user(user_id, first_name="Demo", last_name=None, username=None):
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    user["language_code"] = "en"
    return user


def _tg_chat(user):
    return {"type": "private", **{k: v for k, v in user.items() if k in ("id", "first_name", "last_name", "username")}}


def tg_update(update_id, text="hello", chat_id=DEMO_TG_CHAT_ID, first_name="Demo", last_name=None,
              username=None, message_id=None, date=None, **fields):
    """An update with a private ``message``; ``fields`` add to it (photo=[...], caption=..., text=None)."""
    user = tg_user(chat_id, first_name, last_name, username)
    message = {"message_id": message_id or update_id, "from": user, "chat": _tg_chat(user), "date": _epoch(date)}
    if text is not None:
        message["text"] = text
    message.update(fields)
    return {"update_id": update_id, "message": message}


def tg_callback_update(update_id, data, chat_id=DEMO_TG_CHAT_ID, first_name="Demo", username=None,
                       callback_id=None, message_id=1):
    """An update with a ``callback_query`` (an inline button pressed under our message ``message_id``)."""
    user = tg_user(chat_id, first_name, username=username)
    return {"update_id": update_id, "callback_query": {
        "id": callback_id or str(4000000000000000000 + update_id),
        "from": user,
        "message": {"message_id": message_id, "from": _DEMO_BOT, "chat": _tg_chat(user), "date": _epoch(None),
                    "text": "Choose"},
        "chat_instance": "-1234567890",
        "data": data,
    }}


def tg_member_update(update_id, status, chat_id=DEMO_TG_CHAT_ID, first_name="Demo", username=None,
                     old_status=None, date=None):
    """An update with ``my_chat_member``: status "kicked" (blocked the bot) or "member" (unblocked)."""
    user = tg_user(chat_id, first_name, username=username)
    old_status = old_status or ("member" if status == "kicked" else "kicked")
    member = {"chat": _tg_chat(user), "from": user, "date": _epoch(date),
              "old_chat_member": {"user": _DEMO_BOT, "status": old_status},
              "new_chat_member": {"user": _DEMO_BOT, "status": status}}
    if status == "kicked":
        member["new_chat_member"]["until_date"] = 0
    return {"update_id": update_id, "my_chat_member": member}
