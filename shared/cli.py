"""``python -m services.<name> migrate|serve``: the two commands every service answers."""

import argparse
from pathlib import Path

import uvicorn

from shared.config import ServiceSettings
from shared.migrations import upgrade


def service_main(name: str, settings: ServiceSettings, app_path: str, migrations_dir: Path) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring this service's database schema up to date")
    commands.add_parser("serve", help="run the HTTP API, the outbox relay and the consumers")
    args = parser.parse_args()
    if args.command == "migrate":
        upgrade(migrations_dir, settings.database_url)
        print(f"{name}: database schema up to date")
    else:
        uvicorn.run(
            app_path,
            factory=True,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # our JSON logging is configured by the app
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
