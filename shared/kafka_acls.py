"""Who may do what on an authenticated broker: one principal per service, and their ACLs.

The broker denies whatever no ACL allows (``allow.everyone.if.no.acl.found=false``); an
admin principal (a super user) creates the topics and these ACLs
(``python -m shared.topics create``). Each service, ``User:<name>``, may

- write its own topic, and the dead-letter topic of each topic it reads (where its consumer
  parks what it cannot process);
- read the topics it consumes, with its own consumer group ``accord-<name>``.

Nothing else: a service cannot write another's topic, so an event on ``accord.plans.events``
was written by plans (or an operator); consumers also check that the event's ``source`` is
the topic's owner (``shared/consumer.py``). An idempotent producer needs no cluster-wide
right on Kafka 4 (Write on a topic is enough), and Accord uses no Kafka transactions.
"""

import asyncio
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest

from shared.kafka_access import KafkaAccess
from shared.topics import MEETINGS_EVENTS, NOTIFICATIONS_EVENTS, PLANS_EVENTS, dead_letter_topic

# Kafka's protocol codes (org.apache.kafka.common.resource / acl).
_ANY = 1
_TOPIC, _GROUP = 2, 3
_LITERAL = 3
_READ, _WRITE = 3, 4
_ALLOW = 3


# (resource type, resource name, principal, operation) of an ALLOW ACL.
Binding = tuple[int, str, str, int]


def consumer_group(service: str) -> str:
    return f"accord-{service}"


@dataclass(frozen=True)
class ServicePrincipal:
    """A service's identity on the broker; its username is the service's name."""

    name: str
    publishes: str
    consumes: tuple[str, ...]

    @property
    def principal(self) -> str:
        return f"User:{self.name}"

    def acls(self) -> list[tuple[int, str, int]]:
        """(resource type, resource name, operation) allowed to this principal."""
        return [
            (_TOPIC, self.publishes, _WRITE),
            *((_TOPIC, dead_letter_topic(topic), _WRITE) for topic in self.consumes),
            *((_TOPIC, topic, _READ) for topic in self.consumes),
            (_GROUP, consumer_group(self.name), _READ),
        ]


# What each service consumes follows from its subscriptions; a test checks they agree.
PRINCIPALS = (
    ServicePrincipal("plans", PLANS_EVENTS, consumes=(MEETINGS_EVENTS, PLANS_EVENTS)),
    ServicePrincipal("meetings", MEETINGS_EVENTS, consumes=(NOTIFICATIONS_EVENTS, PLANS_EVENTS)),
    ServicePrincipal(
        "notifications", NOTIFICATIONS_EVENTS, consumes=(MEETINGS_EVENTS, PLANS_EVENTS)
    ),
)


class AclRefused(Exception):
    pass


async def grant_service_acls(kafka: KafkaAccess, timeout: float = 60.0) -> int:
    """Create every service's ACLs (as the admin; creating one that exists changes nothing)
    and wait until the broker enforces them; return how many there are.

    The controller commits an ACL before the broker applies it: a service started at once
    could be refused meanwhile, so this returns only once the broker lists them all."""
    client = AIOKafkaClient(**kafka.client_options(), request_timeout_ms=10_000)
    await asyncio.wait_for(client.bootstrap(), timeout)
    try:
        node = client.get_random_node()
        wanted: set[Binding] = set()
        for service in PRINCIPALS:
            for resource_type, resource, operation in service.acls():
                request = CreateAclsRequest(
                    resource_type, resource, _LITERAL, service.principal, "*", operation, _ALLOW
                )
                response = await asyncio.wait_for(client.send(node, request), timeout)
                for error_code, message in response.creation_responses:
                    if error_code:
                        raise AclRefused(
                            f"ACL for {service.principal} on {resource} refused:"
                            f" error {error_code} {message}"
                        )
                wanted.add((resource_type, resource, service.principal, operation))
        await asyncio.wait_for(_until_in_force(client, node, wanted), timeout)
        return len(wanted)
    finally:
        await client.close()


async def _until_in_force(client: AIOKafkaClient, node: int, wanted: set[Binding]) -> None:
    """Poll the broker's own view of the ACLs until it holds every one of ``wanted``."""
    describe_all = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY)
    while True:
        response = await client.send(node, describe_all)
        if response.error_code:
            raise AclRefused(f"ACLs not readable: error {response.error_code}")
        in_force = {
            (resource_type, name, principal, operation)
            for resource_type, name, _pattern, acls in response.resources
            for principal, _host, operation, permission in acls
            if permission == _ALLOW
        }
        if wanted <= in_force:
            return
        await asyncio.sleep(0.1)
