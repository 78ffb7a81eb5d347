"""HTTP request and response models of the plans service, and the error responses its
routes declare in the OpenAPI document (defined once here for every router of the service)."""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    computed_field,
    model_validator,
)

from services.plans.domain import (
    IATI_ACTIVITY_STATUS,
    PLAN_TRANSITIONS,
    TRANSITIONS,
    LineStatus,
    PlanStatus,
)
from shared import rounding
from shared.pagination import Cursor, Limit
from shared.problems import documented
from shared.schemas import FieldFault, IanaTimeZone, RequestModel, ResponseModel

Code = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]

NOT_FOUND = documented(404, "No such plan, section or action line")
CONFLICT = documented(409, "Duplicate code, stale version or forbidden transition")
PRECONDITIONS = documented(412, "`If-Match` names a version that is not current") | documented(
    428, "Neither `If-Match` nor `expected_version` was sent"
)

Status = TypeVar("Status", bound=str)


def state_machine(transitions: Mapping[Status, Iterable[Status]]) -> dict[str, Any]:
    """A workflow as the schema states it (``x-state-machine``: each status and the statuses
    it may go to next), so that a client learns it from the contract, not from 409s."""
    return {"x-state-machine": {status: sorted(after) for status, after in transitions.items()}}


ALLOWED_DOC = (
    "The statuses it may go to next, from its current status (`x-state-machine` of this "
    "schema has the whole workflow); any other is refused with a 409 listing these"
)


class PlanCreate(RequestModel):
    code: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        examples=["ASEAN-UN-POA-2016-2020"]
    )
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        examples=["ASEAN-UN Plan of Action 2016-2020"]
    )
    partners: list[Label] = Field(min_length=1, max_length=50, examples=[["ASEAN", "UN"]])
    period_start: date = Field(examples=["2016-01-01"])
    period_end: date = Field(examples=["2020-12-31"])
    predecessor_id: uuid.UUID | None = None
    time_zone: IanaTimeZone = Field(
        default="UTC",
        description="IANA time zone of the plan's calendar: what 'today' is for effective "
        "dates and `as_of` (e.g. where its secretariat sits)",
        examples=["Asia/Jakarta"],
    )

    @model_validator(mode="after")
    def _period_is_ordered(self) -> "PlanCreate":
        if self.period_end < self.period_start:
            raise FieldFault("period_end", "period_end must not be before period_start")
        return self


class PlanRead(ResponseModel):
    id: uuid.UUID
    code: str
    title: str
    partners: list[str]
    period_start: date
    period_end: date
    time_zone: str
    status: PlanStatus
    predecessor_id: uuid.UUID | None
    successor_id: uuid.UUID | None
    submitted_to_meeting_id: uuid.UUID | None
    version: int
    created_at: datetime

    model_config = ConfigDict(json_schema_extra=state_machine(PLAN_TRANSITIONS))

    @computed_field(description=ALLOWED_DOC)  # type: ignore[prop-decorator]
    @property
    def allowed_transitions(self) -> list[PlanStatus]:
        return sorted(PLAN_TRANSITIONS[self.status])


class SectionCreate(RequestModel):
    code: Code = Field(examples=["1"])
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        examples=["Political-Security Cooperation"]
    )
    parent_id: uuid.UUID | None = None
    ordering_key: Label | None = Field(default=None, description="Sort key; the code by default")


class SectionRead(ResponseModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    parent_id: uuid.UUID | None
    code: str
    title: str
    ordering_key: str
    path: list[uuid.UUID]


class ActionLineCreate(RequestModel):
    code: Code = Field(
        description="An opaque label kept exactly as given, never parsed", examples=["1.2.3"]
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)] = Field(
        examples=["Promote cooperation on UN peacekeeping, including training and exchanges"]
    )
    section_id: uuid.UUID | None = None
    ordering_key: Label | None = Field(default=None, description="Sort key; the code by default")
    leads: list[Label] = Field(default_factory=list, max_length=20, examples=[["UN DPO", "ASEAN"]])
    tags: list[Label] = Field(default_factory=list, max_length=20, examples=[["peacekeeping"]])
    target_date: date | None = Field(default=None, examples=["2019-12-31"])
    weight: StrictFloat = Field(default=1.0, gt=0, le=1000)


class ActionLineRead(ResponseModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    section_id: uuid.UUID | None
    code: str
    ordering_key: str
    text: str
    leads: list[str]
    tags: list[str]
    target_date: date | None
    weight: float
    status: LineStatus
    version: int
    carried_over_from: uuid.UUID | None = Field(
        description="The predecessor plan's line this one continues"
    )
    carried_over_to: uuid.UUID | None = Field(
        description="The successor plan's line that continues this one"
    )
    updated_at: datetime

    model_config = ConfigDict(json_schema_extra=state_machine(TRANSITIONS))

    @computed_field(  # type: ignore[prop-decorator]
        description="The IATI ActivityStatus code of the status (1, 2, 4, 5 or 6)"
    )
    @property
    def iati_activity_status(self) -> int:
        return IATI_ACTIVITY_STATUS[self.status]

    @computed_field(description=ALLOWED_DOC)  # type: ignore[prop-decorator]
    @property
    def allowed_transitions(self) -> list[LineStatus]:
        return sorted(TRANSITIONS[self.status])


class StatusChangeRequest(RequestModel):
    status: LineStatus = Field(examples=["completed"])
    expected_version: StrictInt | None = Field(
        default=None,
        ge=1,
        description='The version the change is based on; or send it as `If-Match: "<version>"`',
    )
    effective_date: date | None = Field(
        default=None,
        description="When it took effect; today in the plan's time zone by default. Never "
        "after that today, nor before the line's latest change (a 422 on effective_date): "
        "dating a recorded change differently is a correction of history, "
        "POST /action-lines/{id}/history/{entry_id}/corrections",
    )
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class EffectiveDateCorrection(RequestModel):
    effective_date: date = Field(
        description="When the recorded change really took effect: not before the change "
        "recorded before it, not after the one recorded after it (or today in the plan's "
        "time zone for the line's last change)",
        examples=["2019-06-30"],
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        examples=["Completed at the workshop of June 2019; recorded at the 2020 review"]
    )
    expected_version: StrictInt | None = Field(
        default=None, ge=1, description="The line's version; or send `If-Match`"
    )


class ActionLineUpdate(RequestModel):
    """The descriptive fields of a line; the status changes through its own route."""

    code: Code | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)] | None = None
    section_id: uuid.UUID | None = None
    ordering_key: Label | None = None
    leads: list[Label] | None = Field(default=None, max_length=20)
    tags: list[Label] | None = Field(default=None, max_length=20)
    target_date: date | None = None
    weight: StrictFloat | None = Field(default=None, gt=0, le=1000)
    expected_version: StrictInt | None = Field(default=None, ge=1, description="Or send `If-Match`")


class PlanSubmit(RequestModel):
    submitted_to_meeting_id: uuid.UUID | None = Field(
        default=None, description="The meeting the plan is submitted to for approval"
    )


class PlanApprove(RequestModel):
    carry_over_unfinished: StrictBool = Field(
        default=True,
        description="Copy the predecessor's unfinished lines here, keeping lineage both ways",
    )


class JournalEntryRead(ResponseModel):
    id: int
    plan_id: uuid.UUID
    action_line_id: uuid.UUID
    from_status: LineStatus
    to_status: LineStatus
    version: int
    effective_date: date
    actor: str
    note: str | None
    source_kind: str = Field(
        description="`api`, or `meeting_decision` with the decision id as `source_id`"
    )
    source_id: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class HistoryQuery:
    """The query of the history routes: a range of effective dates (both ends included) and
    a page."""

    effective_from: date | None = None
    effective_to: date | None = None
    limit: Limit = 50
    cursor: Cursor = None


class CountingRuleCreate(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        examples=["Weighted, discontinued lines excluded"]
    )
    mode: Literal["count", "weighted"] = "count"
    excluded_statuses: list[LineStatus] = Field(
        default_factory=list, max_length=5, examples=[["discontinued"]]
    )
    is_default: StrictBool = False


class CountingRuleRead(ResponseModel):
    version: int
    name: str
    mode: Literal["count", "weighted"]
    excluded_statuses: list[LineStatus]
    is_default: bool


class FiguresRead(BaseModel):
    """A scope's figures under one counting rule (counts, or weights in weighted mode)."""

    total: float
    counted: float = Field(description="Total minus the statuses the rule excludes")
    by_status: dict[LineStatus, float]
    completed: float
    addressed: float = Field(description="Ongoing + completed")
    completion_rate: float = Field(
        description=f"completed / counted, 0..1, to 4 decimals: {rounding.RULE}",
        examples=[0.9417],
    )
    completion_percent: float = Field(
        description=(
            f"100 * completed / counted, to 1 decimal: {rounding.RULE} "
            "(never from completion_rate: 15 of 19 is 78.9, not 79.0)"
        ),
        examples=[94.2],
    )
    completed_ahead_of_schedule: float = Field(description="Completed before the target date")
    overdue: float = Field(
        description="Past the target date and neither completed nor discontinued"
    )
    health: Literal["on_track", "at_risk", "off_track"] = Field(
        description=(
            "expected = elapsed share of the plan period, rate = completed / counted "
            "unrounded; on_track if rate >= expected - 0.10 and at most 10 % of counted "
            "lines are overdue; "
            "off_track if rate < expected - 0.25 or more than 25 % are overdue; "
            "at_risk otherwise"
        )
    )


class ScopeRollupRead(BaseModel):
    kind: Literal["plan", "section", "tag", "lead"]
    key: str
    title: str | None = None
    code: str | None = None
    depth: int | None = Field(
        default=None, description="For sections: 1 for a pillar, 2 below it, ..."
    )
    figures: FiguresRead


class PlanRollupsRead(BaseModel):
    plan_id: uuid.UUID
    rule: CountingRuleRead
    as_of: date | None = Field(
        description="Null: the current read model; a date: recomputed from the journal"
    )
    computed_from: Literal["read_model", "journal"]
    plan: ScopeRollupRead
    sections: list[ScopeRollupRead]
    tags: list[ScopeRollupRead]
    leads: list[ScopeRollupRead]


class RollupDifferenceRead(BaseModel):
    plan_id: uuid.UUID
    scope: str
    stored: dict[str, Any]
    recounted: dict[str, Any]


class RollupCheckRead(BaseModel):
    plans_checked: int
    consistent: bool
    differences: list[RollupDifferenceRead]
