"""``python -m services.plans check-statement < text``: the statement checker for a text on
standard input, against the plans database; one line per claim, exit 1 if any is wrong."""

import os
import sys
from datetime import date

from services.plans.config import PlansSettings
from services.plans.statements import views
from shared.db import make_engine, make_session_factory


async def check_statement() -> int:
    text = sys.stdin.read()
    # Standard input carries the text, so the optional plan and day come from the
    # environment: STATEMENT_PLAN_CODE, STATEMENT_AS_OF (YYYY-MM-DD).
    code = os.environ.get("STATEMENT_PLAN_CODE") or None
    as_of = os.environ.get("STATEMENT_AS_OF")
    settings = PlansSettings()
    engine = make_engine(settings.database_url, 2, settings.database_connect_args())
    try:
        async with make_session_factory(engine)() as session:
            result = await views.check_statement(
                session, text, code, date.fromisoformat(as_of) if as_of else None
            )
    finally:
        await engine.dispose()
    print(result.record)
    for claim in result.claims:
        reasons = "; ".join(claim.reasons)
        print(f"{claim.start}-{claim.end}\t{claim.verdict}\t{claim.text!r}\t{reasons}")
    print(
        f"{len(result.claims)} claims: {result.ok} ok, {result.inconsistent} inconsistent, "
        f"{result.contradicts_record} contradict the record"
    )
    return 1 if result.inconsistent or result.contradicts_record else 0
