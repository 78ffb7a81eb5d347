"""HTTP load from wrk, driven by ``status_change.lua``.

wrk is C and event-driven: on a 2-core machine, where the load generator shares the cores
with everything it measures, it takes a small fraction of what a Python client would.
"""

import asyncio
import json
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("status_change.lua")


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    """The lines file the script reads: "id version status" per action line."""
    path.write_text("".join(f"{x['id']} {x['version']} {x['status']}\n" for x in lines))
    return path


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: deploy/stack bench installs it (apt-get install wrk)")
    # wrk prints its version in the usage text it writes for -v.
    usage = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (usage.stdout or usage.stderr).splitlines()[0].split(" Copyright")[0]


class Wrk:
    """One wrk run, started in the background; it ends after its duration or when
    interrupted, and then prints the figures its script's done() writes."""

    def __init__(self, process: asyncio.subprocess.Process, command: list[str]) -> None:
        self._process = process
        self.command = command

    @classmethod
    async def start(
        cls,
        base_url: str,
        lines_file: Path,
        *,
        mode: str,
        seconds: float,
        threads: int,
        connections: int,
        bearer: str,
    ) -> "Wrk":
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-H",
            f"Authorization: Bearer {bearer}",
            "-s",
            str(SCRIPT),
            base_url,
            "--",
            str(lines_file),
            str(threads),
            mode,
        ]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        shown = [
            part if not part.startswith("Authorization") else "Authorization: ..."
            for part in command
        ]
        return cls(process, shown)

    def interrupt(self) -> None:
        """Stop now (SIGINT: wrk stops its threads and reports what it did so far)."""
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)

    async def result(self) -> dict[str, Any]:
        out, err = await self._process.communicate()
        found = [line for line in out.decode().splitlines() if line.startswith("WRK_JSON ")]
        if not found:
            raise RuntimeError(f"wrk reported nothing: {out.decode()[-500:]} {err.decode()[-500:]}")
        figures: dict[str, Any] = json.loads(found[-1].removeprefix("WRK_JSON "))
        seconds = figures["duration_us"] / 1e6
        figures["seconds"] = round(seconds, 2)
        figures["requests_per_s"] = round(figures["requests"] / seconds, 1)
        figures["bytes_per_response"] = round(figures["bytes"] / max(1, figures["requests"]))
        figures["errors_total"] = sum(figures["errors"].values())
        return figures


async def run_wrk(base_url: str, lines_file: Path, **options: Any) -> dict[str, Any]:
    """A whole run of ``options['seconds']``."""
    return await (await Wrk.start(base_url, lines_file, **options)).result()
