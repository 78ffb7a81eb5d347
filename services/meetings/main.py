"""The meetings service's app: meetings, their participants, agendas and decisions."""

from fastapi import FastAPI

from services.meetings import orm
from services.meetings.config import MeetingsSettings
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app


def create() -> FastAPI:
    return create_app(
        ServiceSpec(
            name="meetings",
            title="Accord meetings",
            description="Meetings that review plans of action, and the decisions they adopt.",
            settings=MeetingsSettings(),
            common=CommonSettings(),
            metadata=orm.Base.metadata,
            outbox=orm.outbox,
            processed_events=orm.processed_events,
            routers=[],
        )
    )
