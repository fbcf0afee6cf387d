"""Provider-neutral types of the provider layer.

Pure Python: nothing here (or anywhere under ``providers/``) imports odoo. The Odoo models talk to a
platform only through :class:`Provider` and the normalized :class:`Event` it produces, and ask it
questions ("how long is the window?", "is this error retryable?") instead of branching on names.
"""
import dataclasses
import datetime
import typing

# --- errors -----------------------------------------------------------------------------------------


class WebhookError(Exception):
    """A webhook request that must be refused; ``http_status`` is the answer to give."""

    http_status = 400


class AuthError(WebhookError):
    """Missing or wrong signature / secret / verify token (answer 403)."""

    http_status = 403


class MalformedError(WebhookError):
    """A body that is not what the platform sends (answer 400)."""

    http_status = 400


# Error classes of an outbound call (ProviderError.kind)
RETRYABLE = "retryable"      # rate limits, 5xx, network: try again later (honour retry_after)
WINDOW_CLOSED = "window"     # outside the platform's reply window: only a template may go
PERMANENT = "permanent"      # anything else: a person must look at it

# What a refusal by the person covers (ProviderError.refused, Event.refused); a purpose name ("marketing")
# when the person refused that purpose only
REFUSED_BLOCK = "block"      # the person blocked us: nothing reaches them until they come back


class ProviderError(Exception):
    """An outbound call that failed, classified.

    ``kind`` is one of RETRYABLE, WINDOW_CLOSED, PERMANENT; ``code`` the platform's error code as a
    string (e.g. "131047", "429", "network"); ``retry_after`` seconds to wait (RETRYABLE only, may be
    None); ``refused`` set only when the person refused the message (REFUSED_BLOCK, or the purpose they
    opted out of, e.g. "marketing"): a number that cannot receive it (not on the platform, an old app) is no
    refusal. The message never contains a credential.
    """

    def __init__(self, kind, message, code=None, retry_after=None, http_status=None, refused=None,
                 recipient_only=False, backoff_base=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = None if code is None else str(code)
        self.retry_after = retry_after
        self.http_status = http_status
        self.refused = refused
        #: RETRYABLE: only this person is throttled (a pair rate), the account's other sends go on
        self.recipient_only = recipient_only
        #: RETRYABLE: wait backoff_base ** (attempt - 1) seconds (the platform's own rule), instead of the default
        self.backoff_base = backoff_base

    @property
    def blocked(self):
        return self.refused == REFUSED_BLOCK

    @property
    def retryable(self):
        return self.kind == RETRYABLE

    def __repr__(self):
        return f"ProviderError({self.kind!r}, {self.message!r}, code={self.code!r}, retry_after={self.retry_after!r})"


# --- normalized inbound events ----------------------------------------------------------------------

# Event.kind
MESSAGE = "message"          # a person wrote (any content type, incl. button/list replies, callbacks)
STATUS = "status"            # delivery state of one of our outbound messages
OPT_OUT = "opt_out"          # WhatsApp marketing "stop", later WeChat unsubscribe
OPT_IN = "opt_in"            # WhatsApp marketing "resume"
BLOCK = "block"              # Telegram: user blocked the bot (my_chat_member kicked)
UNBLOCK = "unblock"          # Telegram: user unblocked the bot (my_chat_member member)
ECHO = "echo"                # a message our own account sent, as the platform echoes it back (Meta ``is_echo``,
                             # X events whose sender is us): ours from Odoo are known by external_id; one a
                             # colleague typed in the platform's own app is stored as outbound, once
IDENTITY = "identity"        # the person's platform ids changed (WhatsApp new BSUID or number): no chat message
UNKNOWN = "unknown"          # anything else: kept (raw) so nothing is dropped

# Event.content_type for MESSAGE events
TEXT, IMAGE, DOCUMENT, AUDIO, VIDEO, STICKER, LOCATION, BUTTON, CALLBACK, OTHER = (
    "text", "image", "document", "audio", "video", "sticker", "location", "button", "callback", "other")


@dataclasses.dataclass
class Media:
    """A media item to be downloaded later (WhatsApp media id, Telegram file_id, or a direct URL)."""

    id: str = None
    url: str = None
    mime_type: str = None
    filename: str = None
    sha256: str = None
    file_size: int = None


@dataclasses.dataclass
class Location:
    latitude: float
    longitude: float
    name: str = None
    address: str = None
    url: str = None


@dataclasses.dataclass
class Event:
    """One normalized inbound event. One webhook POST may carry many."""

    kind: str
    external_user_id: str = None        # wa_id, Telegram chat id, PSID, OpenID (as str)
    external_id: str = None             # message id (wamid, "<chat_id>:<message_id>"), or status target id
    dedup_key: str = None               # unique key of this event within the account
    timestamp: datetime.datetime = None  # aware UTC
    profile_name: str = None            # display name the platform gives for the person
    username: str = None                # Telegram @username
    phone: str = None                   # E.164 with '+' where the platform gives a phone (WhatsApp)
    content_type: str = None            # TEXT ... OTHER for MESSAGE events
    text: str = None                    # text body, caption, button/list title, callback data
    payload: str = None                 # button / list / callback / /start payload
    media: Media = None
    location: Location = None
    reply_to: str = None                # external id of the message replied to
    status: str = None                  # STATUS: sent | delivered | read | failed
    error_code: str = None              # STATUS failed: platform code as str
    error_message: str = None
    error_kind: str = None              # STATUS failed: RETRYABLE, WINDOW_CLOSED or PERMANENT (as ProviderError)
    refused: str = None                 # STATUS failed: what the person refused (as ProviderError.refused)
    callback_query_id: str = None       # Telegram callback query to answer
    raw: dict = None                    # the platform's own object for this event (always set)
    account_ref: str = None             # our side of the event as the platform names it (WhatsApp
                                        # metadata.phone_number_id, Meta page id): one app's webhook may carry
                                        # several numbers or pages
    watermark: datetime.datetime = None  # STATUS without external_id: every message we sent to the person up
                                        # to this time (aware UTC) reached ``status`` (Meta delivery/read)
    aliases: tuple = ()                 # every id of the person the event carries, as (kind, value) pairs: WhatsApp
                                        # ("number", wa_id), ("bsuid", user_id), ("parent_bsuid", parent_user_id)
    previous_aliases: tuple = ()        # IDENTITY: the ids the person had before the change, as ``aliases``
    shared_phone: str = None            # MESSAGE: E.164 number the person shared on our request (WhatsApp contact
                                        # info request, origin ``contact_request``); never a forwarded card
    pricing_category: str = None        # STATUS: the platform's pricing of the message (WhatsApp pricing.category)
    pricing_type: str = None            # STATUS: WhatsApp pricing.type (regular = billed, free_customer_service...)
    referral: str = None                # a click-to-chat reference the platform passes (Meta ``ref``, a
                                        # WeChat QR scene): "JOB-<id>" starts an application


@dataclasses.dataclass
class ReplyTerms:
    """Whether a free-form (non-template) message may go now, and how (see Provider.reply_terms)."""

    allowed: bool
    tag: str = None                      # what the send must carry to go (Meta ``HUMAN_AGENT``), else None
    closes_at: datetime.datetime = None  # when the current permission ends (aware UTC); None: no window
    window_hours: int = None             # the length of the window that applies (for messages to people)


@dataclasses.dataclass
class Profile:
    """What the platform tells about a person (Provider.fetch_profile); every field optional."""

    name: str = None
    picture_url: str = None
    language: str = None
    username: str = None
    union_id: str = None                 # one person across accounts of the same owner (WeChat UnionID)


@dataclasses.dataclass
class SendResult:
    external_id: str                    # provider message id of what we sent
    raw: dict = None


@dataclasses.dataclass
class DownloadedMedia:
    content: bytes
    mime_type: str = None
    filename: str = None


# --- the provider interface -------------------------------------------------------------------------


class Provider:
    """One configured account of a platform.

    ``config`` keys (all optional except what the platform needs): ``base_url`` (API root; the real one
    by default), ``timeout`` (seconds, every HTTP call has one), and the platform's credentials:
    WhatsApp ``phone_number_id``, ``access_token``, ``app_secret``, ``verify_token``, ``api_version``;
    Telegram ``bot_token``, ``secret_token``.
    """

    name: str = None
    #: how people recognize the platform in Discuss: a Font Awesome 4 icon class and its colour (CSS)
    icon = "fa fa-commenting"
    color = None
    default_base_url: str = None
    #: hours of the customer-service window opened by an inbound message; None: no window
    window_hours: typing.Optional[int] = None
    #: maximum size of a webhook body we accept (bytes)
    max_body_size = 1024 * 1024
    #: sends per second the platform accepts for one account (phone number, bot); None: unknown
    rate_limit = None
    #: whether the platform sends delivery/read receipts
    has_receipts = False
    #: whether the platform supports template messages outside the window
    has_templates = False
    #: whether ``list_templates`` fetches the account's approved templates (else they are typed in when sent)
    syncs_templates = False
    #: whether the platform can ask a person whose number is hidden to share it (``send_contact_request``)
    asks_contact_info = False
    #: whether the business may write first to a phone number (``address_for_phone`` gives the address)
    starts_by_phone = False
    #: hours after the standard window during which a human agent's reply may still go with ``human_tag``
    #: (Meta's HUMAN_AGENT, when the account has the permission: config ``human_agent``); None: none
    human_window_hours = None
    human_tag = None
    #: what a person's address on the platform is, for people reading the conversation: "phone", "chat_id",
    #: "psid", "igsid", "user_id", "openid"
    address_kind = None
    #: whether the account answers a GET verification with a token typed in the platform's dashboard
    has_verify_token = False
    #: whether ``register_webhook`` sets the webhook through the API (else it is set in the platform's dashboard)
    registers_webhook = False
    #: who a message typed in the platform's own app appears to come from ("Meta", "X")
    echo_author = None
    #: whether ``fetch_profile`` tells the person's name (and picture) after their first message
    has_profiles = False
    #: config keys that hold secrets: never logged, never shown
    secret_keys = ()
    #: content type of the GET handshake's answer (X answers its CRC in JSON)
    handshake_content_type = "text/plain"
    #: the body of the 200 that acknowledges a stored delivery (WeChat expects "success")
    acknowledgement = "OK"

    @classmethod
    def address_for_phone(cls, phone):
        """The platform address of a person known only by an E.164 number, or None where a business cannot
        write first to a number (a bot waits for the person to write)."""

    @classmethod
    def portable_id(cls, external_user_id):
        """Whether a person's id names them on every account of the platform (a WhatsApp number does; a
        business-scoped user id belongs to one business portfolio and is never matched across accounts)."""
        return True

    @classmethod
    def status_failure(cls, event):
        """The failure a ``failed`` STATUS event reports, classified as a send's answer would be (a ProviderError)."""
        return ProviderError(event.error_kind or PERMANENT, event.error_message or event.error_code or "",
                             code=event.error_code, refused=event.refused)

    @classmethod
    def resend_wait(cls, error_code):
        """Seconds before a message that failed with ``error_code`` (a str) may be sent again, where the platform
        says a sooner resend only fails again (WhatsApp 131049: a marketing message held back); else None."""
        return None

    def reply_terms(self, last_inbound_at, now, human=True):
        """Whether a free-form message to a person who last wrote at ``last_inbound_at`` may go at ``now``
        (both aware UTC, ``last_inbound_at`` None when they never wrote); ``human``: typed by an agent (not an
        automatic reply). The platform's window rules in one place; a ReplyTerms."""
        if not self.window_hours:
            return ReplyTerms(True)
        if last_inbound_at is None:
            return ReplyTerms(False, window_hours=self.window_hours)
        closes_at = last_inbound_at + datetime.timedelta(hours=self.window_hours)
        if now < closes_at:
            return ReplyTerms(True, closes_at=closes_at, window_hours=self.window_hours)
        if human and self.human_window_hours and self.config.get("human_agent"):
            extended = last_inbound_at + datetime.timedelta(hours=self.human_window_hours)
            if now < extended:
                return ReplyTerms(True, tag=self.human_tag, closes_at=extended, window_hours=self.human_window_hours)
        return ReplyTerms(False, closes_at=closes_at, window_hours=self.window_hours)

    def __init__(self, config):
        self.config = dict(config or {})
        self.base_url = (self.config.get("base_url") or self.default_base_url).rstrip("/")
        self.timeout = self.config.get("timeout") or 20

    # webhook side (no network)
    def handshake(self, params):
        """Answer a GET verification: return the body to send back, or raise AuthError."""
        raise AuthError("This platform has no GET handshake")

    def authenticate(self, headers, body, params=None):
        """Check the request over the raw bytes; raise AuthError. ``headers`` is case-insensitive."""
        raise NotImplementedError

    def parse(self, body):
        """Parse raw bytes into a list of Event; raise MalformedError for a body that is not the platform's."""
        raise NotImplementedError

    def delivery_key(self, body):
        """Key of one webhook delivery, for storing it once (Telegram update_id, else sha256 of the body)."""
        raise NotImplementedError

    def replay_nonce(self, body, params=None):
        """The one-time value of an authenticated delivery whose signature does not cover its body, which the
        receiver must not accept twice with another body; None where the signature covers the body."""
        return None

    # outbound (network; raise ProviderError)
    # ``tag``: what ReplyTerms.tag asked for (None inside the standard window)
    def send_text(self, to, text, reply_to=None, tag=None):
        raise NotImplementedError

    def send_document(self, to, content, filename, mime_type, caption=None, tag=None):
        raise NotImplementedError

    def send_template(self, to, name, language, params=None):
        raise ProviderError(PERMANENT, "This platform has no template messages", code="unsupported")

    def send_contact_request(self, to, text):
        """Ask a person to share their phone number (WhatsApp's contact info request)."""
        raise ProviderError(PERMANENT, "This platform cannot ask for a phone number", code="unsupported")

    def list_templates(self, business_account_id):
        """The account's message templates as the platform describes them (list of dicts); raise ProviderError."""
        raise ProviderError(PERMANENT, "This platform has no template messages", code="unsupported")

    def download_media(self, media):
        """Return DownloadedMedia for an Event.media; raise ProviderError."""
        raise NotImplementedError

    def test_connection(self):
        """Return a short human description of the account as the platform sees it; raise ProviderError."""
        raise NotImplementedError

    def register_webhook(self, url, secret=None):
        raise ProviderError(PERMANENT, "Register the webhook in the platform's dashboard", code="unsupported")

    def answer_callback(self, callback_query_id, text=None):
        """Acknowledge a button press where the platform needs it (Telegram)."""
        return None

    def health_checks(self, webhook_url):
        """What the platform tells about this account's set-up, as a list of Finding: the credentials, where its
        webhook points (``webhook_url``: ours), its subscriptions and limits. Never raises: a failed call is a
        finding too."""
        return [Finding("no_checks", CHECK_MANUAL)]

    def fetch_profile(self, external_user_id):
        """The person's Profile as the platform gives it, or None where it gives none; raise ProviderError.
        Called after the message is stored: a failure never holds a message back."""
        return None


# --- set-up checks ----------------------------------------------------------------------------------

CHECK_OK, CHECK_WRONG, CHECK_MANUAL = "ok", "wrong", "manual"


@dataclasses.dataclass
class Finding:
    """One thing a set-up check found (Provider.health_checks): ``key`` names the finding (each platform's model
    file puts it in words), ``state`` is CHECK_OK, CHECK_WRONG or CHECK_MANUAL (the platform cannot be asked:
    a person checks it in the platform's console), ``params`` the facts the words quote (never a secret)."""

    key: str
    state: str = CHECK_OK
    params: dict = dataclasses.field(default_factory=dict)
    #: facts for the account's health panel ("messaging_limit_tier", "token_expires_at", "registration_state")
    facts: dict = dataclasses.field(default_factory=dict)


def unreachable_finding(error):
    """The Finding of a call that failed: the platform could not be reached, refused the credentials, or
    answered an error (its message, free of credentials)."""
    if error.code == "network":
        return Finding("unreachable", CHECK_WRONG)
    if error.http_status in (401, 403) or error.code in ("190", "401", "40001", "40014", "42001", "89"):
        return Finding("token_invalid", CHECK_WRONG, {"reason": error.message})
    return Finding("platform_error", CHECK_WRONG, {"reason": error.message})
