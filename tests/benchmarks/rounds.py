"""Ratios that hold still: each side measured several times, ours and the peer alternating,
both warmed up the same way beforehand, the ratio taken per round and its median reported
with the spread (a target counts as met on the median).

One run of each side, one after the other, read very differently from run to run on a shared
machine (another process's burst lands on one side only); alternating which side goes first
spreads a drift in the machine's load over both, and the median of the rounds drops the odd
one out. The load average before and after says how busy the machine was meanwhile.
"""

import os
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

Side = Callable[[], Awaitable[float]]  # one measured run; a rate (per second)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


async def alternating(
    rounds: int, ours: Side, peer: Side, warm_up: Callable[[], Awaitable[Any]] | None = None
) -> dict[str, Any]:
    """``rounds`` pairs of runs, the peer first in even rounds and ours first in odd ones."""
    before = load_average()
    if warm_up is not None:
        await warm_up()
    ours_rates: list[float] = []
    peer_rates: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            peer_rates.append(await peer())
            ours_rates.append(await ours())
        else:
            ours_rates.append(await ours())
            peer_rates.append(await peer())
    ratios = [o / p if p else 0.0 for o, p in zip(ours_rates, peer_rates, strict=True)]
    return {
        "rounds": rounds,
        "ours": summary(ours_rates),
        "peer": summary(peer_rates),
        "ratio": summary(ratios),
        "load_average": {"before": before, "after": load_average()},
    }
