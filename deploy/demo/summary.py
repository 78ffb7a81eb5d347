"""The demo's summary, read back through the public APIs and the demo receiver."""

from typing import Any

from deploy.demo import cast, expected
from deploy.demo import plan_2016_2020 as plan
from deploy.demo.client import Api, DemoError
from deploy.demo.story import find_meeting, find_plan, receiver_counts


async def gather(api: Api) -> dict[str, Any]:
    old = await find_plan(api, plan.CODE)
    new = await find_plan(api, cast.PLAN_2021_CODE)
    if old is None or new is None:
        raise DemoError("the demo is not loaded: run `python -m deploy.demo load`")
    rollups = await api.get(f"{api.target.plans}/plans/{old['id']}/rollups")
    new_lines = await api.all(f"{api.target.plans}/plans/{new['id']}/action-lines")
    meetings = []
    for spec in (cast.CPR, cast.MINISTERIAL_MEETING):
        found = await find_meeting(api, spec)
        decisions = (
            await api.all(f"{api.target.meetings}/meetings/{found['id']}/decisions")
            if found
            else []
        )
        meetings.append((spec, found, len(decisions)))
    cpr = meetings[0][1]
    statement = (
        await api.get(
            f"{api.target.meetings}/meetings/{cpr['id']}/statement-drafts/statement",
            expect=(200, 404),
        )
        if cpr
        else None
    )
    return {
        "briefing_page": briefing_page(api, cpr["id"]) if cpr else None,
        "old": old,
        "new": new,
        "rollups": rollups,
        "new_lines": len(new_lines),
        "carried_over": sum(1 for line in new_lines if line["carried_over_from"]),
        "meetings": meetings,
        "statement": statement if statement and "figures" in statement else None,
        "webhooks": await receiver_counts(api),
        "emails": {
            code: len(
                await api.all(
                    f"{api.target.notifications}/emails",
                    params={"delegation": code, "status": "succeeded"},
                )
            )
            for code in cast.CONTACTS
        },
        "failed": len(
            (await api.get(f"{api.target.notifications}/deliveries", params={"status": "failed"}))[
                "items"
            ]
        ),
    }


def briefing_page(api: Api, meeting_id: str) -> str:
    """The meeting's briefing page (shared/pages: sign in there with a token)."""
    return f"{api.target.meetings}/pages/meetings/{meeting_id}"


def _figures(f: dict[str, Any]) -> str:
    done, total, ahead = int(f["completed"]), int(f["total"]), int(f["completed_ahead_of_schedule"])
    return f"{done:>3}/{total:<3} {f['completion_percent']:5.1f} %   {ahead:>3}"


def render(facts: dict[str, Any]) -> str:
    old, new, rollups = facts["old"], facts["new"], facts["rollups"]
    overall = rollups["plan"]["figures"]
    out = [
        f"{old['title']} ({old['status']})",
        f"  {int(overall['completed'])} of {int(overall['total'])} action lines completed "
        f"({overall['completion_percent']:.1f} %), "
        f"{int(overall['completed_ahead_of_schedule'])} of them ahead of schedule",
        f"  {'pillar':<58} {'completed':>13}   ahead",
    ]
    for section in rollups["sections"]:
        if section["depth"] == 1:
            name = f"{section['code']} {section['title']}"[:58]
            out.append(f"  {name:<58} {_figures(section['figures'])}")
    out.append(f"  {'all':<58} {_figures(overall)}")
    out.append("")
    out.append("Meetings")
    for spec, found, decisions in facts["meetings"]:
        state = found["status"] if found else "missing"
        out.append(f"  {spec.series}, {spec.starts_at[:10]}: {state}, {decisions} decisions")
    if facts["briefing_page"]:
        out.append(f"  briefing page of the CPR-UN meeting: {facts['briefing_page']}")
        out.append(
            "    (sign in with a token: .venv/bin/python -m deploy.demo token --role viewer)"
        )
    out.append("")
    out.append(
        f"{new['title']}: {new['status']}, {facts['new_lines']} action lines "
        f"({facts['carried_over']} carried over from {plan.PERIOD[0].year}-{plan.PERIOD[1].year})"
    )
    out.append("")
    if facts["statement"]:
        out.append("Statement of the CPR-UN meeting (draft; figures link to GET /figures/{id})")
        text = facts["statement"]["rendered_text"].splitlines()
        out.extend(f"  {line}" for line in text if "have been completed" in line)
        for f in facts["statement"]["figures"]:
            out.append(f"  [{f['key']}] {f['words']} -> plans {f['provenance']}")
        out.append("")
    out.append("Webhooks received and verified by each delegation's system (expected)")
    wanted, got = expected.expected_counts(), facts["webhooks"]
    cells = [f"{code:<5}{got.get(code, 0):>4} ({n})" for code, n in wanted.items()]
    out.extend("  " + "   ".join(cells[i : i + 4]) for i in range(0, len(cells), 4))
    out.append("")
    out.append("Emails accepted by the mail server for each delegation's contacts")
    out.append("  " + "   ".join(f"{code:<5}{n:>4}" for code, n in facts["emails"].items()))
    if facts["failed"]:
        out.append(f"  {facts['failed']} deliveries failed: see GET /deliveries?status=failed")
    return "\n".join(out)
