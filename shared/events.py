"""The event envelope (CloudEvents 1.0, structured JSON mode) and the event contract registry.

Every message on Accord's topics is one JSON CloudEvent, sent per the CloudEvents Kafka
protocol binding in structured mode: the value is the whole event, the header
``content-type`` is ``application/cloudevents+json`` (``KAFKA_HEADERS``), and the message key
is the event's ``partitionkey`` extension. Besides the required attributes we
carry ``dataschemaversion``: the version of the ``data`` contract, so that a breaking change
can be published as a new version beside the old one. ``traceparent`` and ``tracestate`` (the
distributed-tracing extension) carry the trace the event belongs to (shared/tracing.py).
The envelope is a pydantic model rather than the ``cloudevents`` SDK's class because we need
strict validation of incoming messages with a readable reason for the dead-letter topic,
which pydantic gives us directly.

Contracts are pydantic models registered under (type, version); consumers look them up to
validate ``data``. Contracts only ever gain optional fields; anything else is a new version.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import tracing

# The CloudEvents Kafka binding's structured mode: this header says the value is a whole
# event. No ``ce_`` header goes with it: a reader takes any of them for binary mode.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
KAFKA_HEADERS = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    time: datetime
    subject: str | None = Field(default=None, max_length=500)
    datacontenttype: Literal["application/json"] = "application/json"
    dataschemaversion: int = Field(ge=1)
    partitionkey: str | None = Field(
        default=None,
        max_length=200,
        description="The Kafka message key (CloudEvents partitioning extension)",
    )
    # The CloudEvents distributed-tracing extension: the W3C trace context of the work that
    # staged the event (shared/tracing.py); absent when that work was not traced. Not checked
    # further: a context the propagator cannot read starts a new trace, it never rejects an event.
    traceparent: str | None = Field(default=None, max_length=256)
    tracestate: str | None = Field(default=None, max_length=4096)
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "CloudEvent":
        if raw is None:
            raise InvalidEvent("empty message")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(f"malformed envelope: {_summarise(exc)}") from exc


class EventContract(BaseModel):
    """Base of every public event payload: a versioned, typed contract."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def as_newest(self) -> "EventContract":
        """This event read as the newest version of its type's contract: itself, unless an
        older version says how it reads as the newer one (consumers then know one shape)."""
        return self


class InvalidEvent(Exception):
    """An incoming message that can never be processed; its reason goes to the dead letter."""


_REGISTRY: dict[tuple[str, int], type[EventContract]] = {}
C = TypeVar("C", bound=type[EventContract])


def contract(cls: C) -> C:
    """Class decorator registering a contract under its (type, version)."""
    key = (cls.event_type, cls.schema_version)
    if key in _REGISTRY:
        raise RuntimeError(f"contract {key} registered twice")
    _REGISTRY[key] = cls
    return cls


def registered_contracts() -> list[type[EventContract]]:
    """Every registered contract, by type and version."""
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def contract_for(event_type: str, version: int) -> type[EventContract]:
    """The contract registered for this type and version; InvalidEvent if there is none."""
    cls = _REGISTRY.get((event_type, version))
    if cls is None:
        known = sorted(v for (t, v) in _REGISTRY if t == event_type)
        if known:
            raise InvalidEvent(f"unknown version {version} of {event_type} (known: {known})")
        raise InvalidEvent(f"unknown event type {event_type}")
    return cls


def parse_data(event: CloudEvent) -> EventContract:
    """Validate an envelope's data against its registered contract."""
    cls = contract_for(event.type, event.dataschemaversion)
    try:
        return cls.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(
            f"invalid {event.type} v{event.dataschemaversion}: {_summarise(exc)}"
        ) from exc


def envelope(
    payload: EventContract, *, source: str, subject: str, partitionkey: str | None = None
) -> CloudEvent:
    """Wrap a contract in a new envelope with a fresh id (``partitionkey``: the Kafka key it
    is published with), carrying the current trace context if there is one."""
    return CloudEvent(
        **tracing.current_context(),
        id=str(uuid.uuid4()),
        source=source,
        type=payload.event_type,
        time=datetime.now(UTC),
        subject=subject,
        dataschemaversion=payload.schema_version,
        partitionkey=partitionkey,
        data=payload.model_dump(mode="json"),
    )


def _summarise(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )[:1000]
