"""Traces with the SDK's in-memory exporter: when they are on, what an event carries and
logs show; when they are off, that nothing is added (and an incoming context passes on)."""

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.events import CloudEvent, EventContract, envelope
from shared.logging import add_trace_id
from shared.outbox import _publish_spans

EXPORTER = InMemorySpanExporter()
REMOTE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Example(EventContract):
    event_type = "org.accord.test.example"
    thing: str = "x"


@pytest.fixture(scope="module")
def provider() -> Iterator[TracerProvider]:
    # The global provider can be set once per process: every test of this module shares it.
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(EXPORTER))
    tracing.use_provider(sdk)
    yield sdk
    # Traces off again for the tests after this module: on, the relays they run in this
    # process read every staged payload for its trace context.
    tracing._enabled = False


@pytest.fixture
def traced(provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(tracing, "_enabled", True)
    EXPORTER.clear()
    yield
    EXPORTER.clear()


@pytest.fixture
def untraced(provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_enabled", False)


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ],
)
def test_export_is_off_unless_the_standard_variables_ask_for_it(
    environ: dict[str, str], requested: bool
) -> None:
    assert tracing.export_requested(environ) is requested


def test_off_an_event_carries_no_trace_and_no_span_is_made(untraced: None) -> None:
    with tracing.span("work") as span:
        assert span is None
        event = envelope(Example(), source="/accord/test", subject="s")
    assert event.traceparent is None and "traceparent" not in json.loads(event.to_bytes())
    assert tracing.start_span("publish", kind=SpanKind.PRODUCER) is None
    assert add_trace_id(None, "info", {}) == {}


def test_off_an_incoming_context_is_passed_on_unchanged(untraced: None) -> None:
    with tracing.span("process", parent={"traceparent": REMOTE}):
        event = envelope(Example(), source="/accord/test", subject="s")
    assert event.traceparent == REMOTE


def test_on_an_event_carries_the_span_that_staged_it_and_its_consumer_continues_it(
    traced: None,
) -> None:
    with tracing.span("request", kind=SpanKind.SERVER, parent={"traceparent": REMOTE}):
        staged = envelope(Example(), source="/accord/test", subject="s")
        logged = add_trace_id(None, "info", {})
    received = CloudEvent.from_bytes(staged.to_bytes())
    with tracing.span(
        "process",
        kind=SpanKind.CONSUMER,
        parent={"traceparent": received.traceparent, "tracestate": received.tracestate},
    ):
        pass
    request, process = EXPORTER.get_finished_spans()
    trace_id = format(request.context.trace_id, "032x")
    assert trace_id == REMOTE.split("-")[1] == logged["trace_id"]
    assert request.parent is not None and format(request.parent.span_id, "016x") == REMOTE[36:52]
    assert received.traceparent == f"00-{trace_id}-{request.context.span_id:016x}-01"
    assert process.parent is not None and process.parent.span_id == request.context.span_id
    assert process.context.trace_id == request.context.trace_id


def test_a_span_that_raises_is_recorded_as_failed(traced: None) -> None:
    with pytest.raises(RuntimeError), tracing.span("work"):
        raise RuntimeError("boom")
    [span] = EXPORTER.get_finished_spans()
    assert not span.status.is_ok and span.events[0].name == "exception"


def test_a_trace_context_the_propagator_cannot_read_starts_a_new_trace(traced: None) -> None:
    with tracing.span("process", parent={"traceparent": "not-a-traceparent"}):
        pass
    [span] = EXPORTER.get_finished_spans()
    assert span.parent is None


def test_the_relay_spans_a_row_whose_payload_is_not_an_envelope_in_a_new_trace(
    traced: None,
) -> None:
    """Reading a row's trace context must not stop it from being published (the relay used to
    raise on such a row and retry it for ever)."""
    with tracing.span("request", parent={"traceparent": REMOTE}):
        staged = envelope(Example(), source="/accord/test", subject="s").to_bytes()
    EXPORTER.clear()
    rows = [
        SimpleNamespace(topic="t", event_type="e", payload=payload)
        for payload in (staged, b"\xff not JSON", b"[1]")
    ]
    spans = _publish_spans(cast(Any, rows))
    for span in spans:
        span.end()
    envelope_span, not_json, not_an_object = EXPORTER.get_finished_spans()
    assert envelope_span.context.trace_id == int(REMOTE.split("-")[1], 16)
    assert not_json.parent is None and not_an_object.parent is None


def test_logs_carry_the_trace_id_of_the_current_span(traced: None) -> None:
    with structlog.testing.capture_logs(processors=[add_trace_id]) as lines:
        with tracing.span("work"):
            structlog.get_logger().info("inside")
        structlog.get_logger().info("outside")
    [span] = EXPORTER.get_finished_spans()
    assert lines[0]["trace_id"] == format(span.context.trace_id, "032x")
    assert "trace_id" not in lines[1]
