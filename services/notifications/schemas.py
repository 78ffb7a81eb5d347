"""HTTP request and response models of delegations, groupings, subscriptions and the
activity feed, and what every route of the service shares (the delegation code, event type
filters, the documented problem responses). Webhooks' and the inbox's models are in their
features' ``schemas.py``."""

import uuid
import zoneinfo
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.notifications.domain import DEFAULT_CHANNELS, Cadence, Channel, TargetKind
from shared.contracts.plans import ActionLineStatus
from shared.problems import documented
from shared.schemas import FieldFault, RequestModel, ResponseModel

# Problem responses of the routes that have them, for the OpenAPI document.
NOT_FOUND = documented(404, "No such object, or not the caller's")
CONFLICT = documented(409, "Already exists, or not possible in this state")
CAPPED = documented(
    409, "The delegation holds as many of these as the operator allows; `limit` names the cap"
)

DelegationCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$"), Field(examples=["VNM"])
]
# The delegation a list is about: only the secretariat may name one (otherwise the caller's own).
WhoseDelegation = Annotated[str | None, Query(description="Secretariat only: whose")]
EventTypePattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]
EVENT_TYPES_DOC = (
    "Event types to receive; empty for all. A full type, a suffix such as "
    "`action_line.status_changed`, or a prefix ending in `*` such as `org.accord.plans.*`."
)


def known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


DelegationName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Contact = Annotated[str, StringConstraints(max_length=320)]
DigestHour = Annotated[StrictInt, Field(ge=0, le=23, description="Local hour of daily digests")]


class DelegationCreate(RequestModel):
    code: DelegationCode = Field(
        description="ISO 3166-1 alpha-3 for a state (VNM, MMR), or UN, ASEC, ..."
    )
    name: DelegationName = Field(examples=["Viet Nam"])
    timezone: str = Field(description="IANA time zone", examples=["Asia/Ho_Chi_Minh"])
    contact: Contact | None = Field(default=None, examples=["mission.asean@example.vn"])
    digest_hour: DigestHour = 9

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


class DelegationUpdate(RequestModel):
    """The fields to change; a field left out keeps its value (`contact: null` clears it)."""

    name: DelegationName | None = Field(default=None, examples=["Viet Nam"])
    timezone: str | None = Field(
        default=None,
        description="IANA time zone; digests are timed in it from the next one on",
        examples=["Asia/Ho_Chi_Minh"],
    )
    contact: Contact | None = Field(default=None, examples=["mission.asean@example.vn"])
    digest_hour: DigestHour | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)

    @field_validator("name", "timezone", "digest_hour")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, not cleared")
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
            raise FieldFault("valid_to", "valid_to must not be before valid_from")
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


GroupingName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,50}$")]
RoleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")]


class RoleCreate(RequestModel):
    name: RoleName = Field(examples=["ASEAN Chair"])
    single_holder: StrictBool = Field(
        description="One holder on any day (the ASEAN Chair): overlapping assignments are refused"
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class RoleRead(ResponseModel):
    name: str
    single_holder: bool
    description: str | None


class RoleAssignmentCreate(RequestModel):
    role: RoleName = Field(examples=["ASEAN Chair"])
    delegation: DelegationCode
    valid_from: date = Field(examples=["2020-01-01"])
    valid_to: date | None = Field(default=None, description="Inclusive", examples=["2020-12-31"])

    @model_validator(mode="after")
    def _ordered(self) -> "RoleAssignmentCreate":
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise FieldFault("valid_to", "valid_to must not be before valid_from")
        return self


class RoleAssignmentRead(ResponseModel):
    id: int
    role: str
    delegation_code: str
    valid_from: date
    valid_to: date | None
    meeting_id: uuid.UUID | None


class RoleHolders(ResponseModel):
    role: str = Field(examples=["ASEAN Chair"])
    on: date = Field(examples=["2020-09-15"])
    holders: list[str] = Field(examples=[["VNM"]])


class SubscriptionCreate(RequestModel):
    delegation: DelegationCode | None = Field(
        default=None, description="Whose subscription; a delegation's token implies its own"
    )
    grouping: GroupingName | None = Field(
        default=None,
        description="Secretariat only, instead of `delegation`: tell every member of this "
        "grouping on the event's date (a member joined later gets nothing dated before)",
        examples=["ASEAN"],
    )
    role: RoleName | None = Field(
        default=None,
        description="Secretariat only, instead of `delegation`: tell whoever holds this role "
        "on the event's date; `co-chairs`: the co-chairs of the meeting the event is about",
        examples=["ASEAN Chair"],
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
        default_factory=lambda: list(DEFAULT_CHANNELS),
        min_length=1,
        max_length=len(Channel),
        description="Where to tell: `webhook`, `inbox`, `stream`, `email` (the delegation's "
        "contacts who want this kind of notice); default: all but `email`",
    )
    cadence: Cadence = Field(
        default=Cadence.IMMEDIATE,
        description="`immediate`, or held for a daily digest or the digest before a meeting; "
        "critical events are always immediate",
    )
    thresholds: list[Annotated[StrictFloat | StrictInt, Field(gt=0, le=100)]] = Field(
        default_factory=list,
        max_length=10,
        description="Completion thresholds in percent, for a plan or a section: the "
        "subscription is then told only when the target's completion rate (the plans "
        "service's default counting rule) crosses one, reaching it or falling below it again, "
        "once per crossing (a `rollup.changed` event); empty: every event as usual",
        examples=[[90]],
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds_of_a_plan_or_section(
        cls, thresholds: list[float], info: ValidationInfo
    ) -> list[float]:
        # A field validator, not a model one, so that the error names body.thresholds; the
        # target kind is declared earlier and so already validated.
        kind = info.data.get("target_kind")
        if thresholds and kind not in (TargetKind.PLAN, TargetKind.SECTION):
            raise ValueError(f"thresholds are for a plan or a section, not a {kind}")
        return thresholds

    @model_validator(mode="after")
    def _one_audience(self) -> "SubscriptionCreate":
        if self.grouping is not None and self.role is not None:
            raise FieldFault("role", "a subscription names a grouping or a role, not both")
        if (self.grouping or self.role) is not None and self.delegation is not None:
            which = "grouping" if self.grouping is not None else "role"
            raise FieldFault(which, f"a subscription names a delegation or a {which}, not both")
        return self

    @model_validator(mode="after")
    def _key_is_an_id_where_needed(self) -> "SubscriptionCreate":
        if self.target_kind in (TargetKind.PLAN, TargetKind.SECTION, TargetKind.ACTION_LINE):
            try:
                self.target_key = str(uuid.UUID(self.target_key))
            except ValueError as exc:
                raise FieldFault(
                    "target_key", f"target_key must be the {self.target_kind}'s id"
                ) from exc
        return self


class SubscriptionRead(ResponseModel):
    id: uuid.UUID
    delegation_code: str | None = Field(description="Null for a grouping's or a role's")
    grouping: str | None
    role: str | None
    target_kind: TargetKind
    target_key: str
    event_types: list[str]
    statuses: list[str]
    channels: list[Channel]
    cadence: Cadence
    thresholds: list[float]
    created_at: datetime


class ActivityRead(ResponseModel):
    event_id: str
    event_type: str
    schema_version: int = Field(description="The version of `data`'s contract")
    plan_id: uuid.UUID | None
    subject: str | None
    data: dict[str, Any]
    occurred_at: datetime
    received_at: datetime
