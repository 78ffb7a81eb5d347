from pathlib import Path

from services.notifications.config import NotificationsSettings
from services.notifications.webhooks.key_rotation import COMMANDS
from shared.cli import service_main

service_main(
    "notifications",
    NotificationsSettings(),
    app_path="services.notifications.main:create",
    migrations_dir=Path(__file__).parent / "migrations",
    commands=COMMANDS,
)
