"""Fixtures of the whole suite. Integration fixtures start real servers; unit tests use none."""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.auth import Role
from tests.support.meetings import PARTICIPANTS, known_to_meetings
from tests.support.stack import Infrastructure, Services, new_infrastructure, token


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    """A PostgreSQL server and a Kafka broker of the suite's own, on free loopback ports."""
    keep = os.environ.get("ACCORD_TEST_RUNTIME_DIR")
    runtime_dir = Path(keep) if keep else tmp_path_factory.mktemp("stack")
    infrastructure = new_infrastructure(runtime_dir)
    try:
        infrastructure.start()
        asyncio.run(infrastructure.create_topics())
        yield infrastructure
    finally:
        infrastructure.stop()


@pytest.fixture(scope="session")
def services(infra: Infrastructure) -> Iterator[Services]:
    """The three services as child processes, talking to the suite's Kafka and PostgreSQL."""
    running = Services(infra)
    try:
        running.start_all()
        asyncio.run(_participants_known(running))
        yield running
    finally:
        running.stop_all()


async def _participants_known(running: Services) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        await known_to_meetings(
            http,
            running.url("notifications"),
            {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"},
            running.infra.database_url("meetings"),
            PARTICIPANTS,
        )


@pytest.fixture(scope="session")
def secretariat_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}


@pytest.fixture(scope="session")
def viewer_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.VIEWER)}"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
