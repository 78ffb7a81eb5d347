"""The whole pipeline: a status change through the plans API until the plan's rollup shows it
and the subscribed delegation's webhook has reached the receiver, through every service and
Kafka in between.

- ``throughput``: wrk changes each line of a plan once, as fast as the API takes them; the
  figure is the changes committed divided by the time from the first request until the last
  of them is through (its webhook received and the rollup counting all of them).
- ``steady``: changes at a fixed rate (an open loop: one every 1/rate s, whatever the answers
  take), each change's webhook matched to it by (line, version). It gives the latency from
  the change's commit to its webhook, and counts every error: failed requests, webhooks
  missing or received twice, dead-lettered events, rollups that differ from a recount.

The commit time of a change is taken as the time its 200 arrived: the API sends it only after
the commit, so the latency from it is a lower bound; the latency from the request's sending
(an upper bound) is reported beside it.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from shared.auth import Role
from tests.benchmarks.bench_plans import Bench
from tests.benchmarks.cpu_use import per_change
from tests.benchmarks.latency_stages import rollup_visible, stages, written_since
from tests.benchmarks.measure import latency_ms, per_second
from tests.benchmarks.system import System
from tests.benchmarks.wrk_load import Wrk, write_lines
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.stack import token

POLL = 0.05
# Give up waiting when nothing moved for this long (then the shortfall counts as errors).
STALL_SECONDS = 60.0


@dataclass
class PipelinePlan:
    plan_id: str
    lines: list[dict[str, Any]]  # id, version, status: what the steady runs change next
    delegation: str
    turn: int = 0  # where the next steady run starts in ``lines``
    event_bytes: dict[str, int] = field(default_factory=dict)

    def next_line(self) -> dict[str, Any]:
        line = self.lines[self.turn % len(self.lines)]
        self.turn += 1
        return line


async def prepare(system: System, size: int) -> PipelinePlan:
    """A flat plan of ``size`` lines that one delegation follows with a webhook (status
    changes only: the rollup.changed event of each is taken in but goes to nobody)."""
    plan_id, lines, _, _ = await Bench(system.http, system.url("plans")).plan_of(size, size)
    base = system.url("notifications")
    secretariat = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
    code = await new_delegation(system.http, base, secretariat, name="Benchmark mission")
    await subscribe(
        system.http, base, code, "plan", plan_id, event_types=["action_line.status_changed"]
    )
    await register_endpoint(system.http, base, code, system.sink.url("/hook"))
    await system.wait_idle()
    return PipelinePlan(plan_id, lines, code)


async def throughput(
    system: System, plan: PipelinePlan, *, threads: int, connections: int
) -> dict[str, Any]:
    fresh = [line for line in plan.lines if line["status"] == "not_started"]
    lines_file = write_lines(system.runtime / "pipeline-lines.txt", fresh)
    sink_from = await system.sink.count(system.http)
    database = await system.connect("plans")
    before = await _journal(database, plan.plan_id)
    started = time.monotonic()
    run = await Wrk.start(
        system.url("plans"),
        lines_file,
        mode="once",
        seconds=3600,  # stopped below, once every change is committed
        threads=threads,
        connections=connections,
        bearer=token(Role.SECRETARIAT),
    )
    try:
        committed = await _until_committed(database, plan.plan_id, before + len(fresh)) - before
    finally:
        run.interrupt()
        await database.close()
    http = await run.result()
    rollup_at = await _until_rollup(system, plan.plan_id, {"ongoing": committed})
    arrivals = await _until_webhooks(system, sink_from, committed)
    through_at = max([rollup_at, *(a["at"] for a in arrivals)])
    webhooks = {a["webhook_id"] for a in arrivals}
    plan.lines = await Bench(system.http, system.url("plans")).lines_of(
        plan.plan_id, len(plan.lines)
    )
    seconds = through_at - started
    return {
        "changes": committed,
        "connections": connections,
        "seconds": round(seconds, 2),
        "per_s": per_second(committed, seconds),
        # Changes not committed, and committed ones whose webhook never came.
        "errors": len(fresh) - committed + max(0, committed - len(webhooks)),
        "http": http,
        "webhook_body_bytes": arrivals[0]["bytes"] if arrivals else 0,
        "load_tool": f"wrk -t{threads} -c{connections} -s status_change.lua (each line once)",
    }


async def steady(system: System, plan: PipelinePlan, rate: float, seconds: float) -> dict[str, Any]:
    """``rate`` changes/s for ``seconds``; latencies and every error counted."""
    count = max(1, round(rate * seconds))
    sink_from = await system.sink.count(system.http)
    dead_letters_before = await system.dead_letters()
    times: dict[tuple[str, int], tuple[float, float]] = {}  # (line, version) -> sent, answered
    errors: Counter[str] = Counter()

    async def change(line: dict[str, Any]) -> None:
        target = "on_hold" if line["status"] == "ongoing" else "ongoing"
        sent = time.monotonic()
        try:
            response = await system.http.patch(
                f"{system.url('plans')}/action-lines/{line['id']}/status",
                json={"status": target, "expected_version": line["version"]},
            )
        except httpx.HTTPError as exc:
            errors[f"request failed: {type(exc).__name__}"] += 1
            return
        answered = time.monotonic()
        if response.status_code != 200:
            errors[f"HTTP {response.status_code}"] += 1
            return
        body = response.json()
        line.update(status=body["status"], version=body["version"])
        times[(line["id"], body["version"])] = (sent, answered)

    since = datetime.now(UTC)
    cpu_before = system.cpu_used()
    started = time.monotonic()
    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(change(plan.next_line())))
    await asyncio.gather(*tasks)
    sending_seconds = time.monotonic() - started
    arrivals = await _until_webhooks(system, sink_from, len(times))
    statuses = Counter(line["status"] for line in plan.lines)
    await _until_rollup(system, plan.plan_id, {s: statuses[s] for s in ("ongoing", "on_hold")})
    check = await system.http.get(f"{system.url('plans')}/plans/{plan.plan_id}/rollups/check")
    if not check.json().get("consistent"):
        errors["rollups differ from a recount"] += 1
    # From the first request until the last webhook arrived and the rollups showed every change.
    cpu = per_change(cpu_before, system.cpu_used(), len(times))
    cpu["cores_busy"] = round(cpu["total"] * len(times) / 1000 / (time.monotonic() - started), 2)
    from_answer, from_sending = [], []
    received: Counter[tuple[str, int]] = Counter()
    first_arrival: dict[tuple[str, int], float] = {}
    for arrival in arrivals:
        key = (arrival["action_line_id"], arrival["version"])
        received[key] += 1
        if key in times and received[key] == 1:
            sent, answered = times[key]
            from_answer.append(arrival["at"] - answered)
            from_sending.append(arrival["at"] - sent)
            first_arrival[key] = arrival["at"]
    errors["webhooks missing"] += len(set(times) - set(received))
    errors["webhooks received twice"] += sum(n - 1 for n in received.values())
    errors["webhooks unexpected"] += len(set(received) - set(times))
    errors["events dead-lettered"] += await system.dead_letters() - dead_letters_before
    written = await written_since(system, since)
    return {
        "rate_per_s": round(rate, 1),
        "seconds": round(sending_seconds, 1),
        "changes": len(times),
        "errors": sum(errors.values()),
        "error_kinds": {kind: n for kind, n in errors.items() if n},
        "commit_to_webhook": latency_ms(from_answer),
        "request_sent_to_webhook": latency_ms(from_sending),
        "commit_to_rollup_visible": rollup_visible(
            written, {key: answered for key, (_, answered) in times.items()}
        ),
        "stages": stages(written, first_arrival),
        "cpu_ms_per_change": cpu,
        "load_tool": "httpx.AsyncClient, open loop at a fixed rate",
    }


async def _journal(database: asyncpg.Connection, plan_id: str) -> int:
    count: int = await database.fetchval(
        "SELECT count(*) FROM status_journal WHERE plan_id = $1::uuid", plan_id
    )
    return count


async def _until_committed(database: asyncpg.Connection, plan_id: str, expected: int) -> int:
    """The plan's journal rows once ``expected`` are there, or once they stop growing."""
    last, last_change = -1, time.monotonic()
    while True:
        count = await _journal(database, plan_id)
        if count >= expected:
            return count
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS / 4:
            return count
        await asyncio.sleep(POLL)


async def _until_rollup(system: System, plan_id: str, expected: dict[str, int]) -> float:
    """The monotonic time at which the plan's rollup first showed the expected counts."""
    url = f"{system.url('plans')}/plans/{plan_id}/rollups"
    deadline = time.monotonic() + STALL_SECONDS * 10
    while time.monotonic() < deadline:
        by_status = (await system.http.get(url)).json()["plan"]["figures"]["by_status"]
        if all(by_status.get(status) == n for status, n in expected.items()):
            return time.monotonic()
        await asyncio.sleep(POLL)
    raise TimeoutError(f"the rollup of plan {plan_id} never showed {expected}")


async def _until_webhooks(system: System, since: int, expected: int) -> list[dict[str, Any]]:
    """What the sink received after ``since``, once ``expected`` more webhooks are in (or
    once they stop coming)."""
    last, last_change = -1, time.monotonic()
    while True:
        count = await system.sink.count(system.http) - since
        if count >= expected or time.monotonic() - last_change > STALL_SECONDS:
            await asyncio.sleep(1)  # late duplicates, if any, are counted too
            return await system.sink.arrivals(system.http, since)
        if count != last:
            last, last_change = count, time.monotonic()
        await asyncio.sleep(POLL)
