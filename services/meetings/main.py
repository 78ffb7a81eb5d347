"""The meetings service's app: meetings, their participants, agendas, decisions and briefings."""

from fastapi import FastAPI

from services.meetings import api, consumers, orm
from services.meetings.config import MeetingsSettings
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app
from shared.topics import PLANS_EVENTS


def create() -> FastAPI:
    app = create_app(
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
            routers=[api.router],
            consumed_topics=[PLANS_EVENTS],
            handlers=consumers.HANDLERS,
            openapi_tags=[
                {"name": "meetings", "description": "Meetings, their lifecycle and arrangements"},
                {"name": "decisions", "description": "Decisions adopted, and commitments"},
                {"name": "briefings", "description": "Progress of the plans under review"},
            ],
        )
    )
    api.install_domain_errors(app)
    return app
