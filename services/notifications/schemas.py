"""HTTP request and response models of the notifications service."""

import uuid
import zoneinfo
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from services.notifications.domain import Cadence, Channel, DeliveryStatus, TargetKind
from shared.contracts.plans import ActionLineStatus
from shared.schemas import RequestModel, ResponseModel

DelegationCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$"), Field(examples=["VNM"])
]
EventTypePattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]
EVENT_TYPES_DOC = (
    "Event types to receive; empty for all. A full type, a suffix such as "
    "`action_line.status_changed`, or a prefix ending in `*` such as `org.accord.plans.*`."
)


class DelegationCreate(RequestModel):
    code: DelegationCode = Field(
        description="ISO 3166-1 alpha-3 for a state (VNM, MMR), or UN, ASEC, ..."
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        examples=["Viet Nam"]
    )
    timezone: str = Field(description="IANA time zone", examples=["Asia/Ho_Chi_Minh"])
    contact: Annotated[str, StringConstraints(max_length=320)] | None = Field(
        default=None, examples=["mission.asean@example.vn"]
    )
    digest_hour: int = Field(default=9, ge=0, le=23, description="Local hour of daily digests")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class DelegationRead(ResponseModel):
    code: str
    name: str
    timezone: str
    contact: str | None
    digest_hour: int


class MembershipCreate(RequestModel):
    delegation: DelegationCode
    valid_from: date = Field(examples=["2025-10-26"])
    valid_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "MembershipCreate":
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class MembershipRead(ResponseModel):
    grouping: str
    delegation_code: str
    valid_from: date
    valid_to: date | None


class GroupingMembers(ResponseModel):
    grouping: str = Field(examples=["ASEAN"])
    on: date = Field(examples=["2020-09-15"])
    members: list[str] = Field(examples=[["BRN", "IDN", "KHM", "LAO", "MMR"]])


class SubscriptionCreate(RequestModel):
    delegation: DelegationCode | None = Field(
        default=None, description="Whose subscription; a delegation's token implies its own"
    )
    target_kind: TargetKind = Field(examples=["tag"])
    target_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The plan, section or action line id; the tag; or the meeting series",
        examples=["humanitarian"],
    )
    event_types: list[EventTypePattern] = Field(
        default_factory=list, max_length=30, description=EVENT_TYPES_DOC
    )
    statuses: list[ActionLineStatus] = Field(
        default_factory=list,
        max_length=5,
        description="Only status changes to these statuses (e.g. only completions); empty: all",
    )
    channels: list[Channel] = Field(
        default_factory=lambda: list(Channel), min_length=1, max_length=3
    )
    cadence: Cadence = Field(
        default=Cadence.IMMEDIATE,
        description="`immediate`, or held for a daily digest or the digest before a meeting; "
        "critical events are always immediate",
    )

    @model_validator(mode="after")
    def _key_is_an_id_where_needed(self) -> "SubscriptionCreate":
        if self.target_kind in (TargetKind.PLAN, TargetKind.SECTION, TargetKind.ACTION_LINE):
            try:
                self.target_key = str(uuid.UUID(self.target_key))
            except ValueError as exc:
                raise ValueError(f"target_key must be the {self.target_kind}'s id") from exc
        return self


class SubscriptionRead(ResponseModel):
    id: uuid.UUID
    delegation_code: str
    target_kind: TargetKind
    target_key: str
    event_types: list[str]
    statuses: list[str]
    channels: list[Channel]
    cadence: Cadence
    created_at: datetime


class EndpointCreate(RequestModel):
    delegation: DelegationCode | None = Field(
        default=None, description="Whose endpoint; a delegation's token implies its own"
    )
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        examples=["https://hooks.mission.example.vn/accord"]
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    event_types: list[EventTypePattern] = Field(
        default_factory=list, max_length=30, description=EVENT_TYPES_DOC
    )


class EndpointUpdate(RequestModel):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    event_types: list[EventTypePattern] | None = Field(default=None, max_length=30)
    enabled: bool | None = Field(
        default=None, description="Re-enabling resumes the deliveries that were waiting"
    )


class EndpointRead(ResponseModel):
    id: uuid.UUID
    delegation_code: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="`gone` (a 410) or `failing`")
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(
        description="The signing secret, shown this once only",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotated(ResponseModel):
    secret: str = Field(description="The new signing secret, shown this once only")
    previous_secret_valid_until: datetime = Field(
        description="Until then every webhook carries two signatures, one per secret"
    )


class RecoverRequest(RequestModel):
    since: datetime = Field(examples=["2020-09-15T00:00:00Z"])


class RecoverResult(ResponseModel):
    scheduled: int = Field(description="Failed deliveries scheduled to be sent again")


class AttemptRead(ResponseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


class DeliveryRead(ResponseModel):
    id: int
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    endpoint_id: uuid.UUID
    delegation_code: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    tries: int = Field(description="Attempts in the current round (a redelivery starts one)")
    attempts_total: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    succeeded_at: datetime | None


class DeliveryDetail(DeliveryRead):
    attempts: list[AttemptRead]


class InboxEntryRead(ResponseModel):
    id: int
    seq: int = Field(description="The delegation's stream number: the SSE event id")
    delegation_code: str
    event_type: str
    title: str
    body: str
    critical: bool
    read_at: datetime | None
    created_at: datetime


class UnreadCount(ResponseModel):
    delegation_code: str
    unread: int


class MarkedRead(ResponseModel):
    marked: int


class ActivityRead(ResponseModel):
    event_id: str
    event_type: str
    plan_id: uuid.UUID | None
    subject: str | None
    data: dict[str, Any]
    occurred_at: datetime
    received_at: datetime
