"""What every service's process is made of, assembled in one place.

A service describes itself with a ``ServiceSpec`` (its tables, routers and the contracts it
subscribes to); ``create_app`` turns that into a FastAPI app whose lifespan makes the
engine, runs the outbox relay and runs the consumer group, as the service's own principal on
the broker (``shared/kafka_acls.py``). The topics are the admin's to create
(``python -m shared.topics create``), not the service's: its principal may not.
Kafka being down never stops the app from starting: the relay and the consumer retry in the
background and ``/readyz`` says not ready meanwhile. Which of its parts a process runs, and how
they stop, is ``shared/lifecycle.py``'s (``ACCORD_ROLES``, the shutdown grace period).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import MetaData, Table

from shared import collector, failpoints, idempotency, kafka_reconnect, lifecycle, metrics, tracing
from shared.asyncapi import catalogue_router
from shared.auth import refuse_missing_keys, token_verifier
from shared.config import CommonSettings, ServiceSettings
from shared.consumer import ConsumerRunner
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.health import health_router
from shared.kafka_acls import consumer_group
from shared.lifecycle import Role
from shared.logging import configure_logging
from shared.middleware import UNLIMITED_PATHS, install_middleware
from shared.outbox import OutboxRelay
from shared.pages.session import LoginRequired, on_login_required
from shared.parameters import refuse_unstorable_parameters
from shared.problems import COMMON_RESPONSES, document_problems, install_problem_handlers
from shared.rate_limits import TokenBuckets
from shared.subscriptions import Subscriptions

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    """A long-running job of a service (e.g. a webhook dispatcher), started with the app when
    its process has ``role`` (None: always), given the app, whose state holds the session
    factory and ``runtime.stopping``. A ``graceful`` job ends by itself once ``stopping`` is
    set (within the grace period); the others are cancelled."""

    run: Callable[[FastAPI], Coroutine[Any, Any, None]]
    role: Role | None = None
    graceful: bool = False


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
    # Long-running jobs of the service beyond the relay and the consumer.
    background: list[Job] = field(default_factory=list)
    # The service's own measurements taken when Prometheus scrapes /metrics (shared/metrics.py),
    # after the ones every service has (readiness, outbox backlog, consumer lag).
    scrape_probes: list[metrics.ScrapeProbe] = field(default_factory=list)


@dataclass
class Runtime:
    """The live parts of a running service, kept on ``app.state.runtime``."""

    relay: OutboxRelay | None
    consumer: ConsumerRunner | None
    # Asked to stop when the app shuts down: they finish what they hold, within the grace.
    graceful: list[asyncio.Task[None]]
    # Cancelled at once when the app shuts down.
    tasks: list[asyncio.Task[None]]
    # Set when the app shuts down; graceful jobs watch it.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


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
        roles = spec.common.role_set
        relay = None
        if Role.RELAY in roles:
            relay = OutboxRelay(
                sessions=sessions,
                table=spec.outbox,
                listen_dsn=asyncpg_dsn(spec.settings.database_url),
                listen_connect_args=database_tls,
                kafka=spec.common.kafka_access(),
            )
        consumer = None
        if spec.subscriptions.topics and Role.CONSUMER in roles:
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
        runtime = Runtime(relay=relay, consumer=consumer, graceful=[], tasks=[])
        app.state.runtime = runtime
        if relay is not None:
            runtime.graceful.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        if Role.API in roles:
            runtime.tasks.append(
                asyncio.create_task(
                    idempotency.purge_forever(sessions, app.state.idempotency_table),
                    name="idempotency-purge",
                )
            )
        if consumer is not None:
            runtime.graceful.append(asyncio.create_task(consumer.run(), name="consumer"))
        for job in spec.background:
            if job.role is None or job.role in roles:
                task = asyncio.create_task(job.run(app), name=job.run.__name__)
                (runtime.graceful if job.graceful else runtime.tasks).append(task)
        frozen = collector.freeze_startup_objects()  # no full collection walks these again
        log.info(
            "service_started",
            port=spec.settings.http_port,
            roles=sorted(role.value for role in roles),
            frozen_objects=frozen,
        )
        try:
            yield
        finally:
            # The relay, the consumer and graceful jobs finish what they hold; the rest stops.
            runtime.stopping.set()
            if relay is not None:
                relay.stop()
            if consumer is not None:
                consumer.stop()
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await lifecycle.stop_within(runtime.graceful, spec.common.shutdown_grace_seconds)
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
    # A process without the api role serves only the probes, the metrics and the catalogue.
    if Role.API in spec.common.role_set:
        for router in spec.routers:
            app.include_router(router)
    return app
