"""What every benchmark needs: percentiles, resident memory, the numbers of a run.

One place for them, so that every figure in the report is computed the same way.
"""

import time
from collections.abc import Callable
from pathlib import Path

from tests.support.stack import Services


def latency_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99 of durations given in seconds, in milliseconds (nearest rank)."""
    if not seconds:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(seconds)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def ratio(ours: float, peer: float) -> float:
    return round(ours / peer, 3) if peer else 0.0


def rss_mib(pid: int | None) -> float:
    """Resident memory of a process, from /proc (0 when it is gone)."""
    if not pid:
        return 0.0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    return round(kib / 1024, 1)


def stopwatch() -> Callable[[], float]:
    """Seconds since the call, on the monotonic clock (CLOCK_MONOTONIC is one clock for every
    process of the machine, so other processes' timestamps compare with it)."""
    started = time.monotonic()
    return lambda: time.monotonic() - started


def services_rss(services: Services) -> dict[str, float]:
    """Resident memory of each running service process, in MiB."""
    return {name: rss_mib(process.pid()) for name, process in services.processes.items()}
