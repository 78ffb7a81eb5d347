"""Accord's benchmark report: every figure of docs/performance.md ("The figures and their peers"),
measured in one run on one machine against its peer, written as report.md and report.json.

    .venv/bin/python -m tests.benchmarks [--quick] [--big] [--sustained-seconds 600] [--out DIR]

(``deploy/stack bench [args]`` installs wrk when missing, then runs this.) It starts its own
PostgreSQL, Kafka, services and webhook receiver on free ports and stops them at the end, also
when interrupted (Ctrl-C or SIGTERM).
"""

import argparse
import asyncio
import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import report, suite
from tests.benchmarks.stopping import stoppable

REPO = Path(__file__).resolve().parents[2]


def parse(argv: list[str]) -> tuple[suite.Settings, Path]:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts and short runs (about 6 min)"
    )
    parser.add_argument("--big", action="store_true", help="add a plan of 100,000 lines")
    parser.add_argument(
        "--sustained-seconds", type=float, help="length of the sustained run (default 600)"
    )
    parser.add_argument(
        "--sustained-share",
        type=float,
        help="its rate, as a share of the pipeline's measured maximum (default 0.5)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / ".runtime" / "bench", help="where the reports go"
    )
    args = parser.parse_args(argv)
    settings = suite.QUICK if args.quick else suite.DEFAULT
    changes: dict[str, Any] = {}
    if args.big:
        changes["sizes"] = [*settings.sizes, 100_000]
    if args.sustained_seconds is not None:
        changes["sustained_seconds"] = args.sustained_seconds
    if args.sustained_share is not None:
        changes["sustained_share"] = args.sustained_share
    return dataclasses.replace(settings, **changes), args.out


def main() -> None:
    settings, out = parse(sys.argv[1:])
    started_at, started = datetime.now(UTC), time.monotonic()
    results = asyncio.run(stoppable(suite.run(settings)))
    results["meta"] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "command": " ".join(["python -m tests.benchmarks", *sys.argv[1:]]),
    }
    figures = report.write(out, results)
    print(f"reports: {out / 'report.md'} and {out / 'report.json'}", file=sys.stderr)
    print(figures)


if __name__ == "__main__":
    main()
