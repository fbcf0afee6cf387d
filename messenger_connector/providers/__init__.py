"""Provider layer: one module per messaging platform, pure Python (nothing here imports odoo).

``get_provider(name, config)`` gives the :class:`Provider` of a configured account.
"""
from .base import (
    AUDIO, BLOCK, BUTTON, CALLBACK, DOCUMENT, ECHO, IDENTITY, IMAGE, LOCATION, MESSAGE, OPT_IN, OPT_OUT, OTHER, PERMANENT,
    REFUSED_BLOCK, RETRYABLE, STATUS, STICKER, TEXT, UNBLOCK, UNKNOWN, VIDEO, WINDOW_CLOSED, AuthError, DownloadedMedia,
    Event, Location, MalformedError, Media, Profile, Provider, ProviderError, ReplyTerms, SendResult, WebhookError,
)
from .meta import InstagramProvider, MessengerProvider
from .telegram import TelegramProvider
from .wechat import WeChatProvider
from .whatsapp import WhatsAppProvider
from .x import XProvider

PROVIDERS = {
    WhatsAppProvider.name: WhatsAppProvider,
    TelegramProvider.name: TelegramProvider,
    XProvider.name: XProvider,
    MessengerProvider.name: MessengerProvider,
    InstagramProvider.name: InstagramProvider,
    WeChatProvider.name: WeChatProvider,
}


def register_provider(provider_class):
    """Add a platform to the provider layer (its module calls this, or a test for a platform of its own)."""
    PROVIDERS[provider_class.name] = provider_class
    return provider_class


def get_provider(name, config):
    """The Provider of platform ``name`` configured with ``config``; ValueError for an unknown name."""
    try:
        provider_class = PROVIDERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown messenger provider: {name!r}") from None
    return provider_class(config)


__all__ = [
    "PROVIDERS", "get_provider", "register_provider", "TelegramProvider", "WhatsAppProvider", "XProvider",
    "MessengerProvider", "InstagramProvider", "WeChatProvider",
    # base
    "WebhookError", "AuthError", "MalformedError", "ProviderError", "RETRYABLE", "WINDOW_CLOSED", "PERMANENT",
    "REFUSED_BLOCK",
    "MESSAGE", "ECHO", "STATUS", "OPT_OUT", "OPT_IN", "BLOCK", "UNBLOCK", "IDENTITY", "UNKNOWN",
    "TEXT", "IMAGE", "DOCUMENT", "AUDIO", "VIDEO", "STICKER", "LOCATION", "BUTTON", "CALLBACK", "OTHER",
    "Media", "Location", "Event", "SendResult", "DownloadedMedia", "Provider", "Profile", "ReplyTerms",
]
