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
from tests.benchmarks.system import System

LATENCY_SHARE = 0.2  # the latency is measured at 20 % of the pipeline's maximum throughput


@dataclass(frozen=True)
class Settings:
    sizes: list[int] = dataclasses.field(default_factory=lambda: [100, 10_000])
    sustained_seconds: float = 180
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
            system.infra, settings.kafka_messages, 50.0, settings.kafka_latency_messages
        )
        step("4. dispatcher, signing, fan-out")
        database = await system.database("accord_bench_dispatcher", "notifications")
        results["dispatcher"] = await bench_notifications.measure(
            database, system.sink.url(), settings.deliveries, settings.dispatcher_concurrency
        )
        step(f"6. scale: plans of {settings.sizes} lines")
        results["scale"] = await measure_scale(system.http, system.url("plans"), settings.sizes)
        await system.wait_idle()

        step("3. API write path (wrk)")
        results["api"] = await bench_api.measure(
            system,
            seconds=settings.api_seconds,
            threads=settings.wrk_threads,
            connections=settings.concurrency,
        )

        step("2. whole pipeline")
        plan = await bench_pipeline.prepare(system, settings.pipeline_changes)
        through = await bench_pipeline.throughput(
            system, plan, threads=settings.wrk_threads, connections=settings.concurrency
        )
        await system.wait_idle()
        step("2. raw asyncpg peer of the pipeline")
        raw = await pipeline_raw.measure(system, settings.pipeline_changes, settings.concurrency)
        results["pipeline"] = {"throughput": through, "raw": raw}

        step("5. latency")
        rate = max(1.0, through["per_s"])
        results["latency"] = await bench_pipeline.steady(
            system, plan, LATENCY_SHARE * rate, settings.latency_seconds
        )
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
    return results
