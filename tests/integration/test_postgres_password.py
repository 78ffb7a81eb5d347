"""The suite's PostgreSQL, like the local stack's (deploy/local/postgres.py), asks for a
password on TCP as a real server does: without it, or with a wrong one, a connection is
refused; the URLs the stack hands out carry the right one."""

import asyncpg
import pytest

from shared.db import asyncpg_dsn
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


async def test_a_tcp_connection_needs_the_password(infra: Infrastructure) -> None:
    port = infra.postgres.port
    for password in (None, "", "not-the-password"):
        with pytest.raises(
            (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
        ) as refused:
            await asyncpg.connect(
                host="127.0.0.1", port=port, user="postgres", database="postgres",
                password=password, timeout=10,
            )  # fmt: skip
        assert "password" in str(refused.value)

    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("plans")), timeout=10)
    try:
        assert await connection.fetchval("SELECT current_user") == "postgres"
        method = await connection.fetchval(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1"
        )
        assert method == "scram-sha-256"
    finally:
        await connection.close()
