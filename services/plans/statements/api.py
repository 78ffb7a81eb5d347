"""Route of the statement checker."""

from fastapi import APIRouter, Request

from services.plans.statements import views
from services.plans.statements.schemas import StatementCheck, StatementCheckRead
from shared.auth import AnyPrincipal
from shared.http import read_only

router = APIRouter(tags=["statements"])


@router.post("/statements/check", response_model=StatementCheckRead)
async def check_statement(
    body: StatementCheck, request: Request, principal: AnyPrincipal
) -> StatementCheckRead:
    """Find the figure claims of a text ("97 of 103", "97 out of the 103 action lines
    (94.2 %)", "about 94 percent", "ninety-seven lines", "ten member states"), check each for
    internal consistency (a percentage against its fraction, with the tolerances of
    "about", "nearly", "over", "under": docs/decisions/0033) and, when the text (or the
    request) names a plan and a date, against the plan's figures as of that date. Each claim
    comes with its span in the text (`start`, `end`) and `ok`, `inconsistent` or
    `contradicts_record`, with the reasons. Also: `python -m services.plans check-statement`."""
    async with read_only(request) as session:
        return await views.check_statement(session, body.text, body.plan_code, body.as_of)
