"""HTTP request and response models of the plans service."""

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, computed_field, model_validator

from services.plans.domain import IATI_ACTIVITY_STATUS, LineStatus, PlanStatus
from shared.schemas import RequestModel, ResponseModel

Code = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]


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

    @model_validator(mode="after")
    def _period_is_ordered(self) -> "PlanCreate":
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class PlanRead(ResponseModel):
    id: uuid.UUID
    code: str
    title: str
    partners: list[str]
    period_start: date
    period_end: date
    status: PlanStatus
    predecessor_id: uuid.UUID | None
    version: int
    created_at: datetime


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
    weight: float = Field(default=1.0, gt=0, le=1000)


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
    updated_at: datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="The IATI ActivityStatus code of the status (1, 2, 4, 5 or 6)"
    )
    @property
    def iati_activity_status(self) -> int:
        return IATI_ACTIVITY_STATUS[self.status]


class StatusChangeRequest(RequestModel):
    status: LineStatus = Field(examples=["completed"])
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description='The version the change is based on; or send it as `If-Match: "<version>"`',
    )
    effective_date: date | None = Field(
        default=None, description="When it took effect; today by default"
    )
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
