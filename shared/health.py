"""``/healthz`` (liveness) and ``/readyz`` (readiness) for every service.

Liveness fails only when restarting the process would help: the consumer has lag and has
made no progress for too long. Readiness needs the database and, for a process with a relay or
a consumer, the Kafka broker; a process asked to stop is not ready (``draining``), so that a
proxy stops sending it requests before it stops accepting them (shared/lifecycle.py).
"""

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared import lifecycle

health_router = APIRouter(tags=["health"])


def _runtime(request: Request) -> Any:
    return getattr(request.app.state, "runtime", None)


@health_router.get("/healthz", summary="Liveness", include_in_schema=True)
async def healthz(request: Request) -> JSONResponse:
    """200 while the process is worth keeping; 503 when its consumer has lag and has made no
    progress for `ACCORD_CONSUMER_STALL_SECONDS` (a restart would help). No token needed.
    `consumer.lag` is null while the consumer is (re)joining its group and has not measured
    its lag on assigned partitions yet. `consumer.dead_letters_recorded` counts the messages
    this process could neither process nor park on the dead-letter topic and recorded in the
    service's `dead_letters` table instead: each one is for an operator to look at.
    `relay.leader` says whether this process's outbox relay is the one publishing (one per
    database; the others stand by)."""
    runtime = _runtime(request)
    consumer = runtime.consumer if runtime is not None else None
    stalled = consumer is not None and consumer.state.stalled
    body: dict[str, Any] = {"status": "unhealthy" if stalled else "ok"}
    relay = runtime.relay if runtime is not None else None
    if relay is not None:
        # Replicas: one holds the lock and publishes, the others stand by (shared/outbox.py).
        body["relay"] = {"leader": relay.state.is_leader, "published": relay.state.published_total}
    if consumer is not None:
        body["consumer"] = {
            "group": consumer.state.group_id,
            "lag": consumer.state.lag,
            "stalled": stalled,
            "processed": consumer.state.processed_total,
            "duplicates_skipped": consumer.state.duplicates_skipped,
            "dead_lettered": consumer.state.dead_lettered_total,
            # Not processed and refused by the dead-letter topic: in the dead_letters table.
            "dead_letters_recorded": consumer.state.dead_letters_recorded,
        }
    return JSONResponse(body, status_code=503 if stalled else 200)


@health_router.get("/readyz", summary="Readiness: database and Kafka reachable")
async def readyz(request: Request) -> JSONResponse:
    """200 when the service's database answers and its Kafka clients are connected; 503 with
    the failing check otherwise, or `draining` once the process was asked to stop. No token
    needed."""
    checks = await readiness_checks(request.app)
    ready = all(checks.values())
    status = "ready" if ready else "not_ready"
    if lifecycle.draining.is_set():
        ready, status = False, "draining"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


async def readiness_checks(app: FastAPI) -> dict[str, bool]:
    """The checks of ``/readyz`` (also exported as ``accord_ready_check``)."""
    runtime = getattr(app.state, "runtime", None)
    checks = {"database": await _database_ok(app), "kafka": False}
    if runtime is not None:
        kafka_ok = True
        if runtime.relay is not None:
            kafka_ok = runtime.relay.state.kafka_connected
        if runtime.consumer is not None:
            state = runtime.consumer.state
            kafka_ok = kafka_ok and state.connected and state.broker_answering
        if runtime.relay is None and runtime.consumer is None:
            del checks["kafka"]  # an API-only process never talks to the broker
        else:
            checks["kafka"] = kafka_ok
    return checks


async def _database_ok(app: FastAPI) -> bool:
    engine = getattr(app.state, "engine", None)
    if engine is None:
        return False
    try:
        async with asyncio.timeout(2):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
