"""One steady run on a fresh system, alone: the latency run of the report (commit -> webhook,
commit -> rollup visible, the stages, the CPU per change) at a rate given in changes per
second rather than as a share of a measured maximum.

    .venv/bin/python -m tests.benchmarks.steady_run [--rate 20] [--seconds 30] [--lines 3000]
        [--warm-up 40]

For comparing two versions of the code: run it from a checkout of each, one after the other,
several times alternating (the machine's speed moves between runs; see docs/performance.md).
The warm-up is long because the tail needs it: over the first half minute the broker's JVM is
still compiling its hot paths (two fifths of its CPU at 20 changes/s), and after a warm-up of
10 s the p99 read 40-394 ms in six runs of the same code, against 34-46 ms (one 112) after 40 s.
"""

import argparse
import asyncio
import json
from typing import Any

from shared.logging import configure_logging
from tests.benchmarks import bench_pipeline
from tests.benchmarks.stopping import stoppable
from tests.benchmarks.system import System


async def measure(rate: float, seconds: float, lines: int, warm_up: float) -> dict[str, Any]:
    configure_logging("bench", "WARNING")
    async with System.running() as system:
        plan = await bench_pipeline.prepare(system, lines)
        # The services' first changes compile and prepare their statements.
        await bench_pipeline.steady(system, plan, rate, warm_up)
        await system.wait_idle()
        return await bench_pipeline.steady(system, plan, rate, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--lines", type=int, default=3000, help="the plan's lines")
    parser.add_argument(
        "--warm-up", type=float, default=40.0, help="seconds at the rate before measuring"
    )
    args = parser.parse_args()
    figures = asyncio.run(stoppable(measure(args.rate, args.seconds, args.lines, args.warm_up)))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
