"""What every service's process is made of, assembled in one place.

A service describes itself with a ``ServiceSpec`` (its tables, routers and the contracts it
subscribes to); ``create_app`` turns that into a FastAPI app whose lifespan makes the
engine, runs the outbox relay and runs the consumer group, as the service's own principal on
the broker (``shared/kafka_acls.py``). The topics are the admin's to create
(``python -m shared.topics create``), not the service's: its principal may not.
Kafka being down never stops the app from starting: the relay and the consumer retry in the
background and ``/readyz`` says not ready meanwhile.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import MetaData, Table

from shared import failpoints, idempotency, kafka_reconnect, metrics, tracing
from shared.asyncapi import catalogue_router
from shared.auth import refuse_missing_keys, token_verifier
from shared.config import CommonSettings, ServiceSettings
from shared.consumer import ConsumerRunner
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.health import health_router
from shared.kafka_acls import consumer_group
from shared.logging import configure_logging
from shared.middleware import UNLIMITED_PATHS, install_middleware
from shared.outbox import OutboxRelay
from shared.pages.session import LoginRequired, on_login_required
from shared.parameters import refuse_unstorable_parameters
from shared.problems import COMMON_RESPONSES, document_problems, install_problem_handlers
from shared.rate_limits import TokenBuckets
from shared.subscriptions import Subscriptions

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
    # The service's own measurements taken when Prometheus scrapes /metrics (shared/metrics.py),
    # after the ones every service has (readiness, outbox backlog, consumer lag).
    scrape_probes: list[metrics.ScrapeProbe] = field(default_factory=list)


@dataclass
class Runtime:
    """The live parts of a running service, kept on ``app.state.runtime``."""

    relay: OutboxRelay
    consumer: ConsumerRunner | None
    tasks: list[asyncio.Task[None]]


_NO_DOCS: dict[str, Any] = {"docs_url": None, "redoc_url": None, "openapi_url": None}


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNLIMITED_PATHS


def create_app(spec: ServiceSpec) -> FastAPI:
    configure_logging(spec.name, spec.common.log_level)
    tracing.configure_tracing(spec.name)  # only if the OTEL_* variables ask for it
    failpoints.arm(spec.common.failpoints)
    kafka_reconnect.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Here rather than in create_app: building the app (for its OpenAPI document) needs no keys.
        refuse_missing_keys(spec.common)
        database_tls = spec.settings.database_connect_args()
        engine = make_engine(spec.settings.database_url, spec.settings.db_pool_size, database_tls)
        tracing.instrument_database(engine)  # statement spans, only when tracing is on
        sessions = make_session_factory(engine)
        app.state.engine = engine
        app.state.database_outage.watch(engine)
        app.state.sessions = sessions
        relay = OutboxRelay(
            sessions=sessions,
            table=spec.outbox,
            listen_dsn=asyncpg_dsn(spec.settings.database_url),
            listen_connect_args=database_tls,
            kafka=spec.common.kafka_access(),
        )
        consumer = None
        if spec.subscriptions.topics:
            consumer = ConsumerRunner(
                group_id=consumer_group(spec.name),
                topics=spec.subscriptions.topics,
                handlers=spec.subscriptions.handlers,
                sessions=sessions,
                processed_table=spec.processed_events,
                dead_letters_table=spec.dead_letters,
                kafka=spec.common.kafka_access(),
                stall_seconds=spec.common.consumer_stall_seconds,
            )
        runtime = Runtime(relay=relay, consumer=consumer, tasks=[])
        app.state.runtime = runtime
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
        # FastAPI's own OpenTelemetry spans (the request's server span, its dependencies,
        # endpoint and serialisation), through the provider configure_tracing installed; none
        # for the probes and the scrape, which would bury the traces that matter.
        telemetry={"exclude": _untraced},
        # The interactive documentation and the schema are switched off in production.
        **({} if spec.common.docs_served else _NO_DOCS),
    )
    app.state.token_verifier = token_verifier(spec.common, spec.name)
    common = spec.common
    app.state.subject_limits = TokenBuckets(
        "requests_per_subject",
        common.rate_limit_subject_per_second,
        common.rate_limit_subject_burst,
    )
    app.state.scrape_probes = [
        metrics.readiness_probe,
        metrics.outbox_probe(spec.outbox, spec.dead_letters),
        *([metrics.consumer_lag_probe] if spec.subscriptions.topics else []),
        *spec.scrape_probes,
    ]
    app.state.spec = spec
    app.state.idempotency_table = spec.metadata.tables["idempotency_keys"]
    app.state.idempotency_key_seconds = spec.common.idempotency_key_seconds
    install_problem_handlers(app)
    app.add_exception_handler(idempotency.Replay, idempotency.on_replay)
    # A briefing page without a valid sign-in sends the browser to sign in (shared/pages).
    app.add_exception_handler(LoginRequired, on_login_required)
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
    per_address = TokenBuckets(
        "requests_per_address",
        common.rate_limit_address_per_second,
        common.rate_limit_address_burst,
    )
    install_middleware(app, common.max_body_bytes, per_address)
    app.include_router(health_router)
    app.include_router(metrics.metrics_router)
    app.include_router(catalogue_router)
    for router in spec.routers:
        app.include_router(router)
    return app
