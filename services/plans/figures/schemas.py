"""Request and response bodies of published figures."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from shared.schemas import MAX_INTEGER, RequestModel, ResponseModel


class FigurePublish(RequestModel):
    plan_id: uuid.UUID
    scope: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        default="plan",
        description="`plan`, `section:<id>` (everything below it), `tag:<tag>` or `lead:<code>`",
        examples=["plan"],
    )
    rule_version: Annotated[StrictInt, Field(ge=1, le=MAX_INTEGER)] | None = Field(
        default=None, description="The counting rule's version; the default rule when absent"
    )
    as_of: date = Field(description="Each line's status as of the end of this day")


class FigureValueRead(ResponseModel):
    total: float
    counted: float
    completed: float
    completion_percent: float


class FigureLinks(ResponseModel):
    self: str
    rederive: str


class FigureRead(ResponseModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_code: str
    scope: str
    scope_title: str
    rule_version: int
    as_of: date
    journal_position: int = Field(description="The plan's last status_journal id it counted")
    correction_position: int = Field(description="The plan's last journal_corrections id")
    value: FigureValueRead
    in_words: str = Field(examples=["97 of the 103 action lines (94.2 %)"])
    published_at: datetime
    links: FigureLinks


class LaterEventRead(ResponseModel):
    kind: Literal["status_change", "history_correction", "line_added"]
    id: str
    action_line_id: str
    code: str
    detail: str


class RederivationRead(ResponseModel):
    figure_id: uuid.UUID
    same: bool
    published: FigureValueRead
    now: FigureValueRead
    journal_position_now: int
    correction_position_now: int
    later_events: list[LaterEventRead] = Field(
        description="Every event recorded after the figure was published that can change it: "
        "a status change effective by its as-of day, a correction of history moving an entry "
        "across that day, a line added to what it counts"
    )
    explanation: str
