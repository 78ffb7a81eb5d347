"""The notifications service's app: delegations, subscriptions, webhooks, inbox, stream."""

from fastapi import FastAPI

from services.notifications import api, consumers, orm
from services.notifications.config import NotificationsSettings
from shared.config import CommonSettings
from shared.service import ServiceSpec, create_app
from shared.topics import PLANS_EVENTS


def create() -> FastAPI:
    return create_app(
        ServiceSpec(
            name="notifications",
            title="Accord notifications",
            description=(
                "Delegations, what they follow, and how they are told: webhooks, inbox, stream."
            ),
            settings=NotificationsSettings(),
            common=CommonSettings(),
            metadata=orm.Base.metadata,
            outbox=orm.outbox,
            processed_events=orm.processed_events,
            routers=[api.router],
            consumed_topics=[PLANS_EVENTS],
            handlers=consumers.HANDLERS,
        )
    )
