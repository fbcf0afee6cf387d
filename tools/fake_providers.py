#!/usr/bin/env python3
"""Run the fake platform servers of the demo until killed: WhatsApp Cloud API, Telegram Bot API, the Graph API
of a Facebook Page (Messenger) and of an Instagram account, and the WeChat API.

    python3 tools/fake_providers.py --whatsapp-port 8611 --telegram-port 8612 --messenger-port 8613 \\
        --instagram-port 8614 --wechat-port 8615

Ports also from the environment: MC_FAKE_WHATSAPP_PORT, MC_FAKE_TELEGRAM_PORT, MC_FAKE_MESSENGER_PORT,
MC_FAKE_INSTAGRAM_PORT, MC_FAKE_WECHAT_PORT (the options win); port 0 leaves that fake out. A port already in
use is reported in one line and the command exits with status 2.

The demo accounts point at http://127.0.0.1:8611 (phone_number_id 100000000000001, token demo-wa-token),
http://127.0.0.1:8612 (bot token 100000:demo-telegram-token), http://127.0.0.1:8613 (Page 100000000000101),
http://127.0.0.1:8614 (Instagram account 17841400000000101; both with the token demo-meta-page-token) and
http://127.0.0.1:8615 (AppID wx0123456789abcdef, its secret and keys in ``messenger_fakes.wechat``). Drive the
fakes from another process with their admin endpoints, e.g. ``curl http://127.0.0.1:8611/_fake/sent``.
"""
import argparse
import os
import pathlib
import signal
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import messenger_fakes as fakes  # noqa: E402
from messenger_fakes import meta as meta_fake  # noqa: E402
from messenger_fakes import wechat as wechat_fake  # noqa: E402

#: the demo's ports (see the demo accounts)
DEMO_PORTS = {"whatsapp": 8611, "telegram": 8612, "messenger": 8613, "instagram": 8614, "wechat": 8615}


def _port(platform):
    return int(os.environ.get(f"MC_FAKE_{platform.upper()}_PORT") or DEMO_PORTS[platform])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    for platform in DEMO_PORTS:
        parser.add_argument(f"--{platform}-port", type=int, default=_port(platform),
                            help=f"the fake {platform} API's port (0: not started)")
    parser.add_argument("--phone-number-id", default=fakes.DEMO_WA_PHONE_NUMBER_ID)
    parser.add_argument("--access-token", default=fakes.DEMO_WA_TOKEN)
    parser.add_argument("--api-version", default="v21.0")
    parser.add_argument("--bot-token", default=fakes.DEMO_TG_TOKEN)
    parser.add_argument("--rate-cap", type=int, default=None, help="WhatsApp sends per second before 130429")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    makers = {
        "whatsapp": lambda port: fakes.FakeWhatsApp(
            phone_number_id=args.phone_number_id, access_token=args.access_token, api_version=args.api_version,
            port=port, host=args.host, rate_cap=args.rate_cap),
        "telegram": lambda port: fakes.FakeTelegram(bot_token=args.bot_token, port=port, host=args.host),
        "messenger": lambda port: meta_fake.FakeMeta("messenger", port=port, host=args.host),
        "instagram": lambda port: meta_fake.FakeMeta("instagram", port=port, host=args.host),
        "wechat": lambda port: wechat_fake.FakeWeChat(port=port, host=args.host),
    }
    chosen = [(platform, getattr(args, f"{platform}_port")) for platform in DEMO_PORTS]
    servers = [makers[platform](port) for platform, port in chosen if port]
    options = [f"--{platform}-port" for platform, port in chosen if port]
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stopping.set())
    try:
        for server, option in zip(servers, options):
            server.verbose = args.verbose
            try:
                server.start()
            except OSError as error:
                print(f"fake_providers: cannot listen on {args.host}:{server.port} for the {type(server).__name__} "
                      f"fake ({error.strerror or error}); choose another port with {option}", file=sys.stderr)
                return 2
            print(f"{type(server).__name__} listening on {server.url}", flush=True)
        stopping.wait()
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
