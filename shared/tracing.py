"""Traces: one status change is one trace, from the HTTP request through Kafka to the webhook.

OpenTelemetry is off unless the operator asks for it with the standard variables: a
``OTEL_TRACES_EXPORTER`` of ``otlp`` or ``console``, or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) with no exporter
named. ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keeps it off. Off, no SDK
is loaded and every helper below returns after one flag test, so the hot paths (relay,
consumer, dispatcher) pay nothing.

The trace context crosses Kafka inside the event, in the CloudEvents distributed-tracing
extension (``traceparent``, ``tracestate``): the envelope is written into the outbox in the
request's transaction, so the context travels with the row to the relay, which publishes later
from another task, and on to every consumer. That context is the span of the work that staged
the event (the request's, or a consumer's): the OpenTelemetry messaging conventions' creation
context. The relay's publish span and each consumer's process span are its children. The
notifications consumer stores the context of its process span with the event it records, so
the dispatcher's attempt, later, continues it and sends ``traceparent`` to the receiver.

Off, a context that arrives in an event is still passed on unchanged (one flag test and one
parse, only for events that carry one), so a receiver downstream of a service that does not
trace still sees the trace it belongs to.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["Span", "SpanKind"]

TRACER_NAME = "accord"
_PROPAGATOR = TraceContextTextMapPropagator()
_enabled = False


def enabled() -> bool:
    return _enabled


def export_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard ``OTEL_*`` variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK with the exporter the ``OTEL_*`` variables name, once per process;
    ``service`` is the ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise. Whether
    traces are on."""
    if _enabled or not export_requested(environ):
        return _enabled
    # Imported here: a process that does not trace never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:  # otlp over HTTP/protobuf: endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    return True


def use_provider(provider: trace.TracerProvider) -> None:
    """Trace through ``provider`` from now on (``configure_tracing``; tests with the SDK's
    in-memory exporter)."""
    global _enabled
    trace.set_tracer_provider(provider)
    _enabled = True


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_context() -> dict[str, str]:
    """The current span's ``traceparent`` (and ``tracestate``), to carry in an event or a
    header; empty when there is no trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def trace_id() -> str | None:
    """The current trace's id in hex (for the logs), None outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def _parent(carrier: Mapping[str, Any] | None) -> otel_context.Context | None:
    if not carrier or not carrier.get("traceparent"):
        return None
    return _PROPAGATOR.extract({k: str(v) for k, v in carrier.items() if v is not None})


_UNTRACED: AbstractContextManager[None] = nullcontext()


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Span | None]:
    """A span named ``name``, child of ``parent`` (a carrier with ``traceparent``, from an
    event or a header) or of the current span. Off: yields None, and only makes ``parent``
    current so that it is passed on (nothing at all without one: the common case costs one
    flag test)."""
    if not _enabled and (not parent or not parent.get("traceparent")):
        return _UNTRACED
    return _span(name, kind, _parent(parent), attributes)


@contextmanager
def _span(
    name: str,
    kind: SpanKind,
    remote: otel_context.Context | None,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Span | None]:
    if not _enabled:
        token = otel_context.attach(remote) if remote is not None else None
        try:
            yield None
        finally:
            if token is not None:
                otel_context.detach(token)
        return
    with _tracer().start_as_current_span(
        name, context=remote, kind=kind, attributes=attributes, record_exception=True
    ) as current:
        yield current


def fail(current: Span | None, reason: str) -> None:
    """Mark ``current`` as failed (an outcome that raised no exception, e.g. a 5xx)."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, reason))


def start_span(
    name: str, *, kind: SpanKind, parent: Mapping[str, Any] | None = None
) -> Span | None:
    """A span started now and ended by the caller (work that spans tasks, e.g. a publish
    that ends with its acknowledgement); None when off."""
    if not _enabled:
        return None
    return _tracer().start_span(name, context=_parent(parent), kind=kind)


def instrument_database(engine: Any) -> None:
    """A client span around each statement ``engine`` (an ``AsyncEngine``) runs, under the
    current span; nothing when off. Our own: the OpenTelemetry SQLAlchemy and asyncpg
    instrumentations need an older opentelemetry-api than FastAPI's. The span names the
    operation and the database, never the statement's values."""
    if not _enabled:
        return
    from sqlalchemy import event

    sync_engine = engine.sync_engine
    database = sync_engine.url.database or ""

    def start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        context = args[-2]  # (parameters, context, executemany)
        words = statement.split(None, 1)
        context._accord_span = _start_statement_span(words[0].upper() if words else "SQL", database)

    def end(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        current = getattr(args[-2], "_accord_span", None)
        if current is not None:
            current.end()

    def failed(exception_context: Any) -> None:
        current = getattr(exception_context.execution_context, "_accord_span", None)
        if current is not None:
            fail(current, type(exception_context.original_exception).__name__)
            current.end()

    event.listen(sync_engine, "before_cursor_execute", start)
    event.listen(sync_engine, "after_cursor_execute", end)
    event.listen(sync_engine, "handle_error", failed)


def _start_statement_span(operation: str, database: str) -> Span:
    return _tracer().start_span(
        f"{operation} {database}",
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "postgresql",
            "db.namespace": database,
            "db.operation.name": operation,
        },
    )


def statement_span(operation: str, database: str | None) -> AbstractContextManager[Any]:
    """The client span of a statement sent to the driver directly (``shared.prepared``), as
    ``instrument_database`` gives every statement the engine runs; nothing when off."""
    if not _enabled:
        return _UNTRACED
    return _statement_span(operation, database or "")


@contextmanager
def _statement_span(operation: str, database: str) -> Iterator[None]:
    current = _start_statement_span(operation, database)
    try:
        yield
    except BaseException as exc:
        fail(current, type(exc).__name__)
        raise
    finally:
        current.end()


def instrument_http_client(client: Any) -> None:
    """httpx's own client spans (the OpenTelemetry httpx instrumentation) on ``client``, which
    also sends the ``traceparent`` of its span; nothing when off. Of the URL only the origin
    goes on the span: a webhook URL's path or query can be the receiver's secret."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, request_hook=_origin_only)


_URL_ATTRIBUTES = ("url.full", "http.url")


async def _origin_only(span: Span, request: Any) -> None:
    url = request.url
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    recorded = getattr(span, "attributes", None) or {}
    for attribute in _URL_ATTRIBUTES:
        if attribute in recorded:
            span.set_attribute(attribute, origin)
