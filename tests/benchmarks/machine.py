"""What a report must say about where its figures come from: the machine and the versions."""

import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from deploy.local.kafka import KAFKA_LIBS
from tests.benchmarks.system import System
from tests.benchmarks.wrk_load import wrk_version

LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
    "asyncpg",
    "aiokafka",
    "httpx",
    "structlog",
)


def machine() -> dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    system = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"), re.MULTILINE)
    return {
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory.group(1)) / 1024**2, 1) if memory else None,
        "kernel": platform.release(),
        "os": system.group(1) if system else platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def versions(system: System) -> dict[str, Any]:
    database = await system.connect("plans")
    try:
        postgres = await database.fetchval("SHOW server_version")
    finally:
        await database.close()
    return {
        "python": platform.python_version(),
        "postgresql": postgres,
        "kafka": _kafka_version(),
        "wrk": wrk_version(),
        **{name: _library(name) for name in LIBRARIES},
    }


def _kafka_version() -> str:
    jars = sorted(KAFKA_LIBS.glob("kafka-server-[0-9]*.jar"))
    return jars[-1].stem.removeprefix("kafka-server-") if jars else "unknown"


def _library(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
