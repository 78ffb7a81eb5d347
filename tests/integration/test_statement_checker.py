"""The statement checker against the real stack: claims compared with a plan's figures as of
the date the text gives, read from the journal by the plans service (API and CLI)."""

import asyncio
import os
import sys
import uuid

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.stack import REPO, Services

pytestmark = pytest.mark.integration


async def _complete(http: httpx.AsyncClient, plans: str, h: dict, line: dict, day: str) -> None:
    response = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": "completed", "effective_date": day, "expected_version": line["version"]},
        headers=h,
    )
    assert response.status_code == 200, response.text


async def _check(http: httpx.AsyncClient, plans: str, h: dict, **body: object) -> dict:
    response = await http.post(f"{plans}/statements/check", json=body, headers=h)
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


async def test_claims_are_compared_with_the_plan_as_of_the_date_the_text_gives(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, h = services.url("plans"), secretariat_headers
    code = f"CHK-{uuid.uuid4().hex[:6]}"
    # A number in the title (CI drew an all-digit suffix) must not change what is paired.
    title = f"Checker Plan 2020 {code[4:]}"
    plan = await create_plan(http, plans, h, code=code, title=title)
    security = await add_section(http, plans, h, plan["id"], title="Political-Security Cooperation")
    economy = await add_section(http, plans, h, plan["id"], title="Economic Cooperation")
    a = [
        await add_action_line(http, plans, h, plan["id"], section_id=security["id"]) for _ in "123"
    ]
    b = [await add_action_line(http, plans, h, plan["id"], section_id=economy["id"]) for _ in "12"]
    await _complete(http, plans, h, a[0], "2019-03-01")
    await _complete(http, plans, h, b[0], "2019-06-01")
    await _complete(http, plans, h, a[1], "2020-05-01")
    # As of 2019-12-31: 2 of 5 completed (40 %), 1 of 3 in Political-Security. As of
    # 2020-09-15: 3 of 5 (60 %), 2 of 3.

    right = await _check(
        http, plans, h,
        text=f"As of 31 December 2019, 2 of the 5 action lines of {code} (40 %) had been completed.",
    )  # fmt: skip
    assert (right["plan_code"], right["as_of"]) == (code, "2019-12-31")
    [claim] = right["claims"]
    assert claim["verdict"] == "ok" and claim["checked_against_record"], claim
    assert (claim["part"], claim["whole"], claim["percent"]) == (2, 5, 40)

    text = f"As of 31 December 2019, 3 of the 5 action lines of {code} had been completed."
    stale = await _check(http, plans, h, text=text)
    [claim] = stale["claims"]
    assert claim["verdict"] == "contradicts_record"
    assert "2 of 5 lines completed (40.0 %)" in claim["reasons"][0], claim
    assert text[claim["start"] : claim["end"]] == "3 of the 5 action lines"

    later = await _check(
        http, plans, h,
        text=f"On 15 September 2020, 3 of the 5 action lines of the {title} (60 %) have been "
        "completed; 2 of the 3 lines of Political-Security Cooperation were completed, and "
        "nearly 100 % of Economic Cooperation.",
    )  # fmt: skip
    # The last claim is about the pillar named nearest it: 1 of 2 economic lines, not nearly all.
    verdicts = [c["verdict"] for c in later["claims"]]
    assert verdicts == ["ok", "ok", "contradicts_record"], later
    assert "(Economic Cooperation) has 1 of 2 lines completed" in later["claims"][2]["reasons"][0]

    # The plan and the day may come with the request instead.
    share = "About 40 % of the lines were completed."
    as_then = await _check(http, plans, h, text=share, plan_code=code, as_of="2019-12-31")
    as_now = await _check(http, plans, h, text=share, plan_code=code, as_of="2020-09-15")
    assert as_then["claims"][0]["verdict"] == "ok"
    assert as_now["claims"][0]["verdict"] == "contradicts_record"
    unnamed = await _check(http, plans, h, text="97 of 103 lines (95 %) were completed.")
    assert unnamed["plan_code"] is None and unnamed["claims"][0]["verdict"] == "inconsistent"

    # The command line reads the text on standard input and exits 1 on a wrong claim.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.plans", "check-statement",
        cwd=REPO,
        env={**os.environ, **services.environment("plans")},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate(text.encode())
    assert process.returncode == 1, output.decode()
    assert "contradicts_record\t'3 of the 5 action lines'" in output.decode()


async def test_bad_checker_requests_are_problems(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, h = services.url("plans"), secretariat_headers
    for body, field in [
        ({"text": "3 of 5", "plan_code": f"NONE-{uuid.uuid4().hex[:6]}"}, "body.plan_code"),
        ({"text": ""}, "body.text"),
        ({"text": "3 of 5", "as_of": "someday"}, "body.as_of"),
    ]:
        response = await http.post(f"{plans}/statements/check", json=body, headers=h)
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]
