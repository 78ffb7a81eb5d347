"""The plans service's app: plans, sections, action lines and their statuses."""

from fastapi import FastAPI

from services.plans import api, api_journal, api_rollups, api_transfer, consumers, orm
from services.plans.config import PlansSettings
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app
from shared.topics import MEETINGS_EVENTS, PLANS_EVENTS


def create() -> FastAPI:
    return create_app(
        ServiceSpec(
            name="plans",
            title="Accord plans",
            description=(
                "Plans of action, their sections and action lines, statuses and their journal."
            ),
            settings=PlansSettings(),
            common=CommonSettings(),
            metadata=orm.Base.metadata,
            outbox=orm.outbox,
            processed_events=orm.processed_events,
            routers=[api.router, api_journal.router, api_rollups.router, api_transfer.router],
            # Its own events feed the rollups; meetings' decisions change statuses and plans.
            consumed_topics=[PLANS_EVENTS, MEETINGS_EVENTS],
            handlers=consumers.HANDLERS,
        )
    )
