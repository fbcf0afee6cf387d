#!/usr/bin/env python3
"""Run the fake WhatsApp Cloud API and Telegram Bot API servers until killed (demo database, manual tests).

    python3 tools/fake_providers.py --whatsapp-port 8611 --telegram-port 8612

Ports also from the environment: MC_FAKE_WHATSAPP_PORT, MC_FAKE_TELEGRAM_PORT (the options win). A port
already in use is reported in one line and the command exits with status 2. ``--wechat-port`` (or
MC_FAKE_WECHAT_PORT) also starts the fake WeChat API (AppID wx0123456789abcdef, its secret and keys in
``messenger_fakes.wechat``).

The demo accounts point at http://127.0.0.1:8611 (phone_number_id 100000000000001, token demo-wa-token)
and http://127.0.0.1:8612 (bot token 100000:demo-telegram-token). Drive the fakes from another process
with their admin endpoints, e.g. ``curl http://127.0.0.1:8611/_fake/sent``.
"""
import argparse
import os
import pathlib
import signal
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import messenger_fakes as fakes  # noqa: E402
from messenger_fakes import wechat as wechat_fake  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--whatsapp-port", type=int, default=int(os.environ.get("MC_FAKE_WHATSAPP_PORT", 8611)))
    parser.add_argument("--telegram-port", type=int, default=int(os.environ.get("MC_FAKE_TELEGRAM_PORT", 8612)))
    parser.add_argument("--phone-number-id", default=fakes.DEMO_WA_PHONE_NUMBER_ID)
    parser.add_argument("--access-token", default=fakes.DEMO_WA_TOKEN)
    parser.add_argument("--api-version", default="v21.0")
    parser.add_argument("--bot-token", default=fakes.DEMO_TG_TOKEN)
    parser.add_argument("--wechat-port", type=int, default=int(os.environ.get("MC_FAKE_WECHAT_PORT") or 0) or None,
                        help="also start the fake WeChat API on this port")
    parser.add_argument("--rate-cap", type=int, default=None, help="WhatsApp sends per second before 130429")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    servers = [
        fakes.FakeWhatsApp(phone_number_id=args.phone_number_id, access_token=args.access_token,
                           api_version=args.api_version, port=args.whatsapp_port, host=args.host,
                           rate_cap=args.rate_cap),
        fakes.FakeTelegram(bot_token=args.bot_token, port=args.telegram_port, host=args.host),
    ]
    options = ["--whatsapp-port", "--telegram-port"]
    if args.wechat_port:
        servers.append(wechat_fake.FakeWeChat(port=args.wechat_port, host=args.host))
        options.append("--wechat-port")
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
