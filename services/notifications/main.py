"""The notifications service's app: delegations, subscriptions, webhooks, inbox, stream."""

from fastapi import FastAPI

from services.notifications import api, consumers, metrics, orm
from services.notifications.config import NotificationsSettings
from services.notifications.digests.job import DigestJob
from services.notifications.email import api as email_api
from services.notifications.email.dispatcher import EmailDispatcher
from services.notifications.inbox import api as inbox_api
from services.notifications.inbox.stream_slots import StreamSlots
from services.notifications.wakeup import DELIVERIES, EMAILS, Listener
from services.notifications.webhooks import api as webhooks_api
from services.notifications.webhooks.catalogue import describe_webhooks
from services.notifications.webhooks.dispatcher import Dispatcher
from shared.config import CommonSettings
from shared.db import asyncpg_dsn
from shared.lifecycle import Role, run_until_stopped
from shared.service import Job, ServiceSpec, create_app

DESCRIPTION = """
Delegations, what they follow, and how they are told: signed webhooks, an inbox, a live stream
(Server-Sent Events) and digests.

A delegation's token reaches only its own subscriptions, endpoints, deliveries and inbox;
another delegation's ids answer 404. The secretariat sees everything.

## Verifying webhooks

Every webhook is a `POST` of a JSON body
(`{"type", "timestamp", "event_id", "delegation", "data", "context"}`; `context` names what the
event is about: plan, line, old and new status, who changed it, the plan's figures after the
change, the meeting, a commitment) signed per
[Standard Webhooks](https://www.standardwebhooks.com). This document's `webhooks` describe
each one a delegation can receive, named by its `type`, with its body's schema (`data` is the
event's data as its publisher wrote it, as in the event catalogue served at `/asyncapi.json`;
a digest is the webhook `org.accord.notifications.digest.ready`, whose `data` is the digest,
its text rendered, and which has no `context`) and its headers:

- `webhook-id`: the delivery's id, **the same on every retry and redelivery**: dedupe on it;
- `webhook-timestamp`: unix seconds of this attempt;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`;
  two of them, space-separated, while a rotated secret's overlap lasts.

The key is the base64 part of the endpoint's secret (after `whsec_`). With the reference
library (`pip install standardwebhooks`):

```python
from standardwebhooks import Webhook

payload = Webhook("whsec_...").verify(raw_body, request_headers)  # raises if not genuine
```

Verify the raw bytes (before any JSON parsing), reject timestamps more than five minutes away
from your clock, and answer 2xx within 15 s. Anything else is retried: immediately, then after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (a `Retry-After` header is honoured). Answer
`410 Gone` to disable the endpoint at once: its deliveries (that one included) wait, and go
out in order once you re-enable it. An endpoint failing for five days is disabled, after a
warning in the delegation's inbox. Redirects are not followed.
"""

TAGS = [
    {"name": "delegations", "description": "Subscribers, and dated membership of groupings"},
    {"name": "subscriptions", "description": "What a delegation follows, and how"},
    {"name": "webhooks", "description": "Endpoints, secrets, the delivery log, redelivery"},
    {"name": "inbox", "description": "The inbox and the live stream"},
    {"name": "contacts", "description": "The people of a delegation who are told by email"},
    {"name": "activity", "description": "Every event taken in"},
]


def create() -> FastAPI:
    settings = NotificationsSettings()
    common = CommonSettings()
    listener = Listener(asyncpg_dsn(settings.database_url), settings.database_connect_args())

    async def listen(app: FastAPI) -> None:
        await listener.run()

    async def dispatch(app: FastAPI) -> None:
        dispatcher = Dispatcher(
            app.state.sessions,
            settings,
            allow_loopback=common.allow_loopback_webhooks,
            pulse=listener.pulses[DELIVERIES],
            instance_id=common.instance_id or None,
        )
        await run_until_stopped(dispatcher.run(), dispatcher.stop, app.state.runtime.stopping)

    async def send_emails(app: FastAPI) -> None:
        await EmailDispatcher(
            app.state.sessions,
            settings,
            pulse=listener.pulses[EMAILS],
            instance_id=common.instance_id or None,
        ).run()

    async def digest(app: FastAPI) -> None:
        await DigestJob(app.state.sessions, settings).run()

    app = create_app(
        ServiceSpec(
            name="notifications",
            title="Accord notifications",
            description=DESCRIPTION,
            settings=settings,
            common=common,
            metadata=orm.Base.metadata,
            outbox=orm.outbox,
            processed_events=orm.processed_events,
            dead_letters=orm.dead_letters,
            routers=[api.router, webhooks_api.router, inbox_api.router, email_api.router],
            subscriptions=consumers.subscriptions,
            openapi_tags=TAGS,
            # The listener wakes the dispatcher and the live streams (api): always. Digests
            # run with the dispatchers, once per due digest whatever their number (their
            # rows are claimed with SKIP LOCKED and the delegation's last digest day is
            # locked and checked: digests/job.py).
            background=[
                Job(listen),
                Job(dispatch, Role.DISPATCHER, graceful=True),
                # Emails are cancelled when the process starts stopping (no graceful stop
                # yet): an attempt cut short is sent again, with the same Message-ID
                # (decision 29), once its lease ends or the same instance is back.
                Job(send_emails, Role.DISPATCHER),
                Job(digest, Role.DISPATCHER),
            ],
            scrape_probes=[metrics.webhook_probe],
        )
    )
    describe_webhooks(app)
    app.state.notifications_settings = settings
    app.state.stream_slots = StreamSlots(settings.max_streams_per_delegation)
    app.state.allow_loopback_webhooks = common.allow_loopback_webhooks
    app.state.listener = listener
    return app
