"""Operator commands of the rollups (``python -m services.plans rollups-check`` and
``rollups-rebuild``): check the read model against a fresh recount, and rebuild it."""

import json

from services.plans.config import PlansSettings
from services.plans.rollups import replay, views
from shared.cli import Command
from shared.config import CommonSettings
from shared.db import make_engine, make_session_factory


async def check_rollups() -> int:
    settings = PlansSettings()
    engine = make_engine(settings.database_url, 2, settings.database_connect_args())
    try:
        async with make_session_factory(engine)() as session:
            plans, differences = await views.check_all(session)
    finally:
        await engine.dispose()
    for difference in differences:
        print(json.dumps(vars(difference), default=str))
    print(f"{plans} plans checked, {len(differences)} rollups differ from a fresh recount")
    return 1 if differences else 0


async def rebuild_rollups() -> int:
    settings, common = PlansSettings(), CommonSettings()
    engine = make_engine(settings.database_url, 2, settings.database_connect_args())
    try:
        applied = await replay.rebuild(make_session_factory(engine), common.kafka_access())
    finally:
        await engine.dispose()
    print(f"rollups rebuilt from {applied} line events")
    return 0


COMMANDS = {
    "rollups-check": Command(
        "compare every rollup with a fresh recount; exit 1 on any difference", check_rollups
    ),
    "rollups-rebuild": Command(
        "rebuild the rollup read model by replaying the plans topic", rebuild_rollups
    ),
}
