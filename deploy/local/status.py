"""What ``deploy/stack status`` says: each part's process and whether it answers (probed,
see ``deploy.local.probes``), events parked on dead-letter topics, and webhook receivers
that are failing, as the notifications database records them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy.local import probes
from deploy.local.processes import StackError

if TYPE_CHECKING:
    from deploy.local.stack import LocalStack

NOTIFICATIONS_DATABASE = "accord_notifications"
# Endpoints listed one by one at most; the rest are counted.
LISTED_ENDPOINTS = 10
INDENT = " " * 17


@dataclass(frozen=True)
class ComponentState:
    name: str
    pid: int | None
    address: str
    # None when it runs and answers; else what is wrong ("not answering", "not ready: kafka").
    trouble: str | None = None

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return f"running ({self.trouble})" if self.trouble else "running"

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid else ""
        return f"{self.name:<14} {self.state:<40} {pid:<10} {self.address}"


def component_states(stack: LocalStack) -> list[ComponentState]:
    """Every part in start order, the running ones probed at the same time."""
    probes_by_name = _probes(stack)
    rows = stack.components()
    with ThreadPoolExecutor(max_workers=len(rows)) as pool:
        troubles = list(
            pool.map(
                lambda row: probes_by_name[row[0]]() if row[1] is not None else None,
                rows,
            )
        )
    return [
        ComponentState(name, pid, address, trouble)
        for (name, pid, address, _log), trouble in zip(rows, troubles, strict=True)
    ]


def _probes(stack: LocalStack) -> dict[str, Callable[[], str | None]]:
    from deploy.local.stack import MAILPIT, PROMETHEUS, PROXY, RECEIVER, SERVICES

    checks: dict[str, Callable[[], str | None]] = {
        "postgres": lambda: probes.postgres_trouble(stack.postgres.bin_dir, stack.postgres.port),
        RECEIVER: lambda: probes.receiver_trouble(f"http://127.0.0.1:{stack.receiver_port}"),
        PROMETHEUS: lambda: probes.prometheus_trouble(stack.prometheus.url),
        MAILPIT: lambda: None if stack.mailpit.ready() else probes.NOT_ANSWERING,
    }
    for node in stack.kafka_nodes():
        checks[node.name] = lambda port=node.port: (  # type: ignore[misc]
            None if probes.kafka_answers("127.0.0.1", port) else probes.NOT_ANSWERING
        )
    for launch in SERVICES:
        for replica in range(1, stack.replicas + 1):
            url = f"http://127.0.0.1:{launch.replica_port(replica)}"
            checks[launch.replica_name(replica)] = lambda url=url: probes.service_trouble(url)  # type: ignore[misc]
    checks[PROXY] = lambda: probes.proxy_trouble(stack.proxy.url)
    return checks


def kafka_state(stack: LocalStack, by_name: dict[str, ComponentState]) -> ComponentState:
    """The broker's state, or for a cluster the first node that runs and answers (it tells
    about the whole cluster), else the first node's."""
    nodes = [by_name[node.name] for node in stack.kafka_nodes()]
    return next((node for node in nodes if node.state == "running"), nodes[0])


def cluster_lines(stack: LocalStack, kafka: ComponentState) -> list[str]:
    """For a cluster: how many copies of the partitions are missing (a node down, or one
    still catching up after its restart)."""
    label = f"{'kafka cluster':<14}"
    if len(stack.kafka_nodes()) == 1:
        return []
    if kafka.state != "running":
        return [f"{label} unknown: no node answers"]
    replicas = probes.partition_replicas(stack.kafka.access())
    if replicas is None:
        return [f"{label} unknown: Kafka did not tell"]
    lagging = [state for state in replicas if len(state.in_sync) < len(state.replicas)]
    nodes = len(stack.kafka_nodes())
    if not lagging:
        return [f"{label} {nodes} nodes, every partition on all its replicas ({len(replicas)})"]
    return [
        f"{label} {nodes} nodes, {len(lagging)} of {len(replicas)} partitions under-replicated"
        " (a node down or catching up)"
    ]


def dead_letter_lines(stack: LocalStack, kafka: ComponentState) -> list[str]:
    if kafka.state != "running":
        return [f"{'dead letters':<14} unknown: kafka is {kafka.state}"]
    counts = probes.dead_letters(stack.kafka.access())
    if counts is None:
        return [f"{'dead letters':<14} unknown: Kafka did not tell"]
    parked = {topic: n for topic, n in counts.items() if n}
    if not parked:
        return [f"{'dead letters':<14} none"]
    total = sum(parked.values())
    return [
        f"{'dead letters':<14} {total} event(s) parked: nothing replays them by itself"
        " (accord-ops dlt list, dlt redrive)",
        *(f"{INDENT}{topic}: {n}" for topic, n in sorted(parked.items())),
    ]


def _notifications_query(stack: LocalStack, sql: str) -> list[list[str]]:
    return stack.postgres.query(sql, NOTIFICATIONS_DATABASE, timeout=6)


def receiver_lines(stack: LocalStack) -> list[str]:
    """Webhook endpoints whose receivers fail: failing now (no success since the first failure
    of a streak), disabled, or with deliveries that failed for good."""
    # The operator's command asks the same (shared/ops/webhooks.py); imported here because
    # the rest of deploy.local needs nothing but the standard library.
    from shared.ops.webhooks import endpoints_in_trouble_sql

    label = f"{'receivers':<14}"
    try:
        total = int(_notifications_query(stack, "SELECT count(*) FROM endpoints")[0][0])
        rows = _notifications_query(stack, endpoints_in_trouble_sql(LISTED_ENDPOINTS))
    except StackError:
        return [f"{label} unknown: the notifications database did not answer"]
    if not rows:
        return [f"{label} no webhook endpoint failing ({total} registered)"]
    in_trouble = int(rows[0][7])
    lines = [f"{label} {in_trouble} of {total} webhook endpoints failing:"]
    for code, url, enabled, reason, failing_since, waiting, failed, _total, _id in rows:
        what = []
        if enabled != "t":
            what.append(f"disabled ({reason})")
        if failing_since:
            what.append(f"failing since {failing_since} UTC")
        what.append(f"{waiting} waiting")
        if failed != "0":
            what.append(f"{failed} failed for good")
        lines.append(f"{INDENT}{code} {url}: {', '.join(what)}")
    if in_trouble > len(rows):
        lines.append(f"{INDENT}... and {in_trouble - len(rows)} more")
    return lines


def metrics_lines(stack: LocalStack, prometheus: ComponentState) -> list[str]:
    """Where Prometheus is, how many of its targets are up and which alerts fire."""
    label = f"{'metrics':<14}"
    if prometheus.state != "running":
        return [f"{label} unknown: prometheus is {prometheus.state}"]
    url = stack.prometheus.url
    up = stack.prometheus.targets_up()
    firing = probes.firing_alerts(url)
    if up is None or firing is None:
        return [f"{label} {url}: did not answer"]
    alerts = ", ".join(sorted(firing)) if firing else "none"
    return [f"{label} {url}: {up[0]} of {up[1]} targets up; alerts firing: {alerts}"]


def relay_lines(stack: LocalStack) -> list[str]:
    """Which replica of each service publishes its outbox (holds the relay's lock)."""
    from deploy.local.stack import SERVICES

    said = []
    for launch in SERVICES:
        leaders = [
            launch.replica_name(i)
            for i in range(1, stack.replicas + 1)
            if probes.relay_leader(f"http://127.0.0.1:{launch.replica_port(i)}")
        ]
        said.append(f"{launch.name}: {', '.join(leaders) or 'none'}")
    return [f"{'relay leaders':<14} {'; '.join(said)}"]


def report(stack: LocalStack) -> list[str]:
    states = component_states(stack)
    by_name = {state.name: state for state in states}
    lines = [state.line() for state in states]
    lines += relay_lines(stack)
    lines += metrics_lines(stack, by_name["prometheus"])
    kafka = kafka_state(stack, by_name)
    lines += cluster_lines(stack, kafka)
    lines += dead_letter_lines(stack, kafka)
    postgres = by_name["postgres"]
    if postgres.state == "running":
        lines += receiver_lines(stack)
    else:
        lines.append(f"{'receivers':<14} unknown: postgres is {postgres.state}")
    return lines
