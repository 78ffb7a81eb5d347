from pathlib import Path

from services.meetings.config import MeetingsSettings
from shared.cli import service_main

service_main(
    "meetings",
    MeetingsSettings(),
    app_path="services.meetings.main:create",
    migrations_dir=Path(__file__).parent / "migrations",
)
