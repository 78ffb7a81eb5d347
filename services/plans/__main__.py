from pathlib import Path

from services.plans.config import PlansSettings
from services.plans.rollups.cli import COMMANDS
from services.plans.statements.cli import check_statement
from shared.cli import Command, service_main

service_main(
    "plans",
    PlansSettings(),
    app_path="services.plans.main:create",
    migrations_dir=Path(__file__).parent / "migrations",
    commands={
        **COMMANDS,
        "check-statement": Command(
            "check the figure claims of the text on standard input (STATEMENT_PLAN_CODE and "
            "STATEMENT_AS_OF override the plan and date it names); exit 1 if any is wrong",
            check_statement,
        ),
    },
)
