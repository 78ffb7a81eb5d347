from pathlib import Path

from services.plans.config import PlansSettings
from services.plans.rollups.cli import COMMANDS
from shared.cli import service_main

service_main(
    "plans",
    PlansSettings(),
    app_path="services.plans.main:create",
    migrations_dir=Path(__file__).parent / "migrations",
    commands=COMMANDS,
)
