"""The operators' path, run for real: docker-compose.yml brought up on a Docker engine (started
here if none answers), every container healthy, the demo story played through the proxy's
published port (HAProxy, decision 36), the webhooks verified by a receiver, Prometheus
scraping every service, then ``down -v`` leaving nothing.

The images are built on this machine: deploy/images/build makes stand-ins for the base images
when no registry answers (cached: the second run takes seconds), then the Accord image is
built. The stack runs under a project name of its own, on free ports, with a .env made from
.env.example with new secrets, so it never meets the local stack or the suite's servers.
Timings are printed at the end (engine, images, `up` until healthy, story, Prometheus's
targets up, `down`).
"""

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.demo import cast, expected, story
from deploy.demo.client import Api, Target
from deploy.local.processes import free_port
from shared.signing_keys import load_signing_key
from tests.support import compose
from tests.support.compose import ComposeStack
from tests.support.waiting import eventually

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

RECEIVER_FILE = Path(__file__).with_name("receiver.yml")
HEALTHY_WITHIN = 600.0


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.monotonic()

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.seconds[what] = now - self._since
        self._since = now

    def render(self) -> str:
        return "compose test: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())


@pytest.fixture(scope="module")
def engine() -> Iterator[float]:
    """A Docker engine, stopped at the end only if this test started it; gives the seconds
    that installing and starting it took."""
    began = time.monotonic()
    started = compose.start_engine()
    try:
        yield time.monotonic() - began
    finally:
        if started:
            compose.stop_engine()


async def _play_story(target: Target) -> None:
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        api = Api(http, target)
        ids = await story.play(api, say=lambda _: None)

        # The headline: 97 of 103 action lines completed by the CPR-UN meeting.
        rollups = await api.get(f"{target.plans}/plans/{ids.plan_2016}/rollups")
        overall = rollups["plan"]["figures"]
        assert (overall["completed"], overall["total"], overall["completion_percent"]) == (
            97,
            103,
            94.2,
        )
        new = await api.get(f"{target.plans}/plans/{ids.plan_2021}")
        assert new["status"] == "active"

        # Every delegation's system got what its subscriptions match, once each, verified.
        received = (await http.get(f"{target.receiver}/received")).json()
        counts = (await http.get(f"{target.receiver}/counts")).json()
        for code in cast.DELEGATIONS:
            keys = Counter(r["key"] for r in received if r["delegation"] == code)
            assert set(keys) == expected.expected_keys(code), code
            assert counts[code] == {"received": len(keys), "verified": len(keys)}, code

        # No SMTP server without the mail profile: the demo's emails are made and wait.
        waiting = await api.get(
            f"{target.notifications}/emails", params={"status": "pending", "delegation": "VNM"}
        )
        assert waiting["items"], "Viet Nam's contacts have no email waiting"


async def _prometheus_scrapes_every_service(prometheus: str) -> None:
    """Prometheus answers on its published port and scrapes the three services: each target
    up, at the port the service listens on inside the compose network (a scrape every 15 s:
    the first ones may have come before the services were up)."""

    async def targets() -> dict[str, str] | None:
        answer = await http.get(f"{prometheus}/api/v1/targets", params={"state": "active"})
        assert answer.status_code == 200, answer.text
        found = {t["labels"]["job"]: t["health"] for t in answer.json()["data"]["activeTargets"]}
        return found if set(found.values()) == {"up"} else None

    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        up = await eventually(targets, timeout=120, interval=2, what="every target up")
    assert set(up) == {"plans", "meetings", "notifications"}


def test_the_compose_stack_comes_up_healthy_plays_the_story_and_leaves_nothing(
    engine: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timings = Timings()
    timings.seconds["engine"] = engine
    compose.build_images()
    timings.lap("images")

    demo_state = tmp_path / "demo"
    demo_state.mkdir()
    names = ("plans", "meetings", "notifications", "proxy", "receiver", "prometheus")
    ports = {name: free_port() for name in names}
    keys_dir = tmp_path / "keys"
    settings = compose.new_secrets(keys_dir)
    compose.env_file_from_example(
        tmp_path / ".env",
        {
            **settings,
            "PLANS_HTTP_PORT": str(ports["plans"]),
            "MEETINGS_HTTP_PORT": str(ports["meetings"]),
            "NOTIFICATIONS_HTTP_PORT": str(ports["notifications"]),
            "PROMETHEUS_PORT": str(ports["prometheus"]),
            "PROXY_PORT": str(ports["proxy"]),
            # The receiver shares the notifications container's loopback (receiver.yml).
            "ACCORD_ALLOW_LOOPBACK_WEBHOOKS": "true",
            "ACCORD_TEST_RECEIVER_PORT": str(ports["receiver"]),
            "ACCORD_TEST_DEMO_STATE": str(demo_state),
        },
    )
    stack = ComposeStack(f"accordtest{os.getpid()}", tmp_path / ".env", [RECEIVER_FILE])
    assert stack.images_missing() == [], "no image and no stand-in recipe in deploy/images"
    try:
        stack.compose("up", "--detach", "--no-build", timeout=HEALTHY_WITHIN)
        stack.wait_healthy(timeout=HEALTHY_WITHIN)
        timings.lap("up until healthy")

        localhost = "http://127.0.0.1"
        # Through the proxy, as client apps reach the services (decision 36).
        proxy = f"{localhost}:{ports['proxy']}"
        target = Target(
            plans=f"{proxy}/plans",
            meetings=f"{proxy}/meetings",
            notifications=f"{proxy}/notifications",
            receiver=f"{localhost}:{ports['receiver']}",
            signer=load_signing_key(keys_dir / compose.SIGNING_KEY),
            state_dir=demo_state,
            # The mail profile is off: the emails wait for an SMTP server (checked below).
            email=False,
        )
        asyncio.run(_play_story(target))
        timings.lap("story")
        asyncio.run(_prometheus_scrapes_every_service(f"{localhost}:{ports['prometheus']}"))
        timings.lap("prometheus")
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "30")
    timings.lap("down")

    assert stack.leftovers() == {"containers": [], "networks": [], "volumes": []}
    with capsys.disabled():
        print(f"\n{timings.render()}")
