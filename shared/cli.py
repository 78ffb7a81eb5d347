"""``python -m services.<name> migrate|serve|...``: the commands every service answers, plus
the service's own operator commands."""

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from shared.config import CommonSettings, ServiceSettings
from shared.lifecycle import DrainingServer
from shared.migrations import upgrade


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[], Coroutine[Any, Any, int]]  # returns the exit status


def service_main(
    name: str,
    settings: ServiceSettings,
    app_path: str,
    migrations_dir: Path,
    commands: dict[str, Command] | None = None,
) -> None:
    extra = commands or {}
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("migrate", help="bring this service's database schema up to date")
    subcommands.add_parser("serve", help="run the HTTP API, the outbox relay and the consumers")
    for command_name, command in extra.items():
        subcommands.add_parser(command_name, help=command.help, description=command.help)
    args = parser.parse_args()
    if args.command == "migrate":
        upgrade(
            migrations_dir, settings.database_url, connect_args=settings.database_connect_args()
        )
        print(f"{name}: database schema up to date")
    elif args.command == "serve":
        common = CommonSettings()
        config = uvicorn.Config(
            app_path,
            factory=True,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # our JSON logging is configured by the app
            # X-Forwarded-For is believed from the configured proxies only (shared/config.py).
            proxy_headers=bool(common.trusted_proxy_list),
            forwarded_allow_ips=common.trusted_proxy_list or None,
            root_path=settings.root_path,
            # In-flight requests get the grace period too (then the app's workers get theirs).
            timeout_graceful_shutdown=int(common.shutdown_grace_seconds),
            timeout_keep_alive=common.http_keep_alive_seconds,
        )
        # SIGTERM: /readyz turns 503 first, accepting stops after the drain (shared/lifecycle.py).
        DrainingServer(config, common.shutdown_drain_seconds).run()
    else:
        raise SystemExit(asyncio.run(extra[args.command].run()))
