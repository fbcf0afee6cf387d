"""WhatsApp Business Cloud API (Meta Graph): webhook authentication and parsing, outbound calls."""
import re

from . import _http, _meta
from ._inbound import get_dict, get_dicts, get_int, get_number, get_str, load_object, stable_key, to_utc
from .base import (
    AUDIO, BUTTON, DOCUMENT, IDENTITY, IMAGE, LOCATION, MESSAGE, OPT_IN, OPT_OUT, OTHER, PERMANENT, RETRYABLE, STATUS,
    STICKER, TEXT, UNKNOWN, VIDEO, WINDOW_CLOSED, DownloadedMedia, Event, Location, MalformedError, Media,
    ProviderError, SendResult,
)
from .base import CHECK_MANUAL, CHECK_WRONG, Finding, unreachable_finding

MEDIA_ID_RE = re.compile(r"[A-Za-z0-9_-]+")  # goes into a URL path: nothing that could change it

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOCUMENT = 100 * _http.MEGABYTE

#: message type -> content type of the media kinds, and those that carry a caption
MEDIA_TYPES = {"image": IMAGE, "document": DOCUMENT, "audio": AUDIO, "video": VIDEO, "sticker": STICKER}
CAPTIONED = {"image", "document", "video"}
KNOWN_TYPES = {"text", "location", "interactive", "button", *MEDIA_TYPES}

#: a business-scoped user id (BSUID) as a webhook gives it ("US.1349...", parent BSUIDs "US.ENT.1181..."): Meta
#: gives no exact form, so any short id without spaces or markup. Unlike a wa_id it is never only digits, and a
#: send must name it as ``recipient``, not ``to``.
USER_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")
#: a phone number as Meta gives it (wa_id) or as a send's ``to`` takes it
NUMBER_RE = re.compile(r"\+?\d{6,15}")
#: the kinds of a person's ids, as Event.aliases name them
NUMBER, BSUID, PARENT_BSUID = "number", "bsuid", "parent_bsuid"

#: error codes: throttling and transient failures; refusals by the person (131050: they stopped marketing
#: messages). 131026 (undeliverable: not on WhatsApp, old app, terms not accepted) is a failure of that message
#: only, no refusal; so is 131049 (Meta held a marketing message back: per-user limit, US numbers), which must
#: not be sent again for 24 hours.
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131056, 131057, 133016})
REFUSED_CODES = {131050: "marketing"}
WINDOW_CODE = 131047
TOKEN_CODE = 190
PAIR_RATE_CODE = 131056        # one person gets too many messages at once: only their messages wait, 4^n seconds
MAINTENANCE_CODE = 131057      # the account is being upgraded: about a minute
MAINTENANCE_WAIT = 60
HELD_BACK_CODE = 131049        # not delivered by Meta's choice: no resend before a day
HELD_BACK_WAIT = 24 * 3600
BSUID_REFUSED_CODE = 131062    # authentication templates need a number: refused before the call

PREFERENCE_KINDS = {"stop": OPT_OUT, "resume": OPT_IN}

#: templates fetched per call, and the most pages followed (Meta allows at most 250 templates per WABA
#: and language on most tiers; this bounds a sync whatever the API answers)
TEMPLATE_PAGE_SIZE = 100
MAX_TEMPLATE_PAGES = 50


class WhatsAppProvider(_meta.MetaWebhook, _http.HttpProvider):
    """One WhatsApp Business phone number.

    Config: ``phone_number_id``, ``access_token``, ``app_secret`` (webhook signatures),
    ``verify_token`` (GET handshake), ``api_version`` (default "v21.0").
    """

    name = "whatsapp"
    icon = "fa fa-whatsapp"
    color = "#25d366"
    default_base_url = "https://graph.facebook.com"
    window_hours = 24
    rate_limit = 80  # PROVIDERS.md: 80 msg/s per phone number by default
    has_receipts = True
    has_templates = True
    syncs_templates = True
    starts_by_phone = True
    asks_contact_info = True
    address_kind = "phone"
    secret_keys = ("access_token", "app_secret", "verify_token")
    max_media_bytes = 100 * _http.MEGABYTE

    @classmethod
    def address_for_phone(cls, phone):
        """A wa_id is the number's digits without the "+"."""
        digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
        return digits or None

    @classmethod
    def portable_id(cls, external_user_id):
        return not is_bsuid(external_user_id)

    @classmethod
    def status_failure(cls, event):
        if event.error_kind == RETRYABLE and event.error_code and event.error_code.isdigit():
            return _retryable(int(event.error_code), event.error_message or f"WhatsApp error {event.error_code}",
                              code=event.error_code)
        return super().status_failure(event)

    @classmethod
    def resend_wait(cls, error_code):
        return HELD_BACK_WAIT if error_code == str(HELD_BACK_CODE) else None

    def __init__(self, config):
        super().__init__(config)
        self.api_version = _meta.api_version(self.config)
        self.phone_number_id = self.config.get("phone_number_id")

    # --- webhook side (handshake, signature and delivery key: _meta.MetaWebhook) ---------------------

    def parse(self, body):
        envelope = load_object(body)
        if envelope.get("object") != "whatsapp_business_account":
            raise MalformedError("not a WhatsApp Business Account webhook")
        return [
            event
            for entry in get_dicts(envelope, "entry", required=True)
            for change in get_dicts(entry, "changes")
            for event in _change_events(change)
        ]

    # --- outbound -----------------------------------------------------------------------------------

    def send_text(self, to, text, reply_to=None, tag=None):
        _http.check_length(text, MAX_TEXT, "the text")
        return self._send(to, "text", {"preview_url": False, "body": text}, reply_to=reply_to)

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        _http.check_length(caption, MAX_CAPTION, "the caption")
        _http.check_size(content, MAX_DOCUMENT, "the document")
        upload = self.http.json(
            "POST", self._url(self.phone_number_id, "media"), headers=self._auth(),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        media_id = upload.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise ProviderError(PERMANENT, "the media upload answered without an id", code="bad_response")
        document = {"id": media_id, "filename": filename}
        if caption:
            document["caption"] = caption
        return self._send(to, "document", document)

    def send_template(self, to, name, language, params=None):
        template = {"name": name, "language": {"code": language}}
        components = _template_components(params)
        if components:
            template["components"] = components
        return self._send(to, "template", template)

    def send_contact_request(self, to, text):
        """Ask a person whose number is not visible to share it (an interactive message: inside the window)."""
        _http.check_length(text, MAX_TEXT, "the text")
        return self._send(to, "interactive", {"type": "request_contact_info", "body": {"text": text},
                                              "action": {"name": "request_contact_info"}})

    def list_templates(self, business_account_id):
        """Every template of the WhatsApp Business Account (``GET /<WABA-id>/message_templates``, page by
        page along the ``after`` cursor): dicts with ``id``, ``name``, ``language``, ``status``, ``category``,
        ``parameter_format`` and ``components`` as Meta gives them."""
        if not isinstance(business_account_id, str) or not business_account_id.isdigit():
            raise ProviderError(PERMANENT, "no valid WhatsApp Business Account ID", code="config")
        fields = "id,name,language,status,category,parameter_format,components"
        templates, after = [], None
        for _page in range(MAX_TEMPLATE_PAGES):
            params = {"fields": fields, "limit": TEMPLATE_PAGE_SIZE}
            if after:
                params["after"] = after
            answer = self.http.json("GET", self._url(business_account_id, "message_templates"),
                                    headers=self._auth(), params=params)
            try:
                templates += [t for t in get_dicts(answer, "data") if isinstance(t.get("name"), str)]
                paging = get_dict(answer, "paging")
                after = get_str(get_dict(paging, "cursors"), "after") if paging.get("next") else None
            except MalformedError:
                raise ProviderError(PERMANENT, "unexpected answer to the template list", code="bad_response") \
                    from None
            if not after:
                break
        return templates

    def download_media(self, media):
        if not media or not isinstance(media.id, str) or not MEDIA_ID_RE.fullmatch(media.id):
            raise ProviderError(PERMANENT, "no valid WhatsApp media id to download", code="no_media")
        info = self.http.json("GET", self._url(media.id), headers=self._auth())
        url, size = info.get("url"), info.get("file_size")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError(PERMANENT, "the media answer has no download URL", code="bad_response")
        if isinstance(size, int) and size > self.max_media_bytes:
            raise _http.too_large(self.max_media_bytes)
        content, content_type = self.http.download(url, self.max_media_bytes, headers=self._auth())
        mime_type = info.get("mime_type") or media.mime_type or content_type
        return DownloadedMedia(content, mime_type=mime_type, filename=media.filename)

    def test_connection(self):
        info = self.http.json("GET", self._url(self.phone_number_id), headers=self._auth(),
                              params={"fields": "display_phone_number,verified_name"})
        name, number = info.get("verified_name"), info.get("display_phone_number")
        return " ".join(filter(None, [name, number and f"({number})"])) or f"phone number {self.phone_number_id}"

    # --- set-up checks ------------------------------------------------------------------------------

    def health_checks(self, webhook_url):
        """The phone number (status, registration, messaging limit), the access token (debug_token: valid, expiry,
        permissions), the App Secret (``appsecret_proof`` of the calls: Meta refuses a wrong one) and the app's
        webhook (its callback URL and fields, with the app token), and the app's subscription to the WABA."""
        findings = []
        secret = self.config.get("app_secret") or ""
        params = {"fields": "display_phone_number,verified_name,status,code_verification_status,"
                            "quality_rating,messaging_limit_tier,platform_type"}
        if secret:
            params["appsecret_proof"] = _meta.appsecret_proof(self.config.get("access_token") or "", secret)
        try:
            phone = self.http.json("GET", self._url(self.phone_number_id), headers=self._auth(), params=params)
        except ProviderError as error:
            if secret and "appsecret_proof" in (error.message or ""):
                return [Finding("secret_wrong", CHECK_WRONG)]
            return [unreachable_finding(error)]
        findings.append(Finding("token_valid", params={
            "name": str(phone.get("verified_name") or ""), "number": str(phone.get("display_phone_number") or "")}))
        findings.append(Finding("secret_ok") if secret else Finding("secret_missing", CHECK_WRONG))
        registered = phone.get("platform_type")
        status = phone.get("status")
        facts = {"registration_state": str(status or registered or "")}
        if phone.get("messaging_limit_tier"):
            facts["messaging_limit_tier"] = str(phone["messaging_limit_tier"])
        if registered and registered != "CLOUD_API":
            findings.append(Finding("number_not_registered", CHECK_WRONG, {"platform": str(registered)}, facts))
        elif status and status not in ("CONNECTED",):
            findings.append(Finding("number_status", CHECK_WRONG, {"status": str(status)}, facts))
        else:
            findings.append(Finding("number_connected", params={"tier": facts.get("messaging_limit_tier", "")},
                                    facts=facts))
        token_findings, app_id = _meta.token_findings(
            self, self._url("debug_token"), self.config.get("access_token") or "",
            ("whatsapp_business_messaging", "whatsapp_business_management"))
        findings += token_findings
        if app_id and secret:
            findings += [finding for finding in _meta.app_webhook_findings(
                self, self._url(app_id, "subscriptions"), app_id, secret, webhook_url, "whatsapp_business_account",
                ("messages",)) if finding.key != "secret_ok"]
        waba = self.config.get("business_account_id")
        if waba:
            try:
                apps = self.http.json("GET", self._url(str(waba), "subscribed_apps"), headers=self._auth())
                subscribed = [get_dict(item, "whatsapp_business_api_data") for item in get_dicts(apps, "data")]
            except (ProviderError, MalformedError) as error:
                findings.append(unreachable_finding(error) if isinstance(error, ProviderError)
                                else Finding("platform_error", CHECK_WRONG, {"reason": str(error)}))
            else:
                if app_id and not any(str(app.get("id")) == app_id for app in subscribed if app):
                    findings.append(Finding("app_not_subscribed", CHECK_WRONG))
                elif subscribed:
                    findings.append(Finding("app_subscribed"))
                else:
                    findings.append(Finding("app_not_subscribed", CHECK_WRONG))
        else:
            findings.append(Finding("waba_missing", CHECK_MANUAL))
        return findings

    # --- helpers ------------------------------------------------------------------------------------

    def _url(self, *parts):
        return "/".join([self.base_url, self.api_version, *parts])

    def _auth(self):
        return {"Authorization": f"Bearer {self.config.get('access_token') or ''}"}

    def _send(self, to, msg_type, content, reply_to=None):
        address = str(to).strip()
        # a BSUID put in "to" is answered 200 with a message id and then dropped by Meta without a word
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   **({"recipient": address} if is_bsuid(address) else {"to": address.lstrip("+")}),
                   "type": msg_type, msg_type: content}
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        answer = self.http.json("POST", self._url(self.phone_number_id, "messages"),
                                headers=self._auth(), json=payload)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise ProviderError(PERMANENT, "the send answered without a message id", code="bad_response")
        return SendResult(message_id, raw=answer)

    def _classify(self, response):
        status = response.status_code
        error = _meta.graph_error(response)
        code = _meta.int_field(error, "code")
        retryable = code in RETRYABLE_CODES or status == 429 or status >= 500
        common = {"code": status if code is None else code, "http_status": status}
        if code == TOKEN_CODE:
            return ProviderError(PERMANENT, "WhatsApp access token is invalid or expired (error 190)", **common)
        if code == WINDOW_CODE:
            return ProviderError(WINDOW_CLOSED, _error_text(error, status), **common)
        if retryable:
            return _retryable(code, _error_text(error, status), _http.retry_after(response), **common)
        return ProviderError(PERMANENT, _error_text(error, status), refused=REFUSED_CODES.get(code), **common)


def is_bsuid(value):
    """Whether a person's address is a business-scoped user id: anything but a phone number (a wa_id is digits)."""
    return isinstance(value, str) and not NUMBER_RE.fullmatch(value.strip())


def _retryable(error_code, text, retry_after=None, **common):
    """A throttling or transient failure: the whole number slows down, except for a pair rate (one person gets
    too many messages: only theirs wait, 4^n seconds); maintenance lasts about a minute."""
    if error_code == MAINTENANCE_CODE:
        retry_after = max(retry_after or 0, MAINTENANCE_WAIT)
    pair_rate = error_code == PAIR_RATE_CODE
    return ProviderError(RETRYABLE, text, retry_after=retry_after, recipient_only=pair_rate,
                         backoff_base=4 if pair_rate else None, **common)


def _error_text(error, status):
    message, data = error.get("message"), error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return f"WhatsApp API answered HTTP {status}"
    text = f"WhatsApp error {error.get('code')}: {message}"
    return f"{text} ({details})" if isinstance(details, str) and details else text


def _template_components(params):
    """``params``: None, a list of body texts, or a list of component dicts used as-is."""
    if not params:
        return None
    if all(isinstance(param, dict) for param in params):
        return list(params)
    if any(isinstance(param, dict) for param in params):
        raise ProviderError(PERMANENT, "template params mix components and texts", code="invalid_params")
    return [{"type": "body", "parameters": [{"type": "text", "text": str(param)} for param in params]}]


# --- webhook parsing --------------------------------------------------------------------------------


def _change_events(change):
    events = _field_events(change)
    value = change.get("value")
    number_id = get_str(get_dict(value, "metadata"), "phone_number_id") if isinstance(value, dict) else None
    for event in events:
        event.account_ref = number_id
    return events


def _field_events(change):
    field = get_str(change, "field")
    if field == "messages":
        value = get_dict(change, "value", required=True)
        contacts = _contacts(value)
        events = [_message_event(message, contacts) for message in get_dicts(value, "messages")]
        events += [_status_event(status) for status in get_dicts(value, "statuses")]
        events += [_unknown_event(error) for error in get_dicts(value, "errors")]
        if not any(key in value for key in ("messages", "statuses", "errors")):
            events.append(_unknown_event(change))
        return events
    if field == "user_preferences":
        value = get_dict(change, "value", required=True)
        return [_preference_event(item) for item in get_dicts(value, "user_preferences")]
    if field == "user_id_update":
        # an early shape of BSUID changes (withdrawn; they come as system messages): read if it ever arrives
        value = get_dict(change, "value", required=True)
        return [_user_id_update_event(item) for item in get_dicts(value, "user_id_update") or [value]]
    return [_unknown_event(change)]


def _contacts(value):
    """The ``contacts`` of one change by each of their ids (wa_id, user_id); key None holds the first."""
    contacts = {}
    for contact in get_dicts(value, "contacts"):
        profile = get_dict(contact, "profile")
        get_str(profile, "name"), get_str(profile, "username")  # of the right type, or a malformed webhook
        contacts.setdefault(None, contact)
        for key in ("wa_id", "user_id"):
            person_id = get_str(contact, key)
            if person_id:
                contacts[person_id] = contact
    return contacts


def _phone(wa_id):
    return f"+{wa_id}" if wa_id and wa_id.isascii() and wa_id.isdigit() else None


def _user_id(container, key):
    """A BSUID field, whole as received; an id that cannot be one is a malformed webhook."""
    value = get_str(container, key)
    if value is None or value == "":
        return None
    if not USER_ID_RE.fullmatch(value):
        raise MalformedError(f"{key!r} is not a business-scoped user id")
    return value


def _optional_id(container, key):
    """An id that may be left out (a number that is not visible); present but empty, it is malformed."""
    return get_str(container, key, required=True) if key in container and container[key] is not None else None


def _aliases(wa_id=None, user_id=None, parent_user_id=None):
    """The (kind, value) ids of one person that a webhook gives (a number only as the digits Meta gives)."""
    wa_id = wa_id if wa_id and wa_id.isascii() and wa_id.isdigit() else None
    return tuple((kind, value) for kind, value in ((NUMBER, wa_id), (BSUID, user_id), (PARENT_BSUID, parent_user_id))
                 if value)


def _message_event(message, contacts):
    wamid = get_str(message, "id", required=True)
    if get_str(message, "type") == "system":
        return _system_event(message, wamid)
    if "group_id" in message:
        return _unknown_event(message)  # group chats are not supported: kept, never put in the sender's own chat
    # a person with a username whose number is not visible comes with their BSUID only
    wa_id = _optional_id(message, "from")
    user_id = _user_id(message, "from_user_id")
    if not wa_id and not user_id:
        raise MalformedError("a message without its sender (neither 'from' nor 'from_user_id')")
    contact = contacts.get(wa_id) or contacts.get(user_id) or contacts.get(None) or {}
    if not user_id and wa_id and contacts.get(wa_id):
        user_id = _user_id(contact, "user_id")  # the sender's own contact entry names their BSUID too
    profile = get_dict(contact, "profile")
    return Event(
        kind=MESSAGE,
        external_user_id=wa_id or user_id,
        phone=_phone(wa_id),
        profile_name=get_str(profile, "name"),
        username=get_str(profile, "username"),
        aliases=_aliases(wa_id, user_id, _user_id(message, "from_parent_user_id")
                         or _user_id(contact, "parent_user_id")),
        external_id=wamid,
        dedup_key=f"msg:{wamid}",
        timestamp=to_utc(message.get("timestamp")),
        reply_to=get_str(get_dict(message, "context"), "id"),
        raw=message,
        **_message_content(message),
    )


def _system_event(message, wamid):
    """A change of the person's ids (new BSUID, new number): an identity event, never a chat message."""
    system = get_dict(message, "system")
    sys_type = get_str(system, "type")
    if sys_type not in ("user_changed_user_id", "user_changed_number", "customer_changed_number"):
        return _unknown_event(message)
    # the body's wording changes: only the typed fields are read
    new_number = get_str(system, "wa_id") or get_str(system, "new_wa_id")
    current = _aliases(new_number, _user_id(system, "user_id"), _user_id(system, "parent_user_id"))
    previous = _aliases(get_str(message, "from"), _user_id(system, "previous_user_id") or
                        _user_id(message, "from_user_id"), _user_id(system, "previous_parent_user_id"))
    previous = tuple(alias for alias in previous if alias not in current)
    if not current or not previous:
        raise MalformedError(f"a {sys_type} system message without the previous and the new ids")
    return Event(kind=IDENTITY, external_user_id=new_number or dict(current).get(BSUID), phone=_phone(new_number),
                 aliases=current, previous_aliases=previous, external_id=wamid, dedup_key=f"msg:{wamid}",
                 timestamp=to_utc(message.get("timestamp")), raw=message)


def _user_id_update_event(item):
    ids = get_dict(item, "user_id")
    previous, current = _user_id(ids, "previous"), _user_id(ids, "current")
    if not previous or not current:
        return _unknown_event(item)
    return Event(kind=IDENTITY, external_user_id=current, aliases=_aliases(user_id=current),
                 previous_aliases=_aliases(user_id=previous), dedup_key=stable_key("user_id_update:", item),
                 timestamp=to_utc(item.get("timestamp")), raw=item)


def _message_content(message):
    """Event fields describing what a message carries."""
    msg_type = get_str(message, "type")
    part = get_dict(message, msg_type) if msg_type in KNOWN_TYPES else {}
    if msg_type == "text":
        return {"content_type": TEXT, "text": get_str(part, "body")}
    if msg_type in MEDIA_TYPES:
        media = Media(id=get_str(part, "id"), mime_type=get_str(part, "mime_type"),
                      filename=get_str(part, "filename"), sha256=get_str(part, "sha256"))
        caption = get_str(part, "caption") if msg_type in CAPTIONED else None
        return {"content_type": MEDIA_TYPES[msg_type], "media": media, "text": caption}
    if msg_type == "location":
        location = Location(
            latitude=get_number(part, "latitude", required=True),
            longitude=get_number(part, "longitude", required=True),
            name=get_str(part, "name"), address=get_str(part, "address"), url=get_str(part, "url"),
        )
        text = ", ".join(filter(None, [location.name, location.address]))
        return {"content_type": LOCATION, "location": location,
                "text": text or f"{location.latitude}, {location.longitude}"}
    if msg_type == "interactive":
        reply_type = get_str(part, "type")
        if reply_type in ("button_reply", "list_reply"):
            reply = get_dict(part, reply_type)
            return {"content_type": BUTTON, "payload": get_str(reply, "id"), "text": get_str(reply, "title")}
    if msg_type == "button":
        return {"content_type": BUTTON, "payload": get_str(part, "payload"), "text": get_str(part, "text")}
    if msg_type == "contacts":  # a list, not an object
        return _shared_contacts(message)
    return {"content_type": OTHER}


def _shared_contacts(message):
    """Contact cards: shown as text; a number shared through our contact info request (origin
    ``contact_request``, sent by the person themself) is theirs, a card forwarded by hand (``other``) never."""
    cards, shared = [], None
    for card in get_dicts(message, "contacts"):
        phones = get_dicts(card, "phones")
        numbers = [get_str(phone, "phone") or _phone(get_str(phone, "wa_id")) for phone in phones]
        name = get_str(get_dict(card, "name"), "formatted_name")
        cards.append(" ".join(filter(None, [name, ", ".join(filter(None, numbers))])))
        if get_str(card, "origin") == "contact_request" and shared is None:
            shared = next(filter(None, (_phone(get_str(phone, "wa_id")) for phone in phones)), None)
    return {"content_type": OTHER, "text": "; ".join(filter(None, cards)) or None, "shared_phone": shared}


def _status_event(status):
    status_id = get_str(status, "id", required=True)
    state = get_str(status, "status", required=True)
    errors = get_dicts(status, "errors")
    error = errors[0] if errors else {}
    code = get_int(error, "code")
    title = get_str(error, "title") or get_str(error, "message")
    details = get_str(get_dict(error, "error_data"), "details")
    pricing = get_dict(status, "pricing")
    # a send to a BSUID whose number may not be shown has no recipient_id
    wa_id, user_id = _optional_id(status, "recipient_id"), _user_id(status, "recipient_user_id")
    parent = _user_id(status, "recipient_parent_user_id") or _user_id(status, "parent_recipient_user_id")
    return Event(
        kind=STATUS,
        external_id=status_id,
        external_user_id=wa_id or user_id,
        aliases=_aliases(wa_id, user_id, parent),
        status=state,
        dedup_key=f"status:{status_id}:{state}",
        timestamp=to_utc(status.get("timestamp")),
        error_code=None if code is None else str(code),
        error_message=": ".join(filter(None, [title, details])) or None,
        error_kind=_error_kind(code) if state == "failed" else None,
        refused=REFUSED_CODES.get(code) if state == "failed" else None,
        pricing_category=get_str(pricing, "category"),
        pricing_type=get_str(pricing, "type"),
        raw=status,
    )


def _error_kind(code):
    """The class of a failure reported by a status (as the synchronous answer would classify it)."""
    if code == WINDOW_CODE:
        return WINDOW_CLOSED
    return RETRYABLE if code in RETRYABLE_CODES else PERMANENT


def _preference_event(item):
    # the number may be left out for a person with a username: their BSUID keys the preference then
    wa_id, user_id = _optional_id(item, "wa_id"), _user_id(item, "user_id")
    if not wa_id and not user_id:
        raise MalformedError("a user preference without its person (neither 'wa_id' nor 'user_id')")
    category, value = get_str(item, "category"), get_str(item, "value")
    timestamp = item.get("timestamp")
    kind = PREFERENCE_KINDS.get(value) if category == "marketing_messages" else None
    return Event(
        kind=kind or UNKNOWN,
        external_user_id=wa_id or user_id,
        phone=_phone(wa_id),
        aliases=_aliases(wa_id, user_id),
        dedup_key=f"pref:{user_id or wa_id}:{category}:{value}:{timestamp}",
        timestamp=to_utc(timestamp),
        raw=item,
    )


def _unknown_event(raw):
    return Event(kind=UNKNOWN, dedup_key=stable_key("unknown:", raw), raw=raw)
