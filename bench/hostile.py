#!/usr/bin/env python3
"""Hostile input: a generated corpus of at least 10,000 bad requests per provider, posted to a real Odoo 18.

Per provider (WhatsApp Cloud API, Telegram, X Chat, Messenger, Instagram, WeChat), seeded and
reproducible:

- ``valid``: well-formed, authenticated deliveries (stored once, 200), then ``replayed`` byte for byte (200,
  nothing stored again);
- ``unsigned``: no / wrong / truncated / other-body signature or secret token (403);
- ``malformed``: random bytes, truncated JSON, invalid UTF-8, non-object JSON, NaN, empty... signed (400);
- ``wrong type``: a valid payload with one value anywhere replaced by a value of another type, signed;
  the provider decides: refused (400) or accepted as something it stores and processes (200);
- ``deeply nested``: nesting of 50 to 100,000 levels, whole body or inside a field, signed;
- ``oversized``: over 1 MiB with a declared length, chunked without a length, form-encoded, or a huge declared
  length; also hostile webhook keys (NUL, too long).

Checked: no answer is a 5xx (or a dropped connection before any answer, except after a 413 when the server
closes a socket the client is still writing to); nothing is stored for a non-200 answer; every stored event
is processed without crashing the processor (done, or failed with its error kept).

WeChat (signatures in the query string, XML bodies, an account in compatible mode so that both plain and
encrypted deliveries are valid) has categories of its own instead of the JSON ones: ``xml attack`` (DOCTYPE,
entity declarations, billion laughs, external and parameter entities, signed: 400), ``broken aes`` (a signed
``Encrypt`` that does not decrypt: 403), ``wrong app id`` (encrypted for another app: 403), ``wrong account``
(a ``ToUserName`` other than ours: 403); ``wrong type`` replaces or removes one field (200 or 400).

    python3 bench/hostile.py                   # >= 10,000 per provider
    python3 bench/hostile.py --per-provider 1000
    python3 bench/hostile.py --providers x      # one provider only
    python3 bench/hostile.py --providers wechat

For X, hostile CRC GETs (``crc_token`` missing, empty, a JSON body to get signed, NUL, very long) are sent too:
none may answer 5xx, and a token that could be a delivery body is never signed (403).
"""
import argparse
import base64
import collections
import copy
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

import _common as c

F = c.fakes
PROVIDERS = c.fakes  # noqa: F841 (fakes and the providers come from the same package)
from messenger_connector.providers import (  # noqa: E402
    TelegramProvider, WeChatProvider, WhatsAppProvider, XProvider, get_provider,
)
from messenger_fakes import meta as meta_fakes  # noqa: E402
from messenger_fakes import wechat as WF  # noqa: E402
from messenger_fakes import x as FX  # noqa: E402

X_USER_ID = FX.DEMO_X_USER_ID
X_SECRET = "bench-x-consumer-secret"

SETUP_TG = """
account = env["messenger.account"].create({"name": "Bench Telegram", "provider": "telegram",
    "api_base_url": "http://127.0.0.1:9", "tg_bot_token": %(token)r, "tg_secret_token": %(secret)r})
env.cr.commit()
emit({"id": account.id, "key": account.webhook_key})
"""

SETUP_X = """
account = env["messenger.account"].create({"name": "Bench X", "provider": "x",
    "api_base_url": "http://127.0.0.1:9", "x_user_id": %(user_id)r, "x_consumer_secret": %(secret)r,
    "x_access_token": "bench-x-token"})
env.cr.commit()
emit({"id": account.id, "key": account.webhook_key})
"""
SETUP_WC = """
account = env["messenger.account"].create({"name": "Bench WeChat", "provider": "wechat",
    "api_base_url": "http://127.0.0.1:9", "wc_app_id": %(app_id)r, "wc_app_secret": %(secret)r,
    "wc_token": %(token)r, "wc_encoding_aes_key": %(aes_key)r, "wc_encryption": "compatible",
    "wc_account_type": "service", "wc_original_id": %(original_id)r})
env.cr.commit()
emit({"id": account.id, "key": account.webhook_key})
"""
WC_CONFIG = {"app_id": WF.DEMO_WC_APP_ID, "app_secret": WF.DEMO_WC_APP_SECRET, "token": WF.DEMO_WC_TOKEN,
             "encoding_aes_key": WF.DEMO_WC_AES_KEY, "encryption": "compatible", "account_type": "service",
             "original_id": WF.DEMO_WC_ORIGINAL_ID}
#: categories in which no request may be answered 200
REFUSED_CATEGORIES = ("unsigned", "malformed", "oversized", "xml attack", "broken aes", "wrong app id", "wrong account")

SETUP_META = """
account = env["messenger.account"].create({"name": "Bench %(provider)s", "provider": %(provider)r,
    "api_base_url": "http://127.0.0.1:9", "meta_page_id": %(page_id)r, "meta_access_token": "bench-meta-token",
    "meta_app_secret": %(secret)r, "meta_verify_token": "bench-verify"})
env.cr.commit()
emit({"id": account.id, "key": account.webhook_key})
"""

#: the providers whose webhooks Meta signs (X-Hub-Signature-256 with the app secret)
META_SIGNED = ("whatsapp", "messenger", "instagram")
META_PAGE_IDS = {"messenger": meta_fakes.DEMO_PAGE_ID, "instagram": meta_fakes.DEMO_IG_ACCOUNT_ID}

WRONG_VALUES = [None, True, False, 0, -1, 2 ** 70, -2 ** 63, 1.5, float("1e308"), "", "x", "x" * 5000, "\u0000",
                "\ud7ff\ue000", [], [1, "a"], {}, {"a": 1}, [[[]]], "2024-01-01", "NaN", "-1", "99999999999999999999"]


def nested(depth, kind="list"):
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def paths(value, prefix=()):
    """Every path (tuple of keys/indexes) inside a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))


def replace(value, path, new):
    value = copy.deepcopy(value)
    if not path:
        return new
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


class Corpus:
    """Items (category, body bytes, headers, path) for one provider."""

    def __init__(self, provider_name, seed, size):
        self.name = provider_name
        self.rng = random.Random(seed)
        self.size = size
        self.items = []
        self.counter = 0
        self.x_fake, self.x_last = None, {}

    # provider specifics
    def valid_payload(self):
        self.counter += 1
        n = self.counter
        if self.name in META_PAGE_IDS:
            return self.meta_payload(n)
        if self.name == "whatsapp":
            kind = n % 4
            wa_id = f"3246{5000000 + n % 300:07d}"
            if kind == 0:
                return F.wa_text_payload(wa_id, f"hostile valid {n}", wamid=f"wamid.HOST{n:07d}",
                                         phone_number_id=c.WA_PHONE_ID)
            if kind == 1:
                return F.wa_payload(messages=[F.wa_message(wa_id, "location", {"latitude": 50.8, "longitude": 4.3,
                                                                                "name": f"Place {n}"},
                                                           wamid=f"wamid.HOSTL{n:07d}")],
                                    contacts=[F.wa_contact(wa_id)], phone_number_id=c.WA_PHONE_ID)
            if kind == 2:
                return F.wa_payload(statuses=[F.wa_status(f"wamid.OUT{n}", "delivered", wa_id)],
                                    phone_number_id=c.WA_PHONE_ID)
            return F.wa_payload(messages=[F.wa_message(wa_id, "interactive", {
                "type": "button_reply", "button_reply": {"id": f"b{n}", "title": "Yes"}}, wamid=f"wamid.HOSTB{n:07d}")],
                contacts=[F.wa_contact(wa_id)], phone_number_id=c.WA_PHONE_ID)
        if self.name == "x":
            return self.x_payload(n)
        update_id = 700000000 + n
        if n % 3 == 0:
            return F.tg_callback_update(update_id, f"data{n}", chat_id=880000 + n % 300)
        if n % 3 == 1:
            return F.tg_member_update(update_id, "kicked" if n % 2 else "member", chat_id=880000 + n % 300)
        return F.tg_update(update_id, text=f"hostile valid {n}", chat_id=880000 + n % 300, first_name="Hostile")

    def x_payload(self, n):
        """X Chat: encrypted, signed deliveries made with X's SDK (a few people each writing several times, a key
        change with every one, replies, reactions and echoes of our own sends)."""
        if self.x_fake is None:
            self.x_fake = FX.FakeX(user_id=X_USER_ID, consumer_secret=X_SECRET)  # builds deliveries; never serves
            self.x_fake.add_person(X_USER_ID, "Bench account")
        person = str(1600000000000000000 + n % 30)
        if person not in self.x_fake.keys:
            self.x_fake.add_person(person, "Hostile")
        kind = n % 4
        if kind == 0 and self.x_last.get(person):
            return self.x_fake.person_sends(person, react_to=self.x_last[person])
        if kind == 1 and self.x_last.get(person):
            return self.x_fake.person_sends(person, f"reply {n}", reply_to=self.x_last[person])
        if kind == 2 and self.x_last.get(person):
            # a message of our account typed in X's own app comes back as chat.sent
            return self.x_fake.colleague_sends(person, f"colleague {n}", self.x_fake.keys[X_USER_ID].chat)
        delivery = self.x_fake.person_sends(person, f"hostile valid {n}")
        self.x_last[person] = delivery["data"]["payload"]["encoded_event"]
        return delivery

    def meta_payload(self, n):
        """Messenger / Instagram: messages, attachments, postbacks with a job reference, referrals, receipts and
        echoes, a few people each writing several times."""
        page, psid, kind, ms = META_PAGE_IDS[self.name], f"{6100000000000000 + n % 300}", n % 7, 1700000000000 + n
        items = [
            lambda: meta_fakes.message_item(psid, page, text=f"hostile valid {n}", mid=f"m_HOST{n:07d}", timestamp=ms),
            lambda: meta_fakes.message_item(psid, page, mid=f"m_HOSTA{n:07d}", timestamp=ms,
                                            attachments=[("image", f"http://127.0.0.1:9/cdn/{n}.jpg")]),
            lambda: meta_fakes.postback_item(psid, page, "Apply", "APPLY", mid=f"m_HOSTP{n:07d}", ref="JOB-999999",
                                             timestamp=ms),
            lambda: meta_fakes.referral_item(psid, page, f"REF-{n}", timestamp=ms),
            lambda: meta_fakes.delivery_item(psid, page, watermark=ms, mids=[f"m_OUT{n}"], timestamp=ms),
            lambda: meta_fakes.read_item(psid, page, watermark=ms, timestamp=ms),
            lambda: meta_fakes.echo_item(psid, page, mid=f"m_HOSTE{n:07d}", text=f"colleague {n}", timestamp=ms),
        ]
        return meta_fakes.payload([items[kind]()], platform=self.name, page_id=page)

    def headers(self, body, good=True):
        if self.name in META_SIGNED:
            return c.wa_headers(body, c.APP_SECRET if good else "wrong-secret")
        if self.name == "x":
            return FX.x_headers(body, X_SECRET if good else "wrong-secret")
        return {"Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": c.TG_SECRET if good else "wrong-secret"}

    def add(self, category, body, headers=None, path=None, mode="post"):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        self.items.append({"category": category, "body": body,
                           "headers": self.headers(body) if headers is None else headers,
                           "path": path, "mode": mode})

    def build(self):
        size, rng = self.size, self.rng
        share = {"valid": 0.05, "replayed": 0.05, "unsigned": 0.10, "malformed": 0.15, "oversized": 0.02,
                 "nested": 0.08, "wrong type": 0.55}
        valid = [F.body_bytes(self.valid_payload()) for _ in range(int(size * share["valid"]))]
        for body in valid:
            self.add("valid", body)
        for _ in range(int(size * share["replayed"])):
            self.add("replayed", rng.choice(valid))
        self._unsigned(int(size * share["unsigned"]), valid)
        self._malformed(int(size * share["malformed"]), valid)
        self._oversized(int(size * share["oversized"]))
        self._nested(int(size * share["nested"]))
        self._wrong_types(size - len(self.items))
        # valid first (so that replays are replays), the rest shuffled
        head, tail = self.items[:len(valid)], self.items[len(valid):]
        rng.shuffle(tail)
        self.items = head + tail
        return self.items

    def _unsigned(self, n, valid):
        rng = self.rng
        for i in range(n):
            body = F.body_bytes(self.valid_payload())
            variant = i % 7
            if self.name in META_SIGNED:
                good = F.wa_signature(body, c.APP_SECRET)
                header = [None, "sha256=", "sha256=" + "0" * 64, good[:-1], good + "00", "sha1=" + good[7:47],
                          F.wa_signature(rng.choice(valid), c.APP_SECRET)][variant]
                headers = {"Content-Type": "application/json"}
                if header is not None:
                    headers["X-Hub-Signature-256" if variant != 5 else "X-Hub-Signature"] = header
            elif self.name == "x":
                good = FX.x_signature(body, X_SECRET)
                header = [None, "sha256=", "sha256=" + "A" * 43 + "=", good[:-2] + "=", good + "A",
                          "sha256=" + good[7:].rstrip("=").encode().hex()[:64],
                          FX.x_signature(rng.choice(valid), X_SECRET)][variant]
                headers = {"Content-Type": "application/json"}
                if header is not None:
                    headers["x-twitter-webhooks-signature"] = header
            else:
                # (no leading/trailing blanks: HTTP strips them from header values, " secret" IS the secret)
                token = [None, "", "wrong", c.TG_SECRET[:-1], c.TG_SECRET + "x", c.TG_SECRET.upper(),
                         c.TG_SECRET[::-1]][variant]
                headers = {"Content-Type": "application/json"}
                if token is not None:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = token
            self.add("unsigned", body, headers=headers)

    def _malformed(self, n, valid):
        rng = self.rng
        fixed = [b"", b" ", b"null", b"[]", b"1", b'"x"', b"true", b"{", b"}", b"{]", b"\xef\xbb\xbf{}", b"\xff\xfe",
                 b"{\"a\": NaN}", b"{\"a\": Infinity}", b"{'a': 1}", b"\x00" * 10, b"{}" * 3, b"[{}]"]
        for i in range(n):
            if i < len(fixed):
                body = fixed[i]
            else:
                base = rng.choice(valid)
                choice = i % 5
                if choice == 0:
                    body = base[:rng.randrange(1, len(base))]
                elif choice == 1:
                    body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                elif choice == 2:
                    pos = rng.randrange(len(base))
                    body = base[:pos] + bytes([rng.choice([0x80, 0xC0, 0xFF, 0xED])]) + base[pos:]
                elif choice == 3:
                    body = base.replace(b":", b"=", 1)
                else:
                    body = json.dumps([json.loads(base)]).encode()
            self.add("malformed", body)

    def _oversized(self, n):
        limit = 1024 * 1024
        for i in range(n):
            variant = i % 4
            filler = "x" * (limit + 10 + i)
            if self.name == "whatsapp":
                body = F.body_bytes(F.wa_text_payload("32460000001", filler, wamid=f"wamid.BIG{i}",
                                                      phone_number_id=c.WA_PHONE_ID))
            elif self.name == "x":
                delivery = self.x_payload(i)
                delivery["data"]["payload"]["encoded_event"] = base64.b64encode(filler.encode()).decode()
                body = F.body_bytes(delivery)
            elif self.name in META_PAGE_IDS:
                page = META_PAGE_IDS[self.name]
                body = F.body_bytes(meta_fakes.payload([meta_fakes.message_item("6100000000000001", page, text=filler,
                                                                                mid=f"m_BIG{i}")],
                                                       platform=self.name, page_id=page))
            else:
                body = F.body_bytes(F.tg_update(900000000 + i, text=filler))
            if variant == 0:
                self.add("oversized", body)
            elif variant == 1:
                self.add("oversized", body, mode="chunked")
            elif variant == 2:
                self.add("oversized", b"a=" + b"x" * (limit + 10), mode="post",
                         headers={**self.headers(b""), "Content-Type": "application/x-www-form-urlencoded"})
            else:
                self.add("oversized", b"{}", mode="huge-length")

    def _nested(self, n):
        rng = self.rng
        for i in range(n):
            depth = rng.choice([50, 500, 990, 1000, 5000, 100000])
            kind = rng.choice(["list", "dict"])
            if i % 2 == 0:
                body = nested(depth, kind)
            else:
                payload = self.valid_payload()
                marker = "__NESTED__"
                path = rng.choice([p for p in paths(payload) if p])
                body = json.dumps(replace(payload, path, marker), separators=(",", ":")).replace(
                    json.dumps(marker), nested(depth, kind))
            self.add("nested", body)

    def _wrong_types(self, n):
        rng = self.rng
        seen = set()
        while n > 0:
            payload = self.valid_payload()
            candidates = [p for p in paths(payload) if p]
            path = rng.choice(candidates)
            value = rng.choice(WRONG_VALUES)
            mutated = replace(payload, path, value)
            if rng.random() < 0.2:  # a second mutation
                second = rng.choice([p for p in paths(mutated) if p])
                try:
                    mutated = replace(mutated, second, rng.choice(WRONG_VALUES))
                except (TypeError, KeyError, IndexError):
                    pass
            body = json.dumps(mutated, separators=(",", ":")).encode()
            if body in seen:
                continue
            seen.add(body)
            self.add("wrong type", body, path=".".join(map(str, path)))
            n -= 1

XML_ATTACKS = [
    b'<!DOCTYPE xml><xml><ToUserName>%(to)s</ToUserName></xml>',
    b'<!DOCTYPE xml [<!ENTITY a "x">]><xml><ToUserName>%(to)s</ToUserName><Content>&a;</Content></xml>',
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b'<xml><Content>&lol4;</Content></xml>',
    b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]><xml><Content>&xxe;</Content></xml>',
    b'<!DOCTYPE xml [<!ENTITY %% p SYSTEM "http://127.0.0.1:9/p.dtd"> %%p;]><xml/>',
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml/>',
    b'<!DOCTYPE xml [<!ELEMENT xml ANY><!ATTLIST xml a CDATA "x">]><xml/>',
    b'<xml><ToUserName>%(to)s</ToUserName><Content>&undeclared;</Content></xml>',
    b'<?xml version="1.0" encoding="UTF-7"?><xml/>',
]
WC_WRONG_VALUES = ["", " ", "x", "-1", "0", "1.5", "NaN", "1e308", "99999999999999999999", "<", "]]>", "\u0000",
                   "中文", "x" * 5000, {"a": "1"}, {"a": {"b": "1"}}, None]


class WeChatCorpus(Corpus):
    """WeChat's own corpus: signatures in the query, XML bodies, plain and encrypted deliveries."""

    def valid_fields(self):
        self.counter += 1
        n = self.counter
        openid = f"oHostile{n % 300:019d}"
        created = 1700000000 + n
        kind = n % 6
        if kind == 0:
            return WF.wc_text(openid, f"hostile valid {n}", msg_id=880000000 + n, create_time=created)
        if kind == 1:
            return WF.wc_message(openid, "image", 880000000 + n, create_time=created, PicUrl="http://127.0.0.1:9/p",
                                 MediaId=f"MEDIA{n}")
        if kind == 2:
            return WF.wc_event(openid, "subscribe", f"qrscene_JOB-{n % 7 + 1}", create_time=created)
        if kind == 3:
            return WF.wc_event(openid, "CLICK", f"MENU_{n % 5}", create_time=created)
        if kind == 4:
            return WF.wc_message(openid, "location", 880000000 + n, create_time=created, Location_X=31.2,
                                 Location_Y=121.5, Scale=15, Label=f"Place {n}")
        return WF.wc_template_finish(770000000 + n, "failed:user block" if n % 2 else "success", openid,
                                     create_time=created)

    def delivery(self, fields, mode=None, **kwargs):
        mode = mode or ("safe" if self.counter % 2 else "plain")
        params, body = WF.wc_delivery(fields, mode=mode, **kwargs)
        return params, body

    def add_wc(self, category, params, body, mode="post", path=None):
        self.items.append({"category": category, "body": bytes(body), "headers": {"Content-Type": "text/xml"},
                           "query": WF.wc_query(params), "path": path, "mode": mode})

    def signed_plain(self, body):
        """The query of a plain delivery signed right (the plain signature does not cover the body)."""
        return WF.wc_delivery(b"<xml/>", mode="plain")[0]

    def signed_encrypt(self, encrypted):
        """Query and body of a delivery whose msg_signature is right for ``encrypted``."""
        timestamp, nonce = str(1700000000 + self.counter), str(self.rng.randrange(10 ** 9))
        params = {"signature": WF.wc_signature(WF.DEMO_WC_TOKEN, timestamp, nonce), "timestamp": timestamp,
                  "nonce": nonce, "encrypt_type": "aes",
                  "msg_signature": WF.wc_signature(WF.DEMO_WC_TOKEN, timestamp, nonce, encrypted)}
        return params, WF.wc_xml({"ToUserName": WF.DEMO_WC_ORIGINAL_ID, "Encrypt": encrypted})

    def build(self):
        size, rng = self.size, self.rng
        share = {"valid": 0.05, "replayed": 0.05, "unsigned": 0.12, "malformed": 0.12, "oversized": 0.02,
                 "xml attack": 0.10, "broken aes": 0.10, "wrong app id": 0.05, "wrong account": 0.05,
                 "nested": 0.04}
        valid = []
        for _ in range(int(size * share["valid"])):
            params, body = self.delivery(self.valid_fields())
            valid.append((params, body))
            self.add_wc("valid", params, body)
        for _ in range(int(size * share["replayed"])):
            self.add_wc("replayed", *rng.choice(valid))
        self._wc_unsigned(int(size * share["unsigned"]), valid)
        self._wc_malformed(int(size * share["malformed"]), valid)
        self._wc_oversized(int(size * share["oversized"]))
        self._wc_xml_attacks(int(size * share["xml attack"]))
        self._wc_broken_aes(int(size * share["broken aes"]))
        for i in range(int(size * share["wrong app id"])):
            self.add_wc("wrong app id", *self.delivery(self.valid_fields(), mode="safe",
                                                       app_id=f"wx{i % 97:016d}"))
        for _i in range(int(size * share["wrong account"])):
            fields = {**self.valid_fields(), "ToUserName": rng.choice(["gh_other0000000", "", "GH_0123456789AB",
                                                                       WF.DEMO_WC_ORIGINAL_ID + " "])}
            self.add_wc("wrong account", *self.delivery(fields, mode=rng.choice(["plain", "safe"])))
        for i in range(int(size * share["nested"])):
            depth = rng.choice([9, 50, 1000, 100000])
            body = b"<xml>" + b"<a>" * depth + b"x" + b"</a>" * depth + b"</xml>"
            params, body = self.delivery(body, mode="plain" if i % 2 else "safe")
            self.add_wc("nested", params, body)
        self._wc_wrong_types(size - len(self.items))
        head, tail = self.items[:len(valid)], self.items[len(valid):]
        rng.shuffle(tail)
        self.items = head + tail
        return self.items

    def _wc_unsigned(self, n, valid):
        rng = self.rng
        for i in range(n):
            params, body = self.delivery(self.valid_fields())
            variant = i % 8
            if variant == 0:
                params = {k: v for k, v in params.items() if k not in ("signature", "msg_signature")}
            elif variant == 1:
                params.update(signature="0" * 40, msg_signature="0" * 40)
            elif variant == 2:
                params["timestamp"] = str(int(params["timestamp"]) + 1)
            elif variant == 3:
                params["nonce"] += "x"
            elif variant == 4:
                params = {**params, **{k: v[:-1] for k, v in params.items() if k.endswith("signature")}}
            elif variant == 5:
                params = dict(rng.choice(valid)[0])  # the signature of another delivery
                params.update(timestamp="1", nonce="1")
            elif variant == 6:
                params, body = self.delivery(self.valid_fields(), mode="safe", token="another-token")
            else:
                params, body = self.delivery(self.valid_fields(), mode="plain", token="another-token")
            self.add_wc("unsigned", params, body)

    def _wc_malformed(self, n, valid):
        rng = self.rng
        fixed = [b"", b" ", b"{}", b"null", b"<xml>", b"</xml>", b"<xml/>", b"<root/>", b"<xml><xml/></xml>",
                 b"\xef\xbb\xbf<xml/>", b"\xff\xfe<\x00x\x00", b"\x00" * 10, b"<xml/><xml/>", b"<?xml?><xml/>"]
        for i in range(n):
            if i < len(fixed):
                body = fixed[i]
            else:
                base = WF.wc_xml(self.valid_fields())
                choice = i % 5
                if choice == 0:
                    body = base[:rng.randrange(1, len(base))]
                elif choice == 1:
                    body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                elif choice == 2:
                    pos = rng.randrange(len(base))
                    body = base[:pos] + bytes([rng.choice([0x80, 0xC0, 0xFF, 0xED, 0x00, 0x01])]) + base[pos:]
                elif choice == 3:
                    body = base.replace(b"<xml>", b"<xml><", 1)
                else:
                    body = base.replace(b"</MsgType>", b"</MsgTyp>", 1)
            # authenticated: plain (the signature does not cover the body) or encrypted right
            if i % 2:
                self.add_wc("malformed", self.signed_plain(body), body)
            else:
                self.add_wc("malformed", *self.signed_encrypt(WF.wc_encrypt(body)))

    def _wc_oversized(self, n):
        limit = 1024 * 1024
        for i in range(n):
            fields = WF.wc_text(text="x" * (limit + 10 + i), msg_id=990000000 + i)
            params, body = self.delivery(fields, mode="plain" if i % 2 else "safe")
            variant = i % 3
            if variant == 0:
                self.add_wc("oversized", params, body)
            elif variant == 1:
                self.add_wc("oversized", params, body, mode="chunked")
            else:
                self.add_wc("oversized", params, b"<xml/>", mode="huge-length")

    def _wc_xml_attacks(self, n):
        for i in range(n):
            body = XML_ATTACKS[i % len(XML_ATTACKS)] % {b"to": WF.DEMO_WC_ORIGINAL_ID.encode()}
            if i % 3 == 0:
                self.add_wc("xml attack", self.signed_plain(body), body)
            elif i % 3 == 1:
                self.add_wc("xml attack", *self.signed_encrypt(WF.wc_encrypt(body)))
            else:  # the attack in the outer, clear envelope of an encrypted delivery
                params, inner = self.signed_encrypt(WF.wc_encrypt(WF.wc_xml(self.valid_fields())))
                self.add_wc("xml attack", params, body.replace(b"<xml>", inner[:5], 1) if b"<xml>" in body else body)

    def _wc_broken_aes(self, n):
        rng = self.rng
        for i in range(n):
            good = WF.wc_encrypt(WF.wc_xml(self.valid_fields()))
            raw = bytearray(base64.b64decode(good))
            variant = i % 7
            if variant == 0:
                # in the last two blocks: the padding or the app id breaks (a flip elsewhere garbles the XML, or
                # nothing that is checked: CBC has no integrity, the msg_signature and app id give it)
                raw[len(raw) - 1 - rng.randrange(32)] ^= 1 << rng.randrange(8)
                encrypted = base64.b64encode(bytes(raw)).decode()
            elif variant == 1:
                encrypted = base64.b64encode(bytes(raw[:-rng.randrange(1, 17)])).decode()
            elif variant == 2:
                encrypted = good[:-4] + "!!!!"
            elif variant == 3:
                encrypted = WF.wc_encrypt(WF.wc_xml(self.valid_fields()), aes_key="Z" * 43)
            elif variant == 4:
                encrypted = base64.b64encode(bytes(rng.randrange(256) for _ in range(64))).decode()
            elif variant == 5:
                encrypted = ""
            else:
                encrypted = base64.b64encode(b"\x10" * 32).decode()
            self.add_wc("broken aes", *self.signed_encrypt(encrypted))

    def _wc_wrong_types(self, n):
        rng = self.rng
        seen = set()
        while n > 0:
            fields = self.valid_fields()
            key = rng.choice([k for k in fields if k != "ToUserName"])
            value = rng.choice(WC_WRONG_VALUES)
            mutated = dict(fields)
            if value is None:
                del mutated[key]
            else:
                mutated[key] = value
            params, body = self.delivery(mutated, mode="plain" if n % 2 else "safe")
            if body in seen:
                continue
            seen.add(body)
            self.add_wc("wrong type", params, body, path=key)
            n -= 1


def raw_post(url, item, timeout=30):
    """POST with a raw socket (chunked bodies, lying lengths); (status or error name)."""
    host, port, path = c._split(url)
    if item.get("query"):
        path += "?" + item["query"]
    body, headers = item["body"], dict(item["headers"])
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    if item["mode"] == "chunked":
        lines.append("Transfer-Encoding: chunked")
        chunk = 65536
        payload = b"".join(b"%x\r\n" % len(body[i:i + chunk]) + body[i:i + chunk] + b"\r\n"
                           for i in range(0, len(body), chunk)) + b"0\r\n\r\n"
    elif item["mode"] == "huge-length":
        lines.append("Content-Length: 10000000000")
        payload = body
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sent_all = True
        try:
            sock.sendall(request)
        except OSError:
            sent_all = False
        try:
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            return ("reset-before-answer" if not sent_all or item["category"] == "oversized"
                    else type(exc).__name__)
    if not data:
        return "closed-without-answer"
    return int(data.split(b" ", 2)[1])


def post_corpus(url, items, concurrency):
    answers = [None] * len(items)
    lock = threading.Lock()
    cursor = iter(range(len(items)))

    def worker():
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            try:
                answers[index] = raw_post(url, items[index])
            except OSError as exc:
                answers[index] = type(exc).__name__

    # valid ones first, sequentially enough that the replays find them stored
    n_valid = sum(1 for item in items if item["category"] == "valid")
    for index in range(n_valid):
        answers[index] = raw_post(url, items[index])
    cursor = iter(range(n_valid, len(items)))
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def delivery_key(provider, body):
    try:
        provider.parse(body)
        return provider.delivery_key(body)
    except Exception:  # noqa: BLE001 - a body the provider refuses has no key
        return None


def crc_gets(url):
    """Hostile CRC GETs; the answer to each. A plain token must get the exact response token; a token that
    could be a delivery body, or none at all, must be refused; an odd one (raw percent escapes) may go either
    way, never 5xx. A string answer is a failure."""
    body = F.body_bytes({"data": {"event_uuid": "1", "filter": {"user_id": X_USER_ID}, "event_type": "chat.received",
                                  "payload": {"id": "forged", "sender_id": "1600000000000000001",
                                              "conversation_id": f"1600000000000000001:{X_USER_ID}",
                                              "encoded_event": "Zm9yZ2Vk"}}})
    tokens = {"crc none": (None, "refused"), "crc empty": ("", "refused"), "crc body": (body.decode(), "refused"),
              "crc NUL": ("a\x00b", "refused"), "crc long": ("t" * 5000, "refused"),
              "crc raw escapes": ("%ff%fe", "any"), "crc plain": ("challenge_string", 200)}
    answers = {}
    for label, (token, expected) in tokens.items():
        if token is None:
            query = ""
        elif expected == "any":
            query = "?crc_token=" + token
        else:
            query = "?" + urllib.parse.urlencode({"crc_token": token})
        try:
            status, answer = c.http_get(url + query)
        except OSError as exc:
            answers[label] = type(exc).__name__
            continue
        if expected == 200 and status == 200 and json.loads(answer) != FX.x_crc_response(token, X_SECRET):
            answers[label] = "wrong CRC answer"
        elif expected == 200 and status != 200:
            answers[label] = f"{status} for a plain token"
        elif expected == "refused" and status == 200:
            answers[label] = "200: signed a hostile token"
        else:
            answers[label] = status
    return answers


def run_provider(name, args, server, db, account):
    seed = args.seed + {"whatsapp": 0, "telegram": 1, "x": 2, "messenger": 3, "instagram": 4, "wechat": 5}[name]
    corpus = (WeChatCorpus if name == "wechat" else Corpus)(name, seed=seed, size=args.per_provider)
    items = corpus.build()
    url = f"{server.url}/messenger/webhook/{account['key']}"
    provider = {"whatsapp": lambda: WhatsAppProvider({"app_secret": c.APP_SECRET}),
                "telegram": lambda: TelegramProvider({"secret_token": c.TG_SECRET}),
                "x": lambda: XProvider({"consumer_secret": X_SECRET, "user_id": X_USER_ID}),
                "messenger": lambda: get_provider("messenger", {"app_secret": c.APP_SECRET}),
                "instagram": lambda: get_provider("instagram", {"app_secret": c.APP_SECRET}),
                "wechat": lambda: WeChatProvider(WC_CONFIG)}[name]()
    before = {row[0] for row in c.sql(db, "SELECT key FROM messenger_event WHERE account_id = %s", [account["id"]])}
    started = time.perf_counter()
    answers = post_corpus(url, items, args.concurrency)
    seconds = time.perf_counter() - started
    # hostile keys on the URL itself
    extra = {}
    for key in ["%00" + account["key"], account["key"] + "%00", "k" * 5000, "..%2F..%2Fetc", "%ff%fe", "a b"]:
        try:
            extra[key[:12]] = raw_post(f"{server.url}/messenger/webhook/{key}", {
                "body": b"{}", "headers": {"Content-Type": "application/json"}, "mode": "post", "category": "key"})
        except OSError as exc:
            extra[key[:12]] = type(exc).__name__
    if name == "x":
        extra.update(crc_gets(url))
    stored = {row[0] for row in c.sql(db, "SELECT key FROM messenger_event WHERE account_id = %s", [account["id"]])} - before
    by_category = collections.defaultdict(collections.Counter)
    accepted_keys, refused_keys = set(), set()
    for item, answer in zip(items, answers):
        by_category[item["category"]][answer] += 1
        key = delivery_key(provider, item["body"]) if answer == 200 or item["category"] == "wrong type" else None
        if answer == 200 and key:
            accepted_keys.add(key)
        elif key:
            refused_keys.add(key)
    five_xx = sum(n for counter in by_category.values() for a, n in counter.items() if isinstance(a, int) and a >= 500)
    five_xx += sum(1 for a in extra.values() if isinstance(a, int) and a >= 500)
    dropped = sum(n for cat, counter in by_category.items() for a, n in counter.items()
                  if not isinstance(a, int) and not (cat == "oversized" and a == "reset-before-answer"))
    stored_from_refused = len(stored & (refused_keys - accepted_keys))
    stored_unexplained = len(stored - accepted_keys)
    wrong_200 = sum(n for cat, counter in by_category.items() for a, n in counter.items()
                    if a == 200 and cat in REFUSED_CATEGORIES)
    replay_ok = by_category["replayed"].get(200, 0) == sum(by_category["replayed"].values())
    crc_bad = sum(1 for label, a in extra.items() if label.startswith("crc") and isinstance(a, str))
    return {"provider": name, "requests": len(items) + len(extra), "seconds": seconds, "by_category": by_category,
            "extra": extra, "five_xx": five_xx, "dropped": dropped, "stored": len(stored),
            "stored_from_refused": stored_from_refused, "stored_unexplained": stored_unexplained,
            "wrong_200": wrong_200, "replay_ok": replay_ok, "crc_bad": crc_bad}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-provider", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20241124)
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--providers", default="whatsapp,telegram,x,messenger,instagram,wechat",
                        help="comma-separated: whatsapp, telegram, x, messenger, instagram, wechat (default: all)")
    args = parser.parse_args()
    c.free_port_check(args.port)
    db = c.fresh_db("bench_hostile")
    chosen = [name.strip() for name in args.providers.split(",") if name.strip()]
    setups = {"whatsapp": lambda: c.setup_wa_account(db),
              "telegram": lambda: c.shell(db, SETUP_TG % {"token": c.TG_TOKEN, "secret": c.TG_SECRET}),
              "x": lambda: c.shell(db, SETUP_X % {"user_id": X_USER_ID, "secret": X_SECRET}),
              **{name: lambda name=name: c.shell(db, SETUP_META % {"provider": name, "page_id": META_PAGE_IDS[name],
                                                                   "secret": c.APP_SECRET})
                 for name in META_PAGE_IDS},
              "wechat": lambda: c.shell(db, SETUP_WC % {
                  "app_id": WF.DEMO_WC_APP_ID, "secret": WF.DEMO_WC_APP_SECRET, "token": WF.DEMO_WC_TOKEN,
                  "aes_key": WF.DEMO_WC_AES_KEY, "original_id": WF.DEMO_WC_ORIGINAL_ID})}
    accounts = [(name, setups[name]()) for name in chosen]
    results = []
    server = c.OdooServer(db, args.port, workers=4, cron=1, name="hostile")
    # the log is appended to: only this run's lines count
    log_start = server.logfile.stat().st_size if server.logfile.exists() else 0
    with server:
        for name, account in accounts:
            c.log(f"{name}: posting the corpus ...")
            results.append(run_provider(name, args, server, db, account))
        c.sql("postgres", "SELECT pg_notify('cron_trigger', %s)", [db])
        deadline = time.time() + 600
        while time.time() < deadline and c.sql(db, "SELECT 1 FROM messenger_event WHERE state = 'pending' LIMIT 1"):
            time.sleep(0.5)
        events = dict(c.sql(db, "SELECT state, count(*) FROM messenger_event GROUP BY state"))
        errors = c.sql(db, "SELECT left(error, 160), count(*) FROM messenger_event WHERE state = 'failed' "
                           "GROUP BY 1 ORDER BY 2 DESC LIMIT 5")
    with open(server.logfile, errors="replace") as log:
        log.seek(log_start)
        log_500 = sum(1 for line in log if "Exception during request handling" in line)

    print(f"\nHostile corpus (seed {args.seed}), Odoo prefork --workers=4. Machine: {c.machine()}\n")
    categories = ["valid", "replayed", "unsigned", "malformed", "wrong type", "nested", "oversized", "xml attack",
                  "broken aes", "wrong app id", "wrong account"]
    rows = []
    for r in results:
        for category in (cat for cat in categories if r["by_category"][cat]):
            counter = r["by_category"][category]
            rows.append([r["provider"], category, sum(counter.values()),
                         ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])))])
        rows.append([r["provider"], "hostile webhook keys", len(r["extra"]),
                     ", ".join(f"{k!r}: {v}" for k, v in r["extra"].items())])
    print(c.table(["provider", "category", "requests", "answers"], rows))
    print()
    print(c.table(["provider", "requests", "seconds", "5xx", "dropped w/o answer", "200 for invalid",
                   "stored", "stored from a refused one", "stored not acknowledged", "replays 200"],
                  [[r["provider"], r["requests"], f"{r['seconds']:.0f}", r["five_xx"], r["dropped"], r["wrong_200"],
                    r["stored"], r["stored_from_refused"], r["stored_unexplained"], "yes" if r["replay_ok"] else "NO"]
                   for r in results]))
    print(f"\nProcessing of what was stored: {events}; failed with errors kept: {errors or 'none'}; "
          f"requests that crashed (500) in the Odoo log: {log_500}")
    ok = all(not r["five_xx"] and not r["dropped"] and not r["wrong_200"] and not r["stored_from_refused"]
             and not r["stored_unexplained"] and r["replay_ok"] and not r["crc_bad"] for r in results) and not events.get("pending") \
        and not log_500
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
