"""What a receiver outage costs a delegation, with the production retry schedule.

    .venv/bin/python -m tests.benchmarks.receiver_outage [--outage 30] [--delegations 3]

Starts its own PostgreSQL, Kafka and services (as the integration suite does, but with the
notifications service's production schedule and clocks: 0, 5 s, 5 min, ..., a probe every 5 s,
a 1 s poll) and a signature-verifying receiver. Several delegations follow one plan, each with
an endpoint at the receiver; status changes run at a steady rate before, during and after an
outage in which the receiver's port refuses connections. It prints, per delegation:

- ``caught up``: from the receiver's return until it has every change acknowledged before it;
- ``after return``: the longest a change made after the return took to arrive.

Not part of ``deploy/stack bench``: a run takes about the outage plus a minute (plus the
schedule's five-minute step on code that waits it out).
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.notifications.config import NotificationsSettings
from shared.auth import Role
from tests.benchmarks.stopping import stoppable
from tests.support.api import add_action_line, create_plan
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.receiver import Receiver
from tests.support.stack import Infrastructure, Services, new_infrastructure, token

RATE = 4.0  # changes per second
LINES = 12
BEFORE = 10.0  # seconds of changes before the outage
AFTER = 20.0  # seconds of changes after the return
WAIT = 420.0  # the longest to wait for everything after the return
ONLY_STATUS_CHANGES = {"event_types": ["action_line.status_changed"]}


class ProductionRetries(Services):
    """The suite's services, but notifications with its production schedule and clocks."""

    def environment(self, service: str) -> dict[str, str]:
        env = super().environment(service)
        if service == "notifications":
            defaults = NotificationsSettings.model_fields
            for name in ("retry_schedule", "poll_interval", "probe_interval", "delivery_timeout"):
                value = defaults[name].default
                env[f"NOTIFICATIONS_{name.upper()}"] = json.dumps(value)
        return env


@dataclass
class Run:
    # (line id, version) -> when its change was acknowledged (time.monotonic()).
    acknowledged: dict[tuple[str, int], float] = field(default_factory=dict)
    returned_at: float = 0.0


async def change_lines(
    http: httpx.AsyncClient, plans: str, lines: list[dict], run: Run, seconds: float
) -> None:
    headers = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        line = lines[n % len(lines)]
        n += 1
        status = "on_hold" if line.get("status") == "ongoing" else "ongoing"
        response = await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": status, "expected_version": line["version"]},
            headers=headers,
        )
        response.raise_for_status()
        line["version"], line["status"] = response.json()["version"], status
        run.acknowledged[(line["id"], line["version"])] = time.monotonic()
        await asyncio.sleep(1 / RATE)


def out_of_order(receiver: Receiver, path: str) -> int:
    """How many changes arrived (first) after a later version of their line."""
    latest: dict[str, int] = {}
    late = 0
    for key in first_arrivals(receiver, path):
        line, version = key
        late += version < latest.get(line, 0)
        latest[line] = max(version, latest.get(line, 0))
    return late


def first_arrivals(receiver: Receiver, path: str) -> dict[tuple[str, int], float]:
    arrived: dict[tuple[str, int], float] = {}
    for r in receiver.accepted(path):
        data = json.loads(r.body)["data"]
        arrived.setdefault((data["action_line_id"], int(data["version"])), r.at)
    return arrived


async def measure(outage: float, delegations: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="accord-outage-") as folder:
        infra: Infrastructure = new_infrastructure(Path(folder))
        services = ProductionRetries(infra)
        try:
            await asyncio.to_thread(infra.start)
            await infra.create_topics()
            await asyncio.to_thread(services.start_all)
            with Receiver().running() as receiver:
                return await _scenario(services, receiver, outage, delegations)
        finally:
            services.stop_all()
            infra.stop()


async def _scenario(
    services: Services, receiver: Receiver, outage: float, delegations: int
) -> dict[str, dict[str, float]]:
    plans, base = services.url("plans"), services.url("notifications")
    secretariat = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
    async with httpx.AsyncClient(timeout=30) as http:
        plan = await create_plan(http, plans, secretariat)
        lines = [await add_action_line(http, plans, secretariat, plan["id"]) for _ in range(LINES)]
        paths: dict[str, str] = {}
        for _ in range(delegations):
            code = await new_delegation(http, base, secretariat)
            paths[code] = f"/hooks/{code}"
            endpoint = await register_endpoint(
                http, base, code, receiver.url(paths[code]), **ONLY_STATUS_CHANGES
            )
            receiver.route(paths[code], endpoint["secret"])
            await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
        run = Run()
        await change_lines(http, plans, lines, run, BEFORE)
        receiver.go_down()
        await change_lines(http, plans, lines, run, outage)
        receiver.come_back()
        run.returned_at = time.monotonic()
        before_return = set(run.acknowledged)
        await change_lines(http, plans, lines, run, AFTER)

        deadline = run.returned_at + WAIT
        while time.monotonic() < deadline:
            if all(
                set(run.acknowledged) <= set(first_arrivals(receiver, p)) for p in paths.values()
            ):
                break
            await asyncio.sleep(0.5)

    figures: dict[str, dict[str, float]] = {}
    for code, path in paths.items():
        arrived = first_arrivals(receiver, path)
        missing = set(run.acknowledged) - set(arrived)
        caught_up = max(arrived.get(k, deadline) for k in before_return) - run.returned_at
        after = [
            arrived.get(k, deadline) - at
            for k, at in run.acknowledged.items()
            if k not in before_return
        ]
        figures[code] = {
            "caught_up_s": round(caught_up, 2),
            "after_return_max_s": round(max(after), 2),
            "changes": len(run.acknowledged),
            "missing": len(missing),
            "out_of_order": out_of_order(receiver, path),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the receiver is away")
    parser.add_argument("--delegations", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(stoppable(measure(args.outage, args.delegations)))
    print(f"receiver away {args.outage:g} s; production schedule; {RATE:g} changes/s")
    for code, f in figures.items():
        print(
            f"{code}: caught up {f['caught_up_s']:.1f} s after the return; changes made after it"
            f" arrived within {f['after_return_max_s']:.1f} s; {f['changes']} changes,"
            f" {f['missing']} missing, {f['out_of_order']} out of order"
        )
    sys.exit(1 if any(f["missing"] or f["out_of_order"] for f in figures.values()) else 0)


if __name__ == "__main__":
    main()
