"""Request and response bodies of statement drafts."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.schemas import RequestModel, ResponseModel

DraftKind = Literal["statement", "press_release"]


class DraftCreate(RequestModel):
    kind: DraftKind = "statement"


class DraftEdit(RequestModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=50_000)] = Field(
        description="The edited text; write [[F1]] where figure F1 goes"
    )


class DraftFigureRead(ResponseModel):
    key: str = Field(examples=["F1"], description="Its marker in the text: [[F1]]")
    words: str = Field(examples=["97 of the 103 action lines (94.2 %)"])
    plan_id: uuid.UUID
    scope: str = Field(description="plan, or section:<pillar id>")
    title: str
    completed: int
    counted: int
    completion_percent: float
    as_of: date
    figure_id: uuid.UUID | None = Field(
        description="The figure plans published for this meeting (its provenance), once "
        "plans has answered the meeting's conclusion; null until then"
    )
    provenance: str | None = Field(
        description="Where plans answers it: GET /figures/{figure_id} on the plans service"
    )
    matches_published: bool | None = Field(
        description="Whether the published figure has the snapshot's value (null: not yet)"
    )


class DraftRead(ResponseModel):
    meeting_id: uuid.UUID
    kind: DraftKind
    version: int
    text: str = Field(description="The editable text, a [[Fn]] marker for each figure")
    rendered_text: str = Field(description="The text with each figure in words")
    rendered_html: str = Field(description="The same, each figure a link to its provenance")
    figures: list[DraftFigureRead]
    created_at: datetime
    updated_at: datetime
