"""Request and response models of the import routes (the document itself is in
``documents``)."""

from typing import Any

from pydantic import BaseModel, Field

from services.plans.schemas import PlanRead


class ImportResult(BaseModel):
    plan: PlanRead
    sections_imported: int
    action_lines_imported: int


class PlanImport(BaseModel):
    """A plan document (see `PlanDocument` in the export). Items are checked one by one, so
    that every problem of the document is reported at once, each with its index."""

    plan: dict[str, Any]
    sections: list[dict[str, Any]] = Field(default_factory=list)
    action_lines: list[dict[str, Any]] = Field(default_factory=list)
