"""The suite's broker authenticates every client (SASL/SCRAM) and authorises with ACLs, like
a production one: a service's principal cannot write a topic it does not own (a forged event
is refused by the broker), nor create topics; a client without credentials or with a wrong
password gets nothing. (An event with a foreign ``source`` written by a principal allowed on
the topic is dead-lettered: tests/integration/test_consumer_guarantees.py.)"""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.metadata import MetadataRequest

from shared.kafka_access import KafkaAccess
from shared.outbox import make_producer
from shared.topics import MEETINGS_EVENTS, NOTIFICATIONS_EVENTS, PLANS_EVENTS, dead_letter_topic
from tests.support.kafka import status_changed_event
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


async def _send_one(kafka: KafkaAccess, topic: str, value: bytes) -> None:
    producer: AIOKafkaProducer = make_producer(kafka)
    await asyncio.wait_for(producer.start(), 30)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value=value, key=b"forged"), 30)
    finally:
        await asyncio.wait_for(producer.stop(), 30)


@pytest.mark.parametrize(
    ("service", "topic"),
    [
        # Another service's topic: a forged plans event from meetings or notifications.
        ("meetings", PLANS_EVENTS),
        ("notifications", PLANS_EVENTS),
        ("plans", MEETINGS_EVENTS),
        ("plans", NOTIFICATIONS_EVENTS),
        # A dead-letter topic of a topic it does not read (meetings does not read its own).
        ("meetings", dead_letter_topic(MEETINGS_EVENTS)),
    ],
)
async def test_a_forged_event_on_a_topic_the_principal_does_not_own_is_refused_by_the_broker(
    infra: Infrastructure, service: str, topic: str
) -> None:
    forged = status_changed_event(uuid.uuid4())
    with pytest.raises(TopicAuthorizationFailedError):
        await _send_one(infra.kafka_as(service), topic, forged.to_bytes())


async def test_a_service_writes_its_own_topic_and_no_service_may_create_topics(
    infra: Infrastructure,
) -> None:
    """The control of the refusals above (the same producer writes where its ACLs allow), and
    topics are the admin's: a service's principal cannot create one."""
    # A message no consumer reads: the dead-letter topic of a topic meetings consumes.
    await _send_one(infra.kafka_as("meetings"), dead_letter_topic(PLANS_EVENTS), b"control")
    admin = AIOKafkaAdminClient(**infra.kafka_as("meetings").client_options())
    await asyncio.wait_for(admin.start(), 30)
    try:
        response: Any = await admin.create_topics([NewTopic("accord.meetings.extra", 1, 1)])
    finally:
        await admin.close()
    [(name, error_code, *_)] = response.topic_errors
    assert (name, error_code) == ("accord.meetings.extra", TopicAuthorizationFailedError.errno)


async def _metadata_over(kafka: KafkaAccess, **overrides: Any) -> Any:
    """One connection to the broker with ``kafka``'s options (and ``overrides``), asking it
    for the cluster's metadata."""
    options = kafka.client_options() | overrides
    host, port = options.pop("bootstrap_servers").split(":")
    connection = await create_conn(
        host,
        int(port),
        security_protocol=options["security_protocol"],
        sasl_mechanism=options.get("sasl_mechanism"),
        sasl_plain_username=options.get("sasl_plain_username"),
        sasl_plain_password=options.get("sasl_plain_password"),
        request_timeout_ms=10_000,
    )
    try:
        return await connection.send(MetadataRequest([]))
    finally:
        connection.close()


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    infra: Infrastructure,
) -> None:
    plans = infra.kafka_as("plans")
    # The control: the right password gets an answer.
    assert (await _metadata_over(plans)).brokers
    for wrong in (
        {"sasl_plain_password": "not-the-password"},
        {"sasl_plain_username": "nobody"},
        {"sasl_plain_username": "admin"},  # the admin's name with plans' password
    ):
        with pytest.raises(SaslAuthenticationFailed):
            await _metadata_over(plans, **wrong)
    # No credentials at all: the broker answers nothing but the version handshake and
    # closes the connection.
    with pytest.raises(KafkaConnectionError):
        await _metadata_over(plans, security_protocol="PLAINTEXT")
