"""Each service's migrations create exactly what its models describe, in its own database."""

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.stack import SERVICE_NAMES, Infrastructure

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_migrated_schema_matches_the_models(infra: Infrastructure, service: str) -> None:
    metadata = importlib.import_module(f"services.{service}.orm").Base.metadata

    async def differences() -> list:
        engine = create_async_engine(infra.database_url(service))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(differences()) == []
