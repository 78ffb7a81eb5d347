"""The plans service's app: plans, sections, action lines and their statuses."""

from fastapi import FastAPI

from services.plans import api, consumers, orm
from services.plans.config import PlansSettings
from services.plans.figures import api as figures_api
from services.plans.pages import api as pages_api
from services.plans.rollups import api as rollups_api
from services.plans.statements import api as statements_api
from services.plans.transfer import api as transfer_api
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app


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
            dead_letters=orm.dead_letters,
            routers=[
                api.router,
                api.journal_router,
                rollups_api.router,
                transfer_api.router,
                pages_api.router,
                figures_api.router,
                statements_api.router,
            ],
            # Its own line events feed the rollups; meetings' decisions change statuses and plans.
            subscriptions=consumers.subscriptions,
        )
    )
