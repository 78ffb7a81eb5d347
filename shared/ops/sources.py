"""Where the operator's command reads from, configured by the environment the services use:
the broker and who the command is on it from ``CommonSettings().kafka_access()``
(``ACCORD_KAFKA_BOOTSTRAP_SERVERS``, ``ACCORD_KAFKA_SECURITY_PROTOCOL``, ``ACCORD_KAFKA_USERNAME``,
... : the operator runs it as the broker's admin, who may describe every group and read and
write every topic), each database from its service's settings (``PLANS_DATABASE_URL``, ...,
with their passwords and TLS settings). A broker or database that cannot be reached is an
``Unreachable`` naming it, which the command prints without a traceback."""

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

from shared.bounded import finish_quietly
from shared.config import CommonSettings, ServiceSettings
from shared.kafka_access import KafkaAccess
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


def kafka_access() -> KafkaAccess:
    return CommonSettings().kafka_access()


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


def kafka_options(kafka: KafkaAccess, timeout: float) -> dict[str, Any]:
    """What every Kafka client of the command is given: the address and credentials the
    services' clients get too, and the command's own timeout. The redrive's producer is the
    services' own (``shared.outbox.make_producer``), given the same access."""
    return {**kafka.client_options(), "request_timeout_ms": int(timeout * 1000)}


@contextlib.asynccontextmanager
async def admin(timeout: float) -> AsyncIterator[AIOKafkaAdminClient]:
    kafka = kafka_access()
    client = AIOKafkaAdminClient(**kafka_options(kafka, timeout))
    await start_client(client.start, client.close, kafka.bootstrap_servers, timeout)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()


@contextlib.asynccontextmanager
async def reader(
    timeout: float, kafka: KafkaAccess | None = None
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group: offsets, and reading chosen partitions. ``kafka``: the
    broker and principal (default: the environment's, ``kafka_access()``)."""
    kafka = kafka or kafka_access()
    consumer = AIOKafkaConsumer(**kafka_options(kafka, timeout), enable_auto_commit=False)
    await start_client(consumer.start, consumer.stop, kafka.bootstrap_servers, timeout)
    try:
        yield consumer
    finally:
        await finish_quietly(consumer.stop(), timeout, what="reader stop")


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
        await finish_quietly(stop(), timeout, what="client stop")
        raise Unreachable(f"cannot reach the Kafka broker at {servers} ({_what(exc)})") from exc


@contextlib.asynccontextmanager
async def database(service: str, timeout: float) -> AsyncIterator[AsyncConnection]:
    """One connection to the service's database (one transaction: the caller commits)."""
    settings = service_settings(service)
    url = settings.database_url
    # Shown without the password.
    shown = make_url(url).render_as_string(hide_password=True)
    engine = create_async_engine(
        url,
        poolclass=pool.NullPool,
        # The service's own TLS settings, as its own engine gets them.
        connect_args={"timeout": timeout, **settings.database_connect_args()},
    )
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
