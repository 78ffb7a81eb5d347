"""Where the operator's command reads from, configured by the environment the services use:
the broker from ``CommonSettings`` (``ACCORD_KAFKA_BOOTSTRAP_SERVERS``), each database from
its service's settings (``PLANS_DATABASE_URL``, ...). A broker or database that cannot be
reached is an ``Unreachable`` naming it, which the command prints without a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shared.config import CommonSettings, ServiceSettings
from shared.topics import EVENT_TOPICS, dead_letter_topic

SERVICES = ("plans", "meetings", "notifications")


class Unreachable(Exception):
    """A broker or database did not answer; the message says which and why."""


def service_settings(service: str) -> ServiceSettings:
    """The service's own settings class, so a variable it reads is read here the same way."""
    config = importlib.import_module(f"services.{service}.config")
    settings_class = getattr(config, f"{service.capitalize()}Settings")
    settings: ServiceSettings = settings_class()
    return settings


def bootstrap_servers() -> str:
    return CommonSettings().kafka_bootstrap_servers


def owner_of(topic: str) -> str:
    """The service that publishes on ``topic`` (or on the topic a dead-letter topic parks for)."""
    original = topic.removesuffix(".dlt")
    for service, event_topic in zip(SERVICES, EVENT_TOPICS, strict=True):
        if original == event_topic:
            return service
    raise ValueError(f"{topic} is not an Accord event topic nor one's dead-letter topic")


def dead_letter_topics() -> tuple[str, ...]:
    return tuple(dead_letter_topic(topic) for topic in EVENT_TOPICS)


def _what(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc).strip()
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"


def kafka_options(servers: str, timeout: float) -> dict[str, Any]:
    """What every Kafka client of the command is given: the one place to add what the
    services' clients get besides the address (security settings, for instance). The redrive's
    producer is the services' own (``shared.outbox.make_producer``)."""
    return {"bootstrap_servers": servers, "request_timeout_ms": int(timeout * 1000)}


@contextlib.asynccontextmanager
async def admin(timeout: float) -> AsyncIterator[AIOKafkaAdminClient]:
    servers = bootstrap_servers()
    client = AIOKafkaAdminClient(**kafka_options(servers, timeout))
    await start_client(client.start, client.close, servers, timeout)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()


@contextlib.asynccontextmanager
async def reader(timeout: float, servers: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group: offsets, and reading chosen partitions."""
    servers = servers or bootstrap_servers()
    consumer = AIOKafkaConsumer(**kafka_options(servers, timeout), enable_auto_commit=False)
    await start_client(consumer.start, consumer.stop, servers, timeout)
    try:
        yield consumer
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), timeout)


async def start_client(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    servers: str,
    timeout: float,
) -> None:
    """Start a Kafka client, or raise ``Unreachable`` after stopping what it started."""
    try:
        await asyncio.wait_for(start(), timeout)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await stop()
        raise Unreachable(f"cannot reach the Kafka broker at {servers} ({_what(exc)})") from exc


@contextlib.asynccontextmanager
async def database(service: str, timeout: float) -> AsyncIterator[AsyncConnection]:
    """One connection to the service's database (one transaction: the caller commits)."""
    url = service_settings(service).database_url
    # Shown without the password.
    shown = make_url(url).render_as_string(hide_password=True)
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args={"timeout": timeout})
    try:
        try:
            connection = await asyncio.wait_for(engine.connect(), timeout + 1)
        except Exception as exc:
            raise Unreachable(
                f"cannot reach the {service} database at {shown} ({_what(exc)})"
            ) from exc
        try:
            yield connection
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def partitions_of_topics(consumer: AIOKafkaConsumer) -> dict[str, list[int]]:
    """Every topic the broker has, with its partitions. (``consumer.topics()`` fetches the
    same metadata but keeps only the names, and ``partitions_for_topic`` answers only for
    topics the client already follows: the metadata is asked for here directly.)"""
    cluster = await consumer._client.fetch_all_metadata()
    return {topic: sorted(cluster.partitions_for_topic(topic) or ()) for topic in cluster.topics()}
