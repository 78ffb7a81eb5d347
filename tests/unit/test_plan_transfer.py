import csv
import io

from services.plans.transfer.documents import (
    FORMULA_STARTS,
    LineDocument,
    Problems,
    SectionDocument,
    check_structure,
    parse_csv,
    to_csv,
)


def test_every_csv_problem_is_reported_with_its_line_number_in_one_pass() -> None:
    text = (
        "code,section_code,text,tags,target_date,weight,status\n"
        "1.1,1,Workshop on peacekeeping,peacekeeping;gender,2020-12-31,1,completed\n"
        "1.2,1,,,,1,\n"  # line 3: no text
        "1.3,9,Exchange of experts,,2020-13-01,-2,finished\n"  # line 4: date, weight, status; section 9
        "1.1,1,Duplicate code,,,,\n"  # line 5
    )
    problems = Problems([])
    parsed = parse_csv(text, problems)
    check_structure(
        [], [(f"csv.line {n}", line) for n, line in parsed], problems, known_sections={"1"}
    )
    fields = [p.field for p in problems.items]
    assert fields == [
        "csv.line 3.text",
        "csv.line 4.target_date",
        "csv.line 4.weight",
        "csv.line 4.status",
        "csv.line 5.code",
    ]
    assert [n for n, _ in parsed] == [2, 5]
    assert parsed[0][1].tags == ["peacekeeping", "gender"]


def test_a_csv_without_the_required_columns_is_refused_naming_them() -> None:
    problems = Problems([])
    assert parse_csv("code,title\n1,x\n", problems) == []
    assert problems.items[0].field == "csv.line 1"
    assert "missing columns: text" in problems.items[0].message
    assert "unknown columns: title" in problems.items[0].message


def test_sections_must_have_known_parents_and_no_cycles() -> None:
    sections = [
        SectionDocument(code="1", title="Pillar"),
        SectionDocument(code="1.1", title="Area", parent_code="1"),
        SectionDocument(code="a", title="A", parent_code="b"),
        SectionDocument(code="b", title="B", parent_code="a"),
        SectionDocument(code="x", title="X", parent_code="missing"),
    ]
    problems = Problems([])
    check_structure(sections, [], problems)
    assert [(p.field, p.message) for p in problems.items] == [
        ("sections[2].parent_code", "section 'a' is its own ancestor"),
        ("sections[3].parent_code", "section 'b' is its own ancestor"),
        ("sections[4].parent_code", "no section has code 'missing'"),
    ]


def test_csv_export_round_trips_through_the_import_parser() -> None:
    lines = [
        LineDocument(
            code="2.3(a)",
            section_code="2",
            text='Text with "quotes", commas',
            tags=["a", "b"],
            weight=2,
        ),
        LineDocument(code="1.2.3", text="Plain", status="completed", status_date="2020-09-15"),
    ]
    problems = Problems([])
    parsed = parse_csv(to_csv(lines), problems)
    assert problems.items == []
    assert [line for _, line in parsed] == lines


def test_csv_export_writes_no_cell_a_spreadsheet_would_run_as_a_formula() -> None:
    """Found by the probe: a line's text `=HYPERLINK(...)` was exported as is, and a
    spreadsheet opening the export runs it. Such cells start with a single quote; the import
    reads them back as they were."""
    dangerous = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rReturn"]
    lines = [
        LineDocument(code=f"L{i}", text=text, leads=[text], tags=["ok", text])
        for i, text in enumerate(dangerous)
    ]
    lines.append(LineDocument(code="=1", ordering_key="-1", text="fine"))
    exported = to_csv(lines)
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert '\'=HYPERLINK("http://x")' in cells
    problems = Problems([])
    assert [line for _, line in parse_csv(exported, problems)] == lines
    assert problems.items == []


def test_csv_the_csv_module_cannot_read_is_a_problem_not_an_error() -> None:
    """Found by the stateful fuzzing: a carriage return alone in an unquoted field, and a
    field over the csv module's size limit, raised csv.Error: a 500."""
    problems = Problems([])
    parsed = parse_csv("code,text\r\n1.1,Work\rshop\r\n", problems)  # a CR ends a line
    assert [line.code for _, line in parsed] == ["1.1"]
    assert [p.field for p in problems.items] == ["csv.line 3.text"]

    problems = Problems([])
    assert parse_csv("code,text\n1.1," + "x" * 200_000 + "\n", problems) == []
    assert [p.field for p in problems.items] == ["csv.line 2"]
    assert "not readable as CSV" in problems.items[0].message
