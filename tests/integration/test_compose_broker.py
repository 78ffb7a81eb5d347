"""The compose file's broker script (deploy/kafka/compose-broker.sh) gives a broker that
authenticates and authorises like the local one, checked without Docker: the script runs here
with the broker's jars behind stand-ins for the distribution's two launch scripts it calls
(``bin/kafka-storage.sh`` and ``bin/kafka-server-start.sh``, which only start those classes).
The admin creates the topics and ACLs with ``shared.topics``; a service then writes its own
topic and is refused another's."""

import asyncio
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from deploy.local.kafka import KAFKA_STARTED_LINE, LOG4J2_PROPERTIES, Kafka
from deploy.local.processes import free_port, wait_for
from shared.kafka_access import KafkaAccess, SecurityProtocol
from shared.outbox import make_producer
from shared.topics import MEETINGS_EVENTS, PLANS_EVENTS, set_up
from tests.support.stack import REPO

pytestmark = pytest.mark.integration

SCRIPT = REPO / "deploy" / "kafka" / "compose-broker.sh"
USERS = ("admin", "plans", "meetings", "notifications")


def _launcher(path: Path, main_class: str, libs: Path, log4j: Path) -> None:
    path.write_text(
        "#!/usr/bin/env bash\n"
        f'exec java -Xmx512m -Dlog4j2.configurationFile={log4j} -cp "{libs}/*" {main_class} "$@"\n'
    )
    path.chmod(0o755)


@pytest.fixture(scope="module")
def compose_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    home = tmp_path_factory.mktemp("compose-kafka")
    libs = Kafka.install()
    (home / "bin").mkdir()
    log4j = home / "log4j2.properties"
    log4j.write_text(LOG4J2_PROPERTIES)
    _launcher(home / "bin" / "kafka-storage.sh", "kafka.tools.StorageTool", libs, log4j)
    _launcher(home / "bin" / "kafka-server-start.sh", "kafka.Kafka", libs, log4j)
    port, controller_port = free_port(), free_port()
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    env = {
        "PATH": os.environ["PATH"],
        "KAFKA_HOME": str(home),
        "BROKER_CLUSTER_ID": "YC9GE0LLQ-y7pXdf0KCtQA",
        "BROKER_HOST": "127.0.0.1",
        "BROKER_PORT": str(port),
        "BROKER_CONTROLLER_PORT": str(controller_port),
        "BROKER_DATA_DIR": str(home / "data"),
        "BROKER_CONFIG_DIR": str(home / "config"),
        **{f"BROKER_{user.upper()}_PASSWORD": password for user, password in passwords.items()},
    }
    log = home / "broker.log"
    with log.open("wb") as output:
        broker = subprocess.Popen(
            ["bash", str(SCRIPT)], env=env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        started = wait_for(
            lambda: broker.poll() is not None or KAFKA_STARTED_LINE in log.read_text(), 120
        )
        assert started and broker.poll() is None, log.read_text()[-3000:]
        yield f"127.0.0.1:{port}", passwords
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()


def _as(broker: tuple[str, dict], user: str) -> KafkaAccess:
    bootstrap, passwords = broker
    return KafkaAccess(bootstrap, SecurityProtocol.SASL_PLAINTEXT, username=user,
                       password=passwords[user])  # fmt: skip


async def _send(kafka: KafkaAccess, topic: str) -> None:
    producer = make_producer(kafka)
    await asyncio.wait_for(producer.start(), 30)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"compose", key=b"k"), 30)
    finally:
        await asyncio.wait_for(producer.stop(), 30)


async def test_the_compose_broker_lets_a_service_write_only_its_own_topic(
    compose_broker: tuple[str, dict],
) -> None:
    await set_up(_as(compose_broker, "admin"))
    await _send(_as(compose_broker, "plans"), PLANS_EVENTS)
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(_as(compose_broker, "plans"), MEETINGS_EVENTS)
