"""HTTP requests are counted under their route's template, never under a path holding an id:
the metrics' label values stay bounded whatever callers send."""

import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import REGISTRY

from shared import metrics
from shared.middleware import install_middleware
from shared.problems import install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_middleware(app, max_body_bytes=100)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: uuid.UUID) -> dict[str, str]:
        return {"id": str(thing_id)}

    return app


def _requests(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("accord_http_requests_total", labels) or 0.0


def _route_labels() -> set[str]:
    return {
        sample.labels["route"]
        for family in REGISTRY.collect()
        if family.name == "accord_http_requests"
        for sample in family.samples
    }


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    template = "/things/{thing_id}"
    before = {status: _requests(template, "GET", status) for status in ("200", "422")} | {
        "unmatched": _requests(metrics.UNMATCHED_ROUTE, "GET", "404")
    }
    ids = [uuid.uuid4() for _ in range(3)]
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for thing_id in ids:
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/things/not-a-uuid")).status_code == 422
        assert (await client.get(f"/elsewhere/{ids[0]}")).status_code == 404

    assert _requests(template, "GET", "200") == before["200"] + 3
    assert _requests(template, "GET", "422") == before["422"] + 1
    assert _requests(metrics.UNMATCHED_ROUTE, "GET", "404") == before["unmatched"] + 1
    assert not [route for route in _route_labels() if any(str(i) in route for i in ids)]
    duration = REGISTRY.get_sample_value(
        "accord_http_request_duration_seconds_count", {"route": template, "method": "GET"}
    )
    assert duration is not None and duration >= 4


async def test_an_unknown_method_is_counted_as_other() -> None:
    transport = httpx.ASGITransport(app=_app())
    before = _requests(metrics.UNMATCHED_ROUTE, "other", "404") + _requests(
        "/things/{thing_id}", "other", "405"
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.request("BREW", f"/things/{uuid.uuid4()}")
    assert response.status_code in (404, 405)
    after = _requests(metrics.UNMATCHED_ROUTE, "other", "404") + _requests(
        "/things/{thing_id}", "other", "405"
    )
    assert after == before + 1


async def test_a_live_stream_is_counted_but_its_length_is_not_a_request_duration() -> None:
    """A Server-Sent Events stream stays open as long as its reader: minutes in the latency
    histogram would hide every real request's latency."""
    app = _app()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: one\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def durations() -> float:
        labels = {"route": "/stream", "method": "GET"}
        return REGISTRY.get_sample_value("accord_http_request_duration_seconds_count", labels) or 0

    before = _requests("/stream", "GET", "200"), durations()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/stream")).status_code == 200
    assert (_requests("/stream", "GET", "200"), durations()) == (before[0] + 1, before[1])
