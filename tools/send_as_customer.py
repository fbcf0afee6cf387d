#!/usr/bin/env python3
"""Send a message to a running demo as a customer would: a signed webhook delivery of WhatsApp, Telegram,
Facebook Messenger, Instagram or WeChat.

    python3 tools/send_as_customer.py whatsapp +32470123456 "Is the oak table in stock?" --name "Jane Doe"
    python3 tools/send_as_customer.py telegram 424242 "/start JOB-3" --name Tom
    python3 tools/send_as_customer.py whatsapp +32470123456 "My CV" --media cv.pdf
    python3 tools/send_as_customer.py messenger 7100000000000001 "Hi from Facebook" --name "Fiona Facebook"
    python3 tools/send_as_customer.py instagram 7200000000000001 "Hi from Instagram" --name "Ivy Insta"
    python3 tools/send_as_customer.py wechat oDemoCustomer0000000000001 "你好" --name "Wei"
    python3 tools/send_as_customer.py whatsapp US.13491208655302741918 "Hi" --username sheena   (no visible number)

The account's webhook key and secret (WhatsApp or Meta App Secret, Telegram webhook secret, WeChat token and
message key) are read over XML-RPC as an admin (--url, --db, --login, --password; env MC_DEMO_URL,
MC_DEMO_DB, MC_DEMO_LOGIN, MC_DEMO_PASSWORD), or given with --webhook-key and --secret (WhatsApp, Telegram,
Messenger, Instagram). A media file is first put on the fake platform the account talks to (its API base URL,
or --fake-url), where Odoo downloads it from like from the real one (not on WeChat); the person's name too
(their profile on Messenger, Instagram and WeChat). Prints the webhook's answer; exits 0 on 200.
"""
import argparse
import base64
import http.client
import json
import mimetypes
import os
import pathlib
import sys
import time
import urllib.parse
import uuid
import xmlrpc.client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import messenger_fakes as fakes  # noqa: E402
from messenger_fakes import meta as meta_fakes  # noqa: E402
from messenger_fakes import wechat as wechat_fakes  # noqa: E402

WA_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}
META_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}
#: the fields of each platform's account that sign or open its deliveries
SECRET_FIELDS = {
    "whatsapp": ["wa_app_secret"],
    "telegram": ["tg_secret_token"],
    "messenger": ["meta_app_secret"],
    "instagram": ["meta_app_secret"],
    "wechat": ["wc_token", "wc_encoding_aes_key"],
}
ACCOUNT_FIELDS = {
    "whatsapp": ["wa_phone_number_id"],
    "messenger": ["meta_page_id"],
    "instagram": ["meta_page_id"],
    "wechat": ["wc_app_id", "wc_encryption", "wc_original_id"],
}


def account_of(args):
    """(webhook key, secret, API base URL, the account's values) of the demo account of ``args.platform``."""
    if args.webhook_key and args.secret:
        return args.webhook_key, args.secret, args.fake_url, {
            "wa_phone_number_id": args.phone_number_id, "meta_page_id": args.page_id}
    common = xmlrpc.client.ServerProxy(f"{args.url}/xmlrpc/2/common")
    uid = common.authenticate(args.db, args.login, args.password, {})
    if not uid:
        sys.exit(f"send_as_customer: {args.login} cannot log into database {args.db!r} at {args.url}")
    models = xmlrpc.client.ServerProxy(f"{args.url}/xmlrpc/2/object", allow_none=True)
    domain = [("provider", "=", args.platform)]
    if args.account:
        domain.append(("name", "=", args.account))
    secret_fields = SECRET_FIELDS[args.platform]
    found = models.execute_kw(args.db, uid, args.password, "messenger.account", "search_read", [domain], {
        "fields": ["name", "webhook_key", "api_base_url", *secret_fields, *ACCOUNT_FIELDS.get(args.platform, [])],
        "limit": 1, "order": "id"})
    if not found:
        sys.exit(f"send_as_customer: no active {args.platform} account"
                 + (f" named {args.account!r}" if args.account else "") + f" in {args.db!r}")
    account = found[0]
    missing = [field for field in secret_fields if not account[field]]
    if missing and not (args.platform == "wechat" and missing == ["wc_encoding_aes_key"]
                        and account["wc_encryption"] == "plain"):
        sys.exit(f"send_as_customer: the account {account['name']!r} has no {missing[0]}: every delivery "
                 "would be refused")
    if args.phone_number_id:
        account["wa_phone_number_id"] = args.phone_number_id
    if args.page_id:
        account["meta_page_id"] = args.page_id
    return account["webhook_key"], account[secret_fields[0]], args.fake_url or account["api_base_url"], account


def fake_admin(fake_url, action, **params):
    """Call an admin action of the fake platform at ``fake_url`` (see tools/messenger_fakes)."""
    url = urllib.parse.urlsplit(fake_url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    try:
        conn.request("POST", f"/_fake/{action}", json.dumps(params), {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            sys.exit(f"send_as_customer: the fake platform at {fake_url} refused {action}: {response.read()[:200]!r}")
    except OSError as error:
        sys.exit(f"send_as_customer: no fake platform answers at {fake_url} ({error}); is tools/fake_providers.py "
                 "running?")
    finally:
        conn.close()


def whatsapp_body(args, phone_number_id, fake_url):
    # a business-scoped user id (a person with a username whose number is not visible) or a number
    user_id = args.sender if fakes.WA_BSUID_RE.fullmatch(args.sender) else None
    wa_id = None if user_id else "".join(c for c in args.sender if c.isdigit())
    wamid = f"wamid.demo{uuid.uuid4().hex}"
    if args.media:
        path = pathlib.Path(args.media)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        media_id = f"demo-{uuid.uuid4().hex[:12]}"
        fake_admin(fake_url, "add_media", media_id=media_id, content_base64=base64.b64encode(path.read_bytes()).decode(),
                   mime_type=mime, filename=path.name)
        kind = WA_MEDIA_TYPES.get(mime.split("/")[0], "document")
        content = {"id": media_id, "mime_type": mime, "sha256": ""}
        if kind == "document":
            content["filename"] = path.name
        if args.text and kind != "audio":
            content["caption"] = args.text
    else:
        kind, content = "text", {"body": args.text}
    if user_id:
        message = fakes.wa_user_message(user_id, kind, content, wamid=wamid)
        contact = fakes.wa_user_contact(user_id, args.name, args.username)
    else:
        message = fakes.wa_message(wa_id, kind, content, wamid=wamid)
        contact = fakes.wa_contact(wa_id, args.name)
    payload = fakes.wa_payload(messages=[message], contacts=[contact], phone_number_id=phone_number_id)
    body = fakes.body_bytes(payload)
    return body, {"X-Hub-Signature-256": fakes.wa_signature(body, args.secret_value)}


def telegram_body(args, fake_url):
    chat_id = int(args.sender)
    update_id = time.time_ns() // 1000 % 2_000_000_000  # unique enough for a person typing
    fields = {}
    text = args.text
    if args.media:
        path = pathlib.Path(args.media)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        file_id = f"demo-{uuid.uuid4().hex[:12]}"
        fake_admin(fake_url, "add_file", file_id=file_id, content_base64=base64.b64encode(path.read_bytes()).decode(),
                   file_path=f"documents/{path.name}")
        fields["document"] = {"file_id": file_id, "file_unique_id": file_id, "file_name": path.name,
                              "mime_type": mime, "file_size": path.stat().st_size}
        if text:
            fields["caption"] = text
        text = None
    update = fakes.tg_update(update_id, text=text, chat_id=chat_id, first_name=args.name, **fields)
    return fakes.body_bytes(update), {"X-Telegram-Bot-Api-Secret-Token": args.secret_value}


def meta_body(args, account, fake_url):
    """A Messenger or Instagram delivery of the person ``args.sender`` (their page-scoped id), signed with the
    app secret; the person's profile (their name) and any file go on the fake platform first."""
    psid = args.sender
    page_id = account.get("meta_page_id") or (
        meta_fakes.DEMO_PAGE_ID if args.platform == "messenger" else meta_fakes.DEMO_IG_ACCOUNT_ID)
    if fake_url:
        first, _sep, last = args.name.partition(" ")
        fake_admin(fake_url, "add_profile", psid=psid, name=args.name, first_name=first, last_name=last or None,
                   username=args.name.lower().replace(" ", "_"))
    attachments = []
    if args.media:
        path = pathlib.Path(args.media)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        name = f"demo-{uuid.uuid4().hex[:12]}-{path.name}"
        fake_admin(fake_url, "add_cdn_file", name=name, content_base64=base64.b64encode(path.read_bytes()).decode(),
                   mime_type=mime)
        attachments = [(META_MEDIA_TYPES.get(mime.split("/")[0], "file"),
                        f"{fake_url.rstrip('/')}/cdn/{urllib.parse.quote(name)}")]
    item = meta_fakes.message_item(psid, page_id, text=args.text or None, attachments=attachments)
    body, headers = meta_fakes.signed(meta_fakes.payload([item], platform=args.platform, page_id=page_id),
                                      args.secret_value)
    headers.pop("Content-Type", None)
    return body, headers


def wechat_body(args, account, fake_url):
    """A WeChat delivery of the follower ``args.sender`` (their OpenID), in the account's encryption mode; the
    follower's profile (their nickname) goes on the fake platform first. Returns (query string, body)."""
    if fake_url:
        fake_admin(fake_url, "add_follower", openid=args.sender, nickname=args.name)
    fields = wechat_fakes.wc_text(openid=args.sender, text=args.text,
                                  original_id=account.get("wc_original_id") or wechat_fakes.DEMO_WC_ORIGINAL_ID)
    params, body = wechat_fakes.wc_delivery(
        fields, mode=account.get("wc_encryption") or "safe", token=args.secret_value,
        aes_key=account.get("wc_encoding_aes_key") or wechat_fakes.DEMO_WC_AES_KEY,
        app_id=account.get("wc_app_id") or wechat_fakes.DEMO_WC_APP_ID)
    return wechat_fakes.wc_query(params), body


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("platform", choices=list(SECRET_FIELDS))
    parser.add_argument("sender", help="the customer: a phone number or a business-scoped user id (WhatsApp), a chat id (Telegram), a page-scoped "
                                       "id (Messenger, Instagram) or an OpenID (WeChat)")
    parser.add_argument("text", nargs="?", default="", help="the message (the caption with --media)")
    parser.add_argument("--name", default="Demo Customer", help="the customer's profile name")
    parser.add_argument("--username", help="WhatsApp: the username of a customer given by their BSUID")
    parser.add_argument("--media", help="a file sent with the message")
    parser.add_argument("--account", help="the account's name (default: the first of the platform)")
    parser.add_argument("--url", default=os.environ.get("MC_DEMO_URL", "http://localhost:8069"))
    parser.add_argument("--db", default=os.environ.get("MC_DEMO_DB", "messenger_demo"))
    parser.add_argument("--login", default=os.environ.get("MC_DEMO_LOGIN", "admin"))
    parser.add_argument("--password", default=os.environ.get("MC_DEMO_PASSWORD", "admin"))
    parser.add_argument("--webhook-key", help="the account's webhook key (with --secret: no XML-RPC)")
    parser.add_argument("--secret", help="the account's App Secret (WhatsApp, Messenger, Instagram) or webhook "
                                         "secret (Telegram)")
    parser.add_argument("--fake-url", help="the fake platform's URL for --media (default: the account's API URL)")
    parser.add_argument("--phone-number-id", default=None,
                        help="WhatsApp: the account's phone number id (default: the account's)")
    parser.add_argument("--page-id", default=None,
                        help="Messenger, Instagram: the Page's or account's id (default: the account's)")
    args = parser.parse_args(argv)
    if not args.text and not args.media:
        parser.error("give a text, a --media file, or both")
    if args.platform == "telegram" and not args.sender.lstrip("-").isdigit():
        parser.error("a Telegram sender is a chat id (digits)")
    if args.platform == "wechat" and (args.media or args.webhook_key or not args.text):
        parser.error("WeChat: a text only, with the account read over XML-RPC")
    if args.media and not pathlib.Path(args.media).is_file():
        parser.error(f"no such file: {args.media}")

    key, args.secret_value, fake_url, account = account_of(args)
    if args.media and not fake_url:
        parser.error("--fake-url is needed with --media and --webhook-key/--secret")
    query, content_type = "", "application/json"
    if args.platform == "whatsapp":
        body, headers = whatsapp_body(args, account.get("wa_phone_number_id") or fakes.DEMO_WA_PHONE_NUMBER_ID,
                                      fake_url)
    elif args.platform == "telegram":
        body, headers = telegram_body(args, fake_url)
    elif args.platform == "wechat":
        (query, body), headers, content_type = wechat_body(args, account, fake_url), {}, "text/xml"
        query = f"?{query}"
    else:
        body, headers = meta_body(args, account, fake_url)
    url = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
    try:
        conn.request("POST", f"{url.path.rstrip('/')}/messenger/webhook/{key}{query}", body,
                     {"Content-Type": content_type, **headers})
        status = conn.getresponse().status
    except OSError as error:
        sys.exit(f"send_as_customer: Odoo does not answer at {args.url} ({error})")
    finally:
        conn.close()
    print(f"{status} {'delivered' if status == 200 else 'refused'}: {args.platform} message from {args.sender}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
