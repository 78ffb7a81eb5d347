"""Benchmarks of the plans service (a script, not a test: figures are ratios and percentiles
measured in one run on one machine, because these machines are shared and noisy).

    .venv/bin/python -m tests.benchmarks.bench_plans [--sizes 100,10000] [--big]

It starts its own PostgreSQL, Kafka and plans service on free ports, then for each plan size
(one flat plan of N lines, imported as CSV):
1. the import time;
2. the cost of one status change: PATCH latency p50/p99, and the time until the plan's
   rollup shows it through the event path (the projection), sequentially, on random lines;
3. rollup read latency p50/p99;
and once: status-change requests/s under concurrency against the same server's trivial
endpoint (``/healthz``) with the same load generator, as a ratio; and the resident memory of
each service at rest and after all of it.
"""

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from shared.auth import Role
from tests.support.stack import Services, new_infrastructure, token

CONCURRENCY = 16


def _rss_mib(services: Services) -> dict[str, float]:
    """Resident memory of each service process, from /proc."""
    sizes = {}
    for name, process in services.processes.items():
        pid = process.pid()
        status = Path(f"/proc/{pid}/status").read_text() if pid else ""
        kib = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        sizes[name] = round(kib / 1024, 1)
    return sizes


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 2),
    }


class Bench:
    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base

    async def plan_of(self, size: int) -> tuple[str, list[dict[str, Any]], float]:
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
        rows = "\n".join(
            f"{i},Action line {i},tag-{i % 7};all,UN,2025-12-31" for i in range(size)
        )  # fmt: skip
        csv = "code,text,tags,leads,target_date\n" + rows + "\n"
        started = time.perf_counter()
        imported = await self.http.post(
            f"{self.base}/plans/{plan_id}/action-lines/import",
            content=csv,
            headers={"content-type": "text/csv"},
        )
        import_seconds = time.perf_counter() - started
        assert imported.status_code == 201, imported.text[:500]
        await self.rollup_total(plan_id, size)
        lines: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
            page = (
                await self.http.get(f"{self.base}/plans/{plan_id}/action-lines", params=params)
            ).json()
            lines.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None or len(lines) >= 2000:
                return plan_id, lines, import_seconds

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
        return {"patch": _ms(patch), "visible_in_rollup": _ms(visible), "changes": len(patch)}

    async def rollup_reads(self, plan_id: str, count: int) -> dict[str, float]:
        durations = []
        for _ in range(count):
            started = time.perf_counter()
            response = await self.http.get(f"{self.base}/plans/{plan_id}/rollups")
            durations.append(time.perf_counter() - started)
            assert response.status_code == 200
        return _ms(durations)

    async def throughput(
        self, plan_id: str, lines: list[dict[str, Any]], seconds: float
    ) -> dict[str, float]:
        """Status changes/s vs /healthz requests/s, same client, same concurrency."""
        versions = {line["id"]: line["version"] for line in lines}
        statuses = {line["id"]: line["status"] for line in lines}
        shares = [lines[i::CONCURRENCY] for i in range(CONCURRENCY)]

        async def changer(mine: list[dict[str, Any]], deadline: float) -> int:
            done = 0
            while time.perf_counter() < deadline:
                for line in mine:
                    target = "on_hold" if statuses[line["id"]] == "ongoing" else "ongoing"
                    response = await self.http.patch(
                        f"{self.base}/action-lines/{line['id']}/status",
                        json={"status": target, "expected_version": versions[line["id"]]},
                    )
                    assert response.status_code == 200, response.text
                    versions[line["id"]] += 1
                    statuses[line["id"]] = target
                    done += 1
                    if time.perf_counter() >= deadline:
                        break
            return done

        async def trivial(deadline: float) -> int:
            done = 0
            while time.perf_counter() < deadline:
                response = await self.http.get(f"{self.base}/healthz")
                assert response.status_code == 200
                done += 1
            return done

        deadline = time.perf_counter() + seconds
        changes = sum(await asyncio.gather(*(changer(s, deadline) for s in shares)))
        deadline = time.perf_counter() + seconds
        trivials = sum(await asyncio.gather(*(trivial(deadline) for _ in range(CONCURRENCY))))
        return {
            "status_changes_per_s": round(changes / seconds, 1),
            "healthz_per_s": round(trivials / seconds, 1),
            "ratio": round(changes / trivials, 3),
        }


async def run(sizes: list[int]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "sizes": {},
        "concurrency": CONCURRENCY,
        "load_generator": "httpx.AsyncClient",
    }
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as runtime:
        infra = new_infrastructure(Path(runtime))
        services = Services(infra)
        try:
            # Both block (migrations run their own event loop): keep them off this one.
            await asyncio.to_thread(infra.start)
            await infra.create_topics()
            await asyncio.to_thread(services.start_all)
            headers = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
            limits = httpx.Limits(max_connections=CONCURRENCY * 2)
            async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as http:
                bench = Bench(http, services.url("plans"))
                report["rss_mib_at_rest"] = _rss_mib(services)
                for size in sizes:
                    plan_id, lines, import_seconds = await bench.plan_of(size)
                    report["sizes"][size] = {
                        "import_seconds": round(import_seconds, 2),
                        "status_change": await bench.status_changes(plan_id, lines, 100),
                        "rollup_read": await bench.rollup_reads(plan_id, 300),
                    }
                    print(json.dumps({size: report["sizes"][size]}), flush=True)
                report["throughput"] = await bench.throughput(plan_id, lines, seconds=10)
                report["rss_mib_after"] = _rss_mib(services)
        finally:
            services.stop_all()
            infra.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,10000", help="plan sizes in lines, comma-separated")
    parser.add_argument("--big", action="store_true", help="add a plan of 100,000 lines")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([100_000] if args.big else [])
    report = asyncio.run(run(sizes))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
