"""Response models of a meeting's briefing."""

import uuid
from datetime import date, datetime

from pydantic import Field

from shared import rounding
from shared.schemas import ResponseModel


class FiguresRead(ResponseModel):
    total: int = Field(examples=[103])
    by_status: dict[str, int] = Field(examples=[{"completed": 97, "ongoing": 6}])
    completed: int = Field(examples=[97])
    completion_rate: float = Field(
        description=f"Percent, count rule, to 1 decimal: {rounding.RULE}", examples=[94.2]
    )


class PillarFiguresRead(FiguresRead):
    pillar_id: uuid.UUID | None
    pillar: str = Field(examples=["Political-Security Cooperation"])


class PillarChangeRead(ResponseModel):
    pillar_id: uuid.UUID | None
    pillar: str
    completed_since: int
    reopened_since: int


class ChangesRead(ResponseModel):
    previous_meeting_id: uuid.UUID
    since: date
    completed_since: list[str] = Field(description="Codes of the lines completed since")
    reopened_since: list[str] = Field(description="Codes of the lines reopened since")
    per_pillar: list[PillarChangeRead]


class PlanBriefingRead(ResponseModel):
    plan_id: uuid.UUID
    code: str | None
    title: str | None
    status: str | None
    overall: FiguresRead
    per_pillar: list[PillarFiguresRead]
    changes_since_previous_meeting: ChangesRead | None


class PublishedFigureRead(ResponseModel):
    """A figure plans published for this meeting as of its date: its provenance is plans'
    ``GET /figures/{figure_id}``."""

    figure_id: uuid.UUID
    plan_id: uuid.UUID
    scope: str = Field(description="plan, or section:<pillar id>")
    scope_title: str
    as_of: date
    completed: float
    counted: float
    completion_percent: float


class BriefingRead(ResponseModel):
    meeting_id: uuid.UUID
    as_of: date
    frozen: bool = Field(description="True once the meeting concluded: the figures never change")
    frozen_at: datetime | None
    pending_reviews: int = Field(
        description="Status reviews of this meeting plans has not answered yet; a concluded "
        "meeting's briefing is frozen once this is 0"
    )
    plans: list[PlanBriefingRead]
    published_figures: list[PublishedFigureRead] = Field(
        default_factory=list,
        description="The figures plans published for the meeting when it concluded (ids of "
        "their provenance); empty before, and until plans has answered",
    )
