"""Benchmarks of the plans service at several plan sizes (a script, not a test: figures are
percentiles measured in one run on one machine, because these machines are shared and noisy).

    .venv/bin/python -m tests.benchmarks.bench_plans [--sizes 100,10000] [--big]

It starts its own PostgreSQL, Kafka and plans service on free ports, then for each plan size
(one flat plan of N lines, imported as CSV):
1. the import time, and the time from its start until the rollups count every line;
2. the cost of one status change: PATCH latency, and the time until the plan's rollup shows
   it through the event path (the projection), sequentially, on random lines;
3. rollup read latency;
and the resident memory of each service at rest and after all of it. (The API's write
throughput is measured by ``bench_api``: wrk, against a bare FastAPI endpoint.)
"""

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from shared.auth import Role
from tests.benchmarks.measure import latency_ms
from tests.benchmarks.stopping import stoppable
from tests.support.stack import token

WARM_UP_LINES = 30


def flat_plan_csv(size: int) -> str:
    """The CSV import of a flat plan of ``size`` lines (two tags and one lead each, so that a
    change touches four rollup scopes: the plan, two tags, one lead)."""
    rows = "\n".join(f"{i},Action line {i},tag-{i % 7};all,UN,2025-12-31" for i in range(size))
    return "code,text,tags,leads,target_date\n" + rows + "\n"


def secretariat_client(connections: int = 32) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
    limits = httpx.Limits(max_connections=connections)
    return httpx.AsyncClient(headers=headers, timeout=120, limits=limits)


class Bench:
    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base

    async def plan_of(
        self, size: int, keep: int = 2000
    ) -> tuple[str, list[dict[str, Any]], float, float]:
        """A new flat plan of ``size`` lines, once the rollups count all of them: its id, its
        first ``keep`` lines, how long the import took and how long from its start until the
        rollups counted every line."""
        created = await self.http.post(
            f"{self.base}/plans",
            json={
                "code": f"BENCH-{size}-{uuid.uuid4().hex[:6]}",
                "title": f"A flat plan of {size} lines",
                "partners": ["ASEAN", "UN"],
                "period_start": "2021-01-01",
                "period_end": "2025-12-31",
            },
        )
        plan_id = created.json()["id"]
        csv = flat_plan_csv(size)
        started = time.perf_counter()
        imported = await self.http.post(
            f"{self.base}/plans/{plan_id}/action-lines/import",
            content=csv,
            headers={"content-type": "text/csv"},
        )
        import_seconds = time.perf_counter() - started
        assert imported.status_code == 201, imported.text[:500]
        await self.rollup_total(plan_id, size)
        counted_seconds = time.perf_counter() - started
        return plan_id, await self.lines_of(plan_id, keep), import_seconds, counted_seconds

    async def lines_of(self, plan_id: str, keep: int) -> list[dict[str, Any]]:
        """The plan's first ``keep`` lines as the API shows them now (ids, versions, statuses)."""
        lines: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
            page = (
                await self.http.get(f"{self.base}/plans/{plan_id}/action-lines", params=params)
            ).json()
            lines.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None or len(lines) >= keep:
                return lines[:keep]

    async def rollup_total(self, plan_id: str, expected: int, timeout: float = 900) -> float:
        """Wait until the projection has taken every line in; return how long it took."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            rollups = (await self.http.get(f"{self.base}/plans/{plan_id}/rollups")).json()
            if rollups["plan"]["figures"]["total"] >= expected:
                return time.perf_counter() - started
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the projection did not reach {expected} lines")

    async def status_changes(
        self, plan_id: str, lines: list[dict[str, Any]], count: int
    ) -> dict[str, Any]:
        patch, visible = [], []
        for line in random.sample(lines, min(count, len(lines))):
            before = (await self.http.get(f"{self.base}/plans/{plan_id}/rollups")).json()
            ongoing_before = before["plan"]["figures"]["by_status"]["ongoing"]
            started = time.perf_counter()
            response = await self.http.patch(
                f"{self.base}/action-lines/{line['id']}/status",
                json={"status": "ongoing", "expected_version": line["version"]},
            )
            patch.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            line.update(response.json())  # the next measurement needs the new version
            while True:
                now = (await self.http.get(f"{self.base}/plans/{plan_id}/rollups")).json()
                if now["plan"]["figures"]["by_status"]["ongoing"] > ongoing_before:
                    visible.append(time.perf_counter() - started)
                    break
                await asyncio.sleep(0.002)
        return {
            "patch": latency_ms(patch),
            "visible_in_rollup": latency_ms(visible),
            "changes": len(patch),
        }

    async def rollup_reads(self, plan_id: str, count: int) -> dict[str, float]:
        durations = []
        for _ in range(count):
            started = time.perf_counter()
            response = await self.http.get(f"{self.base}/plans/{plan_id}/rollups")
            durations.append(time.perf_counter() - started)
            assert response.status_code == 200
        return latency_ms(durations)


async def measure_scale(
    http: httpx.AsyncClient,
    base: str,
    sizes: list[int],
    changes: int = 100,
    reads: int = 300,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> dict[int, dict[str, Any]]:
    """Per plan size: import time, the cost of one status change, rollup read latency.
    ``settle``: waits, after each import, until the other services have taken its events in
    too (the whole system's benchmark), so that the changes do not share the machine with
    that backlog."""
    bench = Bench(http, base)
    # The first requests of a process pay for its caches (compiled statements, prepared
    # statements, pools): on a plan of its own, so no measured size pays for them.
    warm_up, lines, _, _ = await bench.plan_of(WARM_UP_LINES)
    await bench.status_changes(warm_up, lines, WARM_UP_LINES)
    await bench.rollup_reads(warm_up, WARM_UP_LINES)
    figures: dict[int, dict[str, Any]] = {}
    for size in sizes:
        plan_id, lines, import_seconds, counted_seconds = await bench.plan_of(size)
        if settle is not None:
            await settle()
        figures[size] = {
            "import_seconds": round(import_seconds, 2),
            "counted_in_rollups_seconds": round(counted_seconds, 2),
            "status_change": await bench.status_changes(plan_id, lines, changes),
            "rollup_read": await bench.rollup_reads(plan_id, reads),
        }
        print(json.dumps({size: figures[size]}), file=sys.stderr, flush=True)
    return figures


async def run(sizes: list[int]) -> dict[str, Any]:
    """The scale figures on a system of their own. Each import's events are taken in by the
    other services before its changes are measured, as in the whole benchmark: without that
    wait, meetings and notifications were still inserting the 10,000 lines' events during the
    changes, and the PATCH read 25.6 ms at 10,000 lines against 15.2 at 100 (with it, 12.8
    against 15.0)."""
    # Imported here: the system module builds on this one (its client).
    from tests.benchmarks.system import System

    report: dict[str, Any] = {"load_generator": "httpx.AsyncClient, one request at a time"}
    async with System.running() as system:
        report["rss_mib_at_rest"] = system.rss()
        report["sizes"] = await measure_scale(
            system.http, system.url("plans"), sizes, settle=system.wait_idle
        )
        report["rss_mib_after"] = system.rss()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,10000", help="plan sizes in lines, comma-separated")
    parser.add_argument("--big", action="store_true", help="add a plan of 100,000 lines")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([100_000] if args.big else [])
    report = asyncio.run(stoppable(run(sizes)))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
