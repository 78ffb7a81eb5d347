"""``deploy/stack status`` and ``restart`` on a local stack of this module's own (``LocalStack``
in a runtime folder of its own, on free ports): status probes each part rather than trusting
its pid, says when events were dead-lettered and when a webhook receiver is failing, and
``restart NAME`` brings one part back without installs or migrations."""

import asyncio
import os
import signal
from collections.abc import Iterator
from unittest import mock

import httpx
import pytest

from deploy.local.processes import free_port, wait_for
from deploy.local.stack import SERVICES, LocalStack
from shared.signing_keys import add_key
from shared.topics import PLANS_EVENTS
from tests.support.api import add_action_line, create_plan
from tests.support.faults import secretariat
from tests.support.kafka import produce
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.stack import SIGNING_KEY
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PORT_VARIABLES = (
    "POSTGRES",
    "KAFKA",
    "KAFKA_CONTROLLER",
    "PLANS",
    "MEETINGS",
    "NOTIFICATIONS",
    "PROXY",
    "PROXY_STATS",
    "PROMETHEUS",
    "MAILPIT",
    "MAILPIT_SMTP",
)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    runtime_dir = tmp_path_factory.mktemp("local-stack")
    ports = {f"ACCORD_STACK_{name}_PORT": str(free_port()) for name in PORT_VARIABLES}
    with mock.patch.dict(os.environ, ports):
        stack = LocalStack(runtime_dir)
        # The suite's key beside the stack's own, so that the suite's tokens work here too.
        add_key(stack.jwks_path, SIGNING_KEY)
        try:
            stack.up(demo=False)
            for launch in SERVICES:
                url = f"http://127.0.0.1:{launch.port}/readyz"
                assert wait_for(lambda url=url: _answers_200(url), 90), f"{url} not ready"
            yield stack
        finally:
            stack.down()
            stack.postgres.remove()


def _answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _status(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``status``'s lines by their first word(s), e.g. {"plans": "running ...", ...}."""
    capsys.readouterr()
    stack.status()
    lines: dict[str, str] = {}
    label = ""
    for line in capsys.readouterr().out.splitlines():
        if line[:14].strip():
            label = line[:14].strip()
            lines[label] = " ".join(line[14:].split())
        else:  # a continuation line of the label above
            lines[label] += "\n" + " ".join(line.split())
    return lines


async def _status_now(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """``_status`` from a test's event loop (the status runs one of its own)."""
    return await asyncio.to_thread(_status, stack, capsys)


def _url(stack: LocalStack, service: str) -> str:
    return f"http://127.0.0.1:{os.environ[f'ACCORD_STACK_{service.upper()}_PORT']}"


def test_status_says_a_frozen_service_is_not_answering_and_restart_brings_it_back(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _status(local_stack, capsys)["plans"].startswith("running pid")
    plans = local_stack.service(next(launch for launch in SERVICES if launch.name == "plans"))
    frozen = plans.pid()
    assert frozen is not None
    os.kill(frozen, signal.SIGSTOP)
    try:
        status = _status(local_stack, capsys)
        assert status["plans"].startswith("running (not answering)"), status["plans"]
        assert status["meetings"].startswith("running"), status["meetings"]
        assert "not answering" not in status["meetings"], status["meetings"]
    except BaseException:
        os.kill(frozen, signal.SIGCONT)
        raise

    def no_installs_or_migrations(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"restart ran {args}")

    monkeypatch.setattr(local_stack, "_run_python", no_installs_or_migrations)
    monkeypatch.setattr("deploy.local.postgres.Postgres.install", no_installs_or_migrations)
    local_stack.restart("plans")
    assert plans.pid() not in (None, frozen)
    assert httpx.get(f"{_url(local_stack, 'plans')}/healthz").status_code == 200
    assert _status(local_stack, capsys)["plans"].startswith("running pid")


def test_up_starts_prometheus_scraping_every_service_and_status_shows_it(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{os.environ['ACCORD_STACK_PROMETHEUS_PORT']}"
    assert _status(local_stack, capsys)["prometheus"].startswith("running pid")

    def every_target_up() -> bool:
        return _status(local_stack, capsys)["metrics"].startswith(
            f"{url}: 3 of 3 targets up; alerts firing: none"
        )

    assert wait_for(every_target_up, 60), _status(local_stack, capsys)["metrics"]
    up = httpx.get(f"{url}/api/v1/query", params={"query": "up"}).json()["data"]["result"]
    assert sorted(s["metric"]["job"] for s in up) == ["meetings", "notifications", "plans"]


def test_status_says_a_frozen_broker_is_not_answering(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _status(local_stack, capsys)["kafka"].startswith("running pid")
    local_stack.kafka.pause()
    try:
        status = _status(local_stack, capsys)
    finally:
        local_stack.kafka.resume()
    assert status["kafka"].startswith("running (not answering)"), status["kafka"]
    assert "unknown" in status["dead letters"], status["dead letters"]


async def test_status_counts_dead_lettered_events(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await _status_now(local_stack, capsys))["dead letters"] == "none"
    await produce(local_stack.kafka.access(), PLANS_EVENTS, [(b"k", b"not json")])

    async def parked_by_every_reader() -> str | None:
        # Three groups read the plans topic: each parks the message on its dead-letter topic.
        said = (await _status_now(local_stack, capsys))["dead letters"]
        return said if "accord.plans.events.dlt: 3" in said else None

    said = await eventually(parked_by_every_reader, timeout=60, what="3 dead letters")
    assert said.startswith("3 event(s) parked"), said


async def test_status_names_a_failing_receiver(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    plans, notifications = _url(local_stack, "plans"), _url(local_stack, "notifications")
    headers = secretariat()
    async with httpx.AsyncClient(timeout=30) as http:
        code = await new_delegation(http, notifications, headers)
        # Nothing listens there: every delivery fails.
        await register_endpoint(http, notifications, code, f"http://127.0.0.1:{free_port()}/x")
        plan = await create_plan(http, plans, headers)
        await subscribe(http, notifications, code, "plan", plan["id"])
        line = await add_action_line(http, plans, headers, plan["id"])
        response = await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": "ongoing", "expected_version": line["version"]},
            headers=headers,
        )
        assert response.status_code == 200, response.text

    async def failing_named() -> bool:
        receivers = (await _status_now(local_stack, capsys))["receivers"]
        return "1 of 1 webhook endpoints failing" in receivers and f"{code} " in receivers

    await eventually(failing_named, timeout=60, what="the failing receiver in the status")
    assert "failing since" in (await _status_now(local_stack, capsys))["receivers"]
