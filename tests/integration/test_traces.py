"""One status change is one trace: plans' request, its relay's publish, notifications'
consumer and its webhook attempt, with the parent links right, and the receiver is sent the
``traceparent`` of that attempt. Plans and notifications run as the suite's processes,
restarted with the standard ``OTEL_*`` variables pointing at a receiver in the test."""

import secrets
from collections.abc import Iterator

import httpx
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shared.topics import PLANS_EVENTS
from tests.support.api import add_action_line, add_section, change_status, create_plan
from tests.support.kafka import read_all
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.otlp import ReceivedSpan, SpanCollector, exporting_to
from tests.support.receiver import Receiver
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture(scope="module")
def collector(services: Services) -> Iterator[SpanCollector]:
    with (
        SpanCollector().running() as running,
        exporting_to(services, running.endpoint, "plans", "notifications"),
    ):
        yield running


STATUS_CHANGED = "org.accord.plans.action_line.status_changed"


def _one(
    spans: list[ReceivedSpan], service: str, name: str, event_type: str | None = None
) -> ReceivedSpan | None:
    """The one span named ``name`` from ``service`` (about an event of ``event_type``: a status
    change also stages roll-up events, each with spans of its own in the same trace)."""
    found = [
        s
        for s in spans
        if s.service == service
        and s.name == name
        and (event_type is None or s.attributes.get("cloudevents.event_type") == event_type)
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def _ancestors(spans: list[ReceivedSpan], span: ReceivedSpan) -> list[ReceivedSpan]:
    """``span``'s parent, its parent's parent, and so on, as far as they were received."""
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


async def test_one_status_change_is_one_trace_from_the_request_to_the_webhook(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
    collector: SpanCollector,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    plan = await create_plan(http, plans, secretariat_headers)
    section = await add_section(http, plans, secretariat_headers, plan["id"], code="1")
    line = await add_action_line(
        http, plans, secretariat_headers, plan["id"], section_id=section["id"]
    )
    code = await new_delegation(http, base, secretariat_headers)
    path = f"/hooks/{code}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    receiver.route(path, endpoint["secret"])
    await subscribe(
        http, base, code, "action_line", line["id"], event_types=["action_line.status_changed"]
    )

    # The caller's own trace: plans' server span must continue it.
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traced = {**secretariat_headers, "traceparent": f"00-{trace_id}-{caller_span}-01"}
    await change_status(http, plans, traced, line, "ongoing")

    async def delivered() -> bool:
        return bool(receiver.accepted(path))

    await eventually(delivered, what="the webhook for the status change")
    route = "PATCH /action-lines/{line_id}/status"

    async def whole_trace() -> dict[str, ReceivedSpan] | None:
        spans = collector.of_trace(trace_id)
        found = {
            "request": _one(spans, "plans", route),
            "publish": _one(spans, "plans", f"{PLANS_EVENTS} publish", STATUS_CHANGED),
            "process": _one(spans, "notifications", f"{PLANS_EVENTS} process", STATUS_CHANGED),
            "attempt": _one(spans, "notifications", "webhook attempt"),
            "http": _one(spans, "notifications", "POST"),  # httpx's own client span
        }
        if any(span is None for span in found.values()):
            return None
        return {k: v for k, v in found.items() if v is not None}

    trace = await eventually(whole_trace, what=f"the five spans of trace {trace_id}")
    request, publish, process, attempt, http_client = (
        trace[k] for k in ("request", "publish", "process", "attempt", "http")
    )
    assert request.parent_span_id == caller_span and request.kind == Span.SPAN_KIND_SERVER
    assert request.attributes["http.response.status_code"] == 200
    # The event carries the context of the span that staged it inside the request (FastAPI's
    # endpoint span): the publish and the processing are both children of that span.
    assert publish.kind == Span.SPAN_KIND_PRODUCER and process.kind == Span.SPAN_KIND_CONSUMER
    assert publish.parent_span_id == process.parent_span_id
    staged_in = _ancestors(collector.of_trace(trace_id), publish)
    assert staged_in[0].service == "plans" and request in staged_in
    assert publish.attributes["messaging.destination.name"] == PLANS_EVENTS
    assert attempt.parent_span_id == process.span_id
    assert 200 <= attempt.attributes["http.response.status_code"] < 300
    assert http_client.parent_span_id == attempt.span_id
    assert http_client.kind == Span.SPAN_KIND_CLIENT
    # Only the receiver's origin is recorded: a webhook URL's path can be its secret.
    urls = [v for k, v in http_client.attributes.items() if k in ("url.full", "http.url")]
    assert urls == [receiver.url("")]
    # The database work of the request has spans of its own, under the request's: the line
    # read, then the change written in one statement of CTEs (decision 50). Only the
    # request's own: plans' projection of the event continues this trace too, but its spans
    # may still be on their way to the collector when the webhook has arrived.
    spans = collector.of_trace(trace_id)
    statements = [
        span
        for span in spans
        if span.service == "plans" and span.attributes.get("db.system.name") == "postgresql"
    ]
    assert all(s.kind == Span.SPAN_KIND_CLIENT for s in statements)
    in_request = [
        s
        for s in statements
        if request in (chain := _ancestors(spans, s))
        and all(a.kind != Span.SPAN_KIND_CONSUMER for a in chain)
    ]
    assert {s.attributes["db.operation.name"] for s in in_request} >= {"SELECT", "WITH"}

    # On the topic the context is a CloudEvents extension attribute, as the SDK's Kafka
    # binding reads it: the span that staged the event.
    [record] = [
        r
        for r in await read_all(services.infra.kafka_admin, PLANS_EVENTS, settle=0.5)
        if trace_id.encode() in r.value and b"action_line.status_changed" in r.value
    ]
    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    attributes = ce_kafka.from_kafka(message, JSONFormat()).get_attributes()
    assert attributes["traceparent"] == f"00-{trace_id}-{publish.parent_span_id}-01"

    # The receiver was told which request of which trace sent it.
    [received] = receiver.accepted(path)
    assert received.headers["traceparent"] == f"00-{trace_id}-{http_client.span_id}-01"
