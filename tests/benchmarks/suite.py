"""Every measurement of the report in one run on one machine: one stack, the measurements one
after the other, each starting once the previous one's backlog is through."""

import dataclasses
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from shared.logging import configure_logging
from tests.benchmarks import (
    bench_api,
    bench_kafka_leg,
    bench_notifications,
    bench_pipeline,
    pipeline_raw,
)
from tests.benchmarks.bench_plans import measure_scale
from tests.benchmarks.machine import machine, versions
from tests.benchmarks.rounds import alternating, load_average
from tests.benchmarks.system import System

# The latency is measured at these shares of the pipeline's maximum throughput.
LATENCY_SHARES = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Settings:
    sizes: list[int] = dataclasses.field(default_factory=lambda: [100, 10_000])
    sustained_seconds: float = 600
    sustained_share: float = 0.5
    latency_seconds: float = 30
    api_seconds: float = 15
    pipeline_changes: int = 3000
    concurrency: int = 16  # HTTP connections, and the raw loop's transactions in flight
    wrk_threads: int = 2
    kafka_messages: int = 5000
    kafka_latency_messages: int = 300
    deliveries: int = 2000
    dispatcher_concurrency: int = 32
    rounds: int = 3  # alternating runs of ours and the peer per ratio (rounds.py)
    warm_up_changes: int = 100


DEFAULT = Settings()
QUICK = dataclasses.replace(
    DEFAULT,
    sizes=[100, 1000],
    sustained_seconds=20,
    latency_seconds=10,
    api_seconds=5,
    pipeline_changes=500,
    kafka_messages=1000,
    kafka_latency_messages=100,
    deliveries=500,
)


class Progress:
    """One line on stderr per step, with the time since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, step: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed // 60:02.0f}:{elapsed % 60:02.0f}] {step}", file=sys.stderr, flush=True)


async def run(settings: Settings) -> dict[str, Any]:
    # The Kafka leg and the dispatcher run in this process: their info logs would bury the
    # progress lines (the services log to their own files).
    configure_logging("bench", "WARNING")
    step = Progress()
    results: dict[str, Any] = {"settings": asdict(settings), "machine": machine()}
    step("starting PostgreSQL, Kafka, the services and the webhook receiver")
    async with System.running() as system:
        results["versions"] = await versions(system)
        memory = {"at_start": system.rss()}

        step("1. Kafka leg")
        results["kafka_leg"] = await bench_kafka_leg.measure(
            system.infra,
            settings.kafka_messages,
            50.0,
            settings.kafka_latency_messages,
            settings.rounds,
        )
        step("4. dispatcher, signing, fan-out")
        database = await system.database("accord_bench_dispatcher", "notifications")
        results["dispatcher"] = await bench_notifications.measure(
            database,
            system.sink.url(),
            settings.deliveries,
            settings.dispatcher_concurrency,
            settings.rounds,
        )
        step(f"6. scale: plans of {settings.sizes} lines")
        results["scale"] = await measure_scale(
            system.http, system.url("plans"), settings.sizes, settle=system.wait_idle
        )
        await system.wait_idle()

        step("3. API write path (wrk)")
        results["api"] = await bench_api.measure(
            system,
            seconds=settings.api_seconds,
            threads=settings.wrk_threads,
            connections=settings.concurrency,
            rounds=settings.rounds,
        )

        step("2. whole pipeline vs its raw asyncpg peer")
        results["pipeline"] = await _pipeline(system, settings)
        plan = results["pipeline"].pop("plan")
        rate = max(1.0, results["pipeline"]["throughput"]["per_s"])

        results["latency"] = {}
        for share in LATENCY_SHARES:
            step(f"5. latency at {share:.0%} of the maximum")
            results["latency"][str(share)] = await bench_pipeline.steady(
                system, plan, share * rate, settings.latency_seconds
            )
            results["latency"][str(share)]["load_average_after"] = load_average()
            await system.wait_idle()
        memory["at_rest"] = system.rss()

        step(f"2./7. sustained run ({settings.sustained_seconds:g} s)")
        results["sustained"] = await bench_pipeline.steady(
            system, plan, settings.sustained_share * rate, settings.sustained_seconds
        )
        await system.wait_idle()
        memory["after_sustained"] = system.rss()
        results["memory"] = memory
        step("stopping")
    results["machine"]["load_average_at_end"] = load_average()
    return results


async def _pipeline(system: System, settings: Settings) -> dict[str, Any]:
    """Alternating rounds of the pipeline (a fresh plan each, every line changed once) and
    its raw peer, after a small warm-up of each; the last round's plan stays for the
    latency and sustained runs."""
    options = {"threads": settings.wrk_threads, "connections": settings.concurrency}
    kept: dict[str, Any] = {}

    async def ours(changes: int = settings.pipeline_changes) -> float:
        kept["plan"] = await bench_pipeline.prepare(system, changes)
        kept["throughput"] = await bench_pipeline.throughput(system, kept["plan"], **options)
        await system.wait_idle()
        return float(kept["throughput"]["per_s"])

    async def raw(changes: int = settings.pipeline_changes) -> float:
        kept["raw"] = await pipeline_raw.measure(system, changes, settings.concurrency)
        return float(kept["raw"]["per_s"])

    async def warm_up() -> None:
        await ours(settings.warm_up_changes)
        await raw(settings.warm_up_changes)

    measured = await alternating(settings.rounds, ours, raw, warm_up)
    throughput = kept["throughput"] | {"per_s": measured["ours"]["median"]}
    return {
        "throughput": throughput,
        "raw": kept["raw"] | {"per_s": measured["peer"]["median"]},
        "rounds": measured,
        "plan": kept["plan"],
    }
