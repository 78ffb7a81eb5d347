"""The plan document, free of I/O: JSON for a plan with its sections and lines, CSV for the
lines, and the rules across items (unique codes, known parents and sections, no cycles).
Validation runs over the whole document in one pass and reports every problem with where it
is (the CSV line number, or the index in the JSON arrays); nothing is written unless the
whole document is valid."""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import Field, StrictFloat, StringConstraints, ValidationError

from services.plans.domain import LineStatus
from services.plans.schemas import Code, Label, PlanCreate
from shared.schemas import RequestModel

CSV_COLUMNS = (
    "code",
    "section_code",
    "text",
    "leads",
    "tags",
    "target_date",
    "weight",
    "ordering_key",
    "status",
    "status_date",
)
LIST_SEPARATOR = ";"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection:
# =HYPERLINK(...), =cmd|...). The export writes such a cell with a leading single quote,
# which spreadsheets show as text; the import takes that quote off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_LINES = 100_000


class SectionDocument(RequestModel):
    code: Code
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    parent_code: Code | None = None
    ordering_key: Label | None = None


class LineDocument(RequestModel):
    code: Code
    section_code: Code | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    leads: list[Label] = Field(default_factory=list, max_length=20)
    tags: list[Label] = Field(default_factory=list, max_length=20)
    target_date: date | None = None
    weight: StrictFloat = Field(default=1.0, gt=0, le=1000)
    ordering_key: Label | None = None
    status: LineStatus = LineStatus.NOT_STARTED
    status_date: date | None = Field(default=None, description="When the status took effect")


class PlanDocument(RequestModel):
    """A whole plan, as exported and as imported."""

    plan: PlanCreate
    sections: list[SectionDocument] = Field(default_factory=list, max_length=10_000)
    action_lines: list[LineDocument] = Field(default_factory=list, max_length=MAX_LINES)


@dataclass(frozen=True)
class Fault:
    """One problem of a document: where it is, and what is wrong."""

    field: str
    message: str


@dataclass
class Problems:
    """Every problem found in a document, in document order."""

    items: list[Fault]

    def add(self, where: str, message: str) -> None:
        self.items.append(Fault(field=where, message=message))


def check_structure(
    sections: list[SectionDocument],
    lines: Iterable[tuple[str, LineDocument]],
    problems: Problems,
    *,
    known_sections: set[str] | None = None,
    known_lines: set[str] | None = None,
) -> None:
    """Cross-item rules: unique codes, known parents and sections, no cycles."""
    section_codes = set(known_sections or ())
    for index, section in enumerate(sections):
        if section.code in section_codes:
            problems.add(f"sections[{index}].code", f"section code {section.code!r} is used twice")
        section_codes.add(section.code)
    parents = {s.code: s.parent_code for s in sections}
    for index, section in enumerate(sections):
        if section.parent_code is not None and section.parent_code not in section_codes:
            problems.add(
                f"sections[{index}].parent_code", f"no section has code {section.parent_code!r}"
            )
        elif _in_cycle(section.code, parents):
            problems.add(
                f"sections[{index}].parent_code", f"section {section.code!r} is its own ancestor"
            )
    line_codes = set(known_lines or ())
    for where, line in lines:
        if line.code in line_codes:
            problems.add(f"{where}.code", f"action line code {line.code!r} is used twice")
        line_codes.add(line.code)
        if line.section_code is not None and line.section_code not in section_codes:
            problems.add(f"{where}.section_code", f"no section has code {line.section_code!r}")


def _in_cycle(code: str, parents: dict[str, str | None]) -> bool:
    seen = {code}
    current = parents.get(code)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def parse_csv(text: str, problems: Problems) -> list[tuple[int, LineDocument]]:
    """Lines of a CSV document with their line numbers (the header is line 1)."""
    # newline="": the csv module reads line ends itself (a lone CR too), as its docs ask.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _parse_rows(reader, problems)
    except csv.Error as exc:
        # What the csv module cannot read at all (a field over its size limit): the
        # document is refused, naming the line after the last one read.
        problems.add(f"csv.line {reader.line_num + 1}", f"not readable as CSV: {exc}")
        return []


def _parse_rows(
    reader: "csv.DictReader[str]", problems: Problems
) -> list[tuple[int, LineDocument]]:
    missing = {"code", "text"} - set(reader.fieldnames or ())
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if missing or unknown:
        parts = [f"missing columns: {', '.join(sorted(missing))}"] if missing else []
        parts += [f"unknown columns: {', '.join(sorted(unknown))}"] if unknown else []
        problems.add("csv.line 1", "; ".join(parts) + f" (columns: {', '.join(CSV_COLUMNS)})")
        return []
    parsed: list[tuple[int, LineDocument]] = []
    for row in reader:
        number = reader.line_num
        if len(parsed) >= MAX_LINES:
            problems.add(f"csv.line {number}", f"more than {MAX_LINES} lines")
            break
        if None in row:
            problems.add(f"csv.line {number}", "more values than columns")
            continue
        try:
            # CSV has only text: numbers and dates are read from it (lax), unlike JSON bodies.
            line = LineDocument.model_validate(_csv_values(row), strict=False)
            parsed.append((number, line))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"])
                problems.add(f"csv.line {number}.{field}", error["msg"])
    return parsed


def _csv_values(row: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {k: _as_written(v) for k, v in row.items() if v not in ("", None)}
    for name in ("leads", "tags"):
        if name in values:
            values[name] = [
                item.strip() for item in values[name].split(LIST_SEPARATOR) if item.strip()
            ]
    return values


def to_csv(lines: Iterable[LineDocument]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in lines:
        row = line.model_dump(mode="json")
        row["leads"] = LIST_SEPARATOR.join(line.leads)
        row["tags"] = LIST_SEPARATOR.join(line.tags)
        writer.writerow({k: "" if v is None else _spreadsheet_safe(v) for k, v in row.items()})
    return out.getvalue()


def _spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _as_written(cell: str) -> str:
    """A cell as it was before ``_spreadsheet_safe``."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell
