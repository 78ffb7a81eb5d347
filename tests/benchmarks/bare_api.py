"""The peer of the API write path: the smallest FastAPI app that does what the status-change
route does at the HTTP level (a PATCH whose JSON body pydantic parses, answered with JSON),
and nothing else: no token check, no database, no middleware.

    .venv/bin/python -m tests.benchmarks.bare_api --port 8099

It is served exactly as ``shared/cli.py`` serves the services (same ``uvicorn.run``
arguments), so that the ratio measures what the services do per request, not the server.
"""

import argparse
import uuid

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class StatusChange(BaseModel):
    status: str
    expected_version: int


class Changed(BaseModel):
    id: uuid.UUID
    status: str
    version: int


def create() -> FastAPI:
    app = FastAPI()

    @app.patch("/action-lines/{line_id}/status")
    async def change(line_id: uuid.UUID, body: StatusChange) -> Changed:
        return Changed(id=line_id, status=body.status, version=body.expected_version + 1)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The arguments of shared/cli.py's ``serve``.
    uvicorn.run(
        "tests.benchmarks.bare_api:create",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
