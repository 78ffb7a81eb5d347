"""Python's garbage collector in a service's process: what start-up made is frozen, and every
pause of the collector is measured.

Why: a full collection walks every tracked object, and a started service holds about 140,000
of them (modules, FastAPI's routes, SQLAlchemy's mappers, pydantic's schemas), none of which
will ever be garbage. Each full collection then stopped the event loop for 70-100 ms (measured
in a plans process and in the fan-out benchmark, where it tripled one fan-out in two), and a
request or an event arriving meanwhile waited that long. ``gc.freeze()`` moves what exists
once the service has started into a generation the collector no longer walks; what the
service allocates afterwards is collected as before.

The youngest generation is also collected less often than Python's default (every 700 new
objects): validating one event or serving one request allocates a few hundred, so most
collections ran in the middle of one and promoted its temporaries to the next generation,
which is walked again. See ``THRESHOLDS``.
"""

import gc
import time
from typing import Any

from prometheus_client import Gauge, Histogram

FROZEN = Gauge(
    "accord_gc_frozen_objects",
    "Objects made at start-up and frozen: the garbage collector no longer walks them.",
)
PAUSES = Histogram(
    "accord_gc_pause_seconds",
    "How long each garbage collection stopped the process, by generation (2: full).",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)

_started: list[float] = []

# The collector's thresholds once a service has started: the youngest generation every 20,000
# new objects (Python's default: 700), the older two after 20 collections of the one below
# (default: 10). In the Kafka leg's benchmark (relay and consumer in one process, 10,000
# events, 3 rounds) the leg ran 10-15 % faster; with collections disabled altogether it ran no
# faster than this. A generation holds at most this many objects more before it is walked: a
# few megabytes, against a service's 100-odd.
THRESHOLDS = (20_000, 20, 20)


def _time_collections(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def freeze_startup_objects() -> int:
    """Collect what start-up left as garbage, then freeze the rest and set the collector's
    ``THRESHOLDS``; return how many objects are frozen. Called once the service has started
    (and by benchmarks that measure a service's code in their own process)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    frozen = gc.get_freeze_count()
    FROZEN.set(frozen)
    # Every generation's series from the start, at zero: a service that has not collected
    # yet still shows that it is measured (a missing series reads as "not measured"), and a
    # rate() over the first collection counts it.
    for generation in range(len(THRESHOLDS)):
        PAUSES.labels(str(generation))
    if _time_collections not in gc.callbacks:
        gc.callbacks.append(_time_collections)
    return frozen
