"""What every service's process is made of, assembled in one place.

A service describes itself with a ``ServiceSpec`` (its tables, routers and the contracts it
subscribes to); ``create_app`` turns that into a FastAPI app whose lifespan makes the
engine, runs the outbox relay, creates the Kafka topics and runs the consumer group.
Kafka being down never stops the app from starting: the relay and the consumer retry in the
background and ``/readyz`` says not ready meanwhile.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import MetaData, Table

from shared import failpoints, idempotency, kafka_reconnect
from shared.asyncapi import catalogue_router
from shared.backoff import Backoff
from shared.config import CommonSettings, ServiceSettings
from shared.consumer import ConsumerRunner
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.health import health_router
from shared.logging import configure_logging
from shared.middleware import install_middleware
from shared.outbox import OutboxRelay
from shared.parameters import refuse_unstorable_parameters
from shared.problems import COMMON_RESPONSES, document_problems, install_problem_handlers
from shared.subscriptions import Subscriptions
from shared.topics import create_topics

log = structlog.get_logger(__name__)


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    settings: ServiceSettings
    common: CommonSettings
    metadata: MetaData
    outbox: Table
    processed_events: Table
    # Messages the dead-letter topic refused (shared/dead_letters.py).
    dead_letters: Table
    routers: list[APIRouter]
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    # Long-running jobs of the service (e.g. a webhook dispatcher), started with the app and
    # cancelled when it stops; each gets the app, whose state holds the session factory.
    background: list[Callable[[FastAPI], Coroutine[Any, Any, None]]] = field(default_factory=list)


@dataclass
class Runtime:
    """The live parts of a running service, kept on ``app.state.runtime``."""

    relay: OutboxRelay
    consumer: ConsumerRunner | None
    tasks: list[asyncio.Task[None]]


def create_app(spec: ServiceSpec) -> FastAPI:
    configure_logging(spec.name, spec.common.log_level)
    failpoints.arm(spec.common.failpoints)
    kafka_reconnect.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(spec.settings.database_url, spec.settings.db_pool_size)
        sessions = make_session_factory(engine)
        app.state.engine = engine
        app.state.database_outage.watch(engine)
        app.state.sessions = sessions
        relay = OutboxRelay(
            sessions=sessions,
            table=spec.outbox,
            listen_dsn=asyncpg_dsn(spec.settings.database_url),
            bootstrap_servers=spec.common.kafka_bootstrap_servers,
        )
        consumer = None
        if spec.subscriptions.topics:
            consumer = ConsumerRunner(
                group_id=f"accord-{spec.name}",
                topics=spec.subscriptions.topics,
                handlers=spec.subscriptions.handlers,
                sessions=sessions,
                processed_table=spec.processed_events,
                dead_letters_table=spec.dead_letters,
                bootstrap_servers=spec.common.kafka_bootstrap_servers,
                stall_seconds=spec.common.consumer_stall_seconds,
            )
        runtime = Runtime(relay=relay, consumer=consumer, tasks=[])
        app.state.runtime = runtime
        runtime.tasks.append(asyncio.create_task(_create_topics_when_possible(spec.common)))
        runtime.tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        runtime.tasks.append(
            asyncio.create_task(
                idempotency.purge_forever(sessions, app.state.idempotency_table),
                name="idempotency-purge",
            )
        )
        if consumer is not None:
            runtime.tasks.append(asyncio.create_task(consumer.run(), name="consumer"))
        for job in spec.background:
            runtime.tasks.append(asyncio.create_task(job(app), name=job.__name__))
        log.info("service_started", port=spec.settings.http_port)
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await engine.dispose()
            log.info("service_stopped")

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="0.1.0",
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
        openapi_tags=spec.openapi_tags or None,
        # Path and query parameters that are not storable text are refused before any route.
        # Then a POST with an Idempotency-Key claims it, or is answered without running.
        dependencies=[Depends(refuse_unstorable_parameters), Depends(idempotency.claim_key)],
    )
    app.state.jwt_secret = spec.common.jwt_secret
    app.state.spec = spec
    app.state.idempotency_table = spec.metadata.tables["idempotency_keys"]
    app.state.idempotency_key_seconds = spec.common.idempotency_key_seconds
    install_problem_handlers(app)
    app.add_exception_handler(idempotency.Replay, idempotency.on_replay)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = document_problems(generate_openapi())
            app.openapi_schema = idempotency.document_idempotency(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Innermost: records the answer of a request that claimed an Idempotency-Key.
    app.add_middleware(idempotency.IdempotencyMiddleware)
    # Starlette counts the body as it arrives, announced or chunked, and answers 413.
    install_middleware(app, spec.common.max_body_bytes)
    app.include_router(health_router)
    app.include_router(catalogue_router)
    for router in spec.routers:
        app.include_router(router)
    return app


async def _create_topics_when_possible(common: CommonSettings) -> None:
    """Topics are created explicitly; keep trying until the broker answers once."""
    backoff = Backoff(0.5, 10.0)
    while True:
        try:
            created = await create_topics(common.kafka_bootstrap_servers, timeout=15)
            if created:
                log.info("topics_created", topics=created)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("topics_not_created_yet", error=f"{type(exc).__name__}: {exc}")
            await backoff.sleep()
