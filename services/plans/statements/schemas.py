"""Request and response bodies of the statement checker."""

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.schemas import RequestModel, ResponseModel

# A statement or a press release is a few thousand characters; the checker's work grows with
# the claims of a sentence and the pillars named in it, so what it takes in is bounded.
MAX_TEXT = 20_000


class StatementCheck(RequestModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)] = Field(
        examples=["As of 15 September 2020, 97 of the 103 action lines (94.2 %) were completed."]
    )
    plan_code: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, description="The plan to compare with; the one the text names if absent"
    )
    as_of: date | None = Field(
        default=None, description="The day to compare as of; the date the text gives if absent"
    )


class ClaimRead(ResponseModel):
    kind: Literal["fraction", "percent", "count"]
    text: str
    start: int = Field(description="Offset of the claim's first character in the text")
    end: int = Field(description="Offset just after its last character")
    verdict: Literal["ok", "inconsistent", "contradicts_record"]
    reasons: list[str]
    checked_against_record: bool
    part: float | None
    whole: float | None
    percent: float | None
    qualifier: str | None
    noun: str | None


class StatementCheckRead(ResponseModel):
    plan_code: str | None = Field(description="The plan compared with, if any")
    as_of: date | None = Field(description="The day compared as of, if any")
    record: str = Field(description="Why the claims were or were not compared with the record")
    claims: list[ClaimRead]
    ok: int
    inconsistent: int
    contradicts_record: int
