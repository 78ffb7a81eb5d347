"""The meetings service's app: meetings, their participants, agendas, decisions and briefings."""

from fastapi import FastAPI

from services.meetings import api, consumers, orm
from services.meetings.briefings import api as briefings_api
from services.meetings.config import MeetingsSettings
from services.meetings.pages import api as pages_api
from services.meetings.statements import api as statements_api
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app


def create() -> FastAPI:
    return create_app(
        ServiceSpec(
            name="meetings",
            title="Accord meetings",
            description=(
                "Meetings that review plans of action, the decisions they adopt, and the "
                "briefings that show each plan's progress as of a meeting."
            ),
            settings=MeetingsSettings(),
            common=CommonSettings(),
            metadata=orm.Base.metadata,
            outbox=orm.outbox,
            processed_events=orm.processed_events,
            dead_letters=orm.dead_letters,
            routers=[api.router, briefings_api.router, pages_api.router, statements_api.router],
            subscriptions=consumers.subscriptions,
            openapi_tags=[
                {"name": "meetings", "description": "Meetings, their lifecycle and arrangements"},
                {"name": "decisions", "description": "Decisions adopted, and commitments"},
                {"name": "briefings", "description": "Progress of the plans under review"},
            ],
        )
    )
