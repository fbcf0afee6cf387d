"""The providers' set-up checks against the fake platforms (real HTTP on localhost): what each finds."""
import messenger_fakes as fakes
from messenger_fakes import meta as meta_fakes

from messenger_connector.providers import InstagramProvider, TelegramProvider, WhatsAppProvider
from messenger_connector.providers.base import CHECK_OK, CHECK_WRONG

OURS = "https://odoo.example.com/messenger/webhook/" + "k" * 43


def keys(findings, state=None):
    return [f.key for f in findings if state is None or f.state == state]


def test_telegram_webhook_elsewhere_missing_and_failing():
    with fakes.FakeTelegram(bot_token="1:tok") as fake:
        provider = TelegramProvider({"base_url": fake.url, "bot_token": "1:tok", "secret_token": "s"})
        assert keys(provider.health_checks(OURS), CHECK_WRONG) == ["webhook_missing"]
        provider.register_webhook("https://elsewhere.example.com/x")
        findings = provider.health_checks(OURS)
        assert keys(findings, CHECK_WRONG) == ["webhook_elsewhere"]
        assert findings[1].params == {"url": "https://elsewhere.example.com/x"}
        provider.register_webhook(OURS)
        assert keys(provider.health_checks(OURS), CHECK_WRONG) == []
        fake.webhook_error = (1767225600, "Connection refused")
        wrong = [f for f in provider.health_checks(OURS) if f.state == CHECK_WRONG]
        assert [(f.key, f.params["reason"]) for f in wrong] == [("webhook_error", "Connection refused")]
        bad = TelegramProvider({"base_url": fake.url, "bot_token": "1:wrong", "secret_token": "s"})
        assert keys(bad.health_checks(OURS)) == ["token_invalid"]


def test_whatsapp_wrong_secret_and_missing_field_found():
    with fakes.FakeWhatsApp(app_secret="right-secret") as fake:
        def provider(**config):
            return WhatsAppProvider({"base_url": fake.url, "phone_number_id": fake.phone_number_id,
                                     "access_token": fake.access_token, "app_secret": "right-secret",
                                     "business_account_id": fake.waba_id, **config})
        fake.app_webhook = {"callback_url": OURS, "fields": ["statuses"]}
        findings = provider().health_checks(OURS)
        assert keys(findings, CHECK_WRONG) == ["field_missing"]
        assert findings[2].facts["messaging_limit_tier"] == "TIER_1K"
        assert keys(provider(app_secret="another").health_checks(OURS)) == ["secret_wrong"]
        assert keys(provider(access_token="expired").health_checks(OURS)) == ["token_invalid"]
        fake.app_webhook["fields"] = ["messages"]
        fake.phone_status["platform_type"] = "NOT_APPLICABLE"
        assert keys(provider().health_checks(OURS), CHECK_WRONG) == ["number_not_registered"]


def test_instagram_fields_the_account_does_not_send():
    with meta_fakes.FakeMeta("instagram", app_secret="app-secret") as fake:
        provider = InstagramProvider({"base_url": fake.url, "page_id": fake.page_id,
                                      "access_token": fake.access_token, "app_secret": "app-secret"})
        fake.app_webhook = {"callback_url": OURS, "fields": ["messages", "messaging_postbacks", "messaging_seen"]}
        assert keys(provider.health_checks(OURS), CHECK_WRONG) == []
        assert all(f.state == CHECK_OK for f in provider.health_checks(OURS))
        fake.subscribed_fields = ["messages"]
        wrong = [f for f in provider.health_checks(OURS) if f.state == CHECK_WRONG]
        assert [(f.key, f.params["field"]) for f in wrong] == [("page_field_missing", "messaging_postbacks, "
                                                                                       "messaging_seen")]
