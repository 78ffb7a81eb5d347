"""A benchmark stopped with SIGTERM runs its clean-up (tests/benchmarks/stopping.py): killed
the default way, a single-figure benchmark left its PostgreSQL and Kafka running."""

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Stands for a benchmark: says it has started its servers, then works until stopped; its
# clean-up writes a file where a benchmark would stop them.
SCRIPT = """
import asyncio, sys
from pathlib import Path
from tests.benchmarks.stopping import stoppable

async def work(marker: Path) -> None:
    try:
        print("started", flush=True)
        await asyncio.sleep(60)
    finally:
        marker.write_text("stopped")

try:
    asyncio.run(stoppable(work(Path(sys.argv[1]))))
except asyncio.CancelledError:
    sys.exit(143)
"""


def test_sigterm_runs_the_benchmarks_clean_up(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(marker)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        process.kill()
    assert marker.read_text() == "stopped"
    assert code == 143
