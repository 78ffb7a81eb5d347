"""Who takes part in the demo story and what they follow; the two meetings and what they
decide. Plain data: ``story`` plays it through the APIs, ``expected`` derives from it which
webhooks each delegation must receive.
"""

from dataclasses import dataclass, field
from datetime import date

from deploy.demo import plan_2016_2020 as plan

# The ten ASEAN member states of 2020 (Timor-Leste joined on 2025-10-26), the UN and the
# ASEAN Secretariat. The notifications service registers them in its reference data; the
# demo registers any that are missing.
DELEGATIONS = {
    "BRN": ("Brunei Darussalam", "Asia/Brunei"),
    "KHM": ("Cambodia", "Asia/Phnom_Penh"),
    "IDN": ("Indonesia", "Asia/Jakarta"),
    "LAO": ("Lao PDR", "Asia/Vientiane"),
    "MYS": ("Malaysia", "Asia/Kuala_Lumpur"),
    "MMR": ("Myanmar", "Asia/Yangon"),
    "PHL": ("Philippines", "Asia/Manila"),
    "SGP": ("Singapore", "Asia/Singapore"),
    "THA": ("Thailand", "Asia/Bangkok"),
    "VNM": ("Viet Nam", "Asia/Ho_Chi_Minh"),
    "UN": ("United Nations", "America/New_York"),
    "ASEC": ("ASEAN Secretariat", "Asia/Jakarta"),
}

CPR_SERIES = "ASEAN-UN CPR meeting"
MINISTERIAL_SERIES = "ASEAN-UN Ministerial Meeting"
STATUS_CHANGES = ["action_line.status_changed"]
PLAN_LIFECYCLE = ["org.accord.plans.plan.*"]
DECISIONS = ["decision.adopted"]


@dataclass(frozen=True)
class Follow:
    """One subscription. ``key`` is a tag, a meeting series, a section code of the plan
    2016-2020, or "plan" for that plan itself."""

    kind: str
    key: str
    event_types: tuple[str, ...]
    statuses: tuple[str, ...] = ()
    # Where it is told; empty: the service's default (webhook, inbox, stream).
    channels: tuple[str, ...] = ()
    # ``immediate``, or held for a digest (``daily_digest``).
    cadence: str = "immediate"


# The default channels, and email: the delegation's contacts are told too.
WITH_EMAIL = ("webhook", "inbox", "stream", "email")


def _tag(tag: str) -> Follow:
    return Follow("tag", tag, tuple(STATUS_CHANGES))


def _section(code: str, *statuses: str) -> Follow:
    return Follow("section", code, tuple(STATUS_CHANGES), statuses)


# Everyone follows the decisions of both meeting series; on top of that each follows what
# concerns it. Some follows overlap on purpose (UN, PHL): a delegation is told once.
EVERYONE = (
    Follow("meeting_series", CPR_SERIES, tuple(DECISIONS), channels=WITH_EMAIL),
    Follow("meeting_series", MINISTERIAL_SERIES, tuple(DECISIONS), channels=WITH_EMAIL),
)
FOLLOWS: dict[str, tuple[Follow, ...]] = {
    # ASEAN Chair 2020: the whole plan, every status change and its lifecycle.
    "VNM": (Follow("plan", "plan", tuple(STATUS_CHANGES + PLAN_LIFECYCLE)),),
    "MMR": (Follow("tag", "humanitarian", tuple(STATUS_CHANGES), channels=WITH_EMAIL),),
    "UN": (
        _tag("peacekeeping"),
        _section("1", "completed"),
        # Its desk reads the humanitarian lines' changes once a day, in a digest by email.
        Follow("tag", "humanitarian", tuple(STATUS_CHANGES), (), ("email",), "daily_digest"),
    ),
    "ASEC": (_section("4.3"), Follow("plan", "plan", tuple(PLAN_LIFECYCLE))),
    "IDN": (_tag("natural-disasters"),),
    "PHL": (_tag("natural-disasters"), _tag("humanitarian")),
    "THA": (_tag("cross-border-crime"),),
    "MYS": (_tag("counter-terrorism"),),
    "SGP": (_tag("cyber-security"),),
    "KHM": (_section("4.1"),),
    "LAO": (_section("4.2"),),
    "BRN": (_tag("economic-integration"),),
}


def follows_of(code: str) -> tuple[Follow, ...]:
    return EVERYONE + FOLLOWS.get(code, ())


# The local hour a delegation's daily digest goes out from. 0 (from midnight in its zone) so
# that the demo's digest goes out while the story plays, at whatever hour it is played: its
# first round after the first held change sends it, and what is held later waits for the
# next local day.
DIGEST_HOURS = {"UN": 0}


def digest_follows(code: str) -> tuple[Follow, ...]:
    """The delegation's follows held for a daily digest by email."""
    return tuple(
        f for f in follows_of(code) if f.cadence == "daily_digest" and "email" in f.channels
    )


# --- rotating roles --------------------------------------------------------------------------

ASEAN_CHAIR = "ASEAN Chair"
# Who chaired ASEAN each calendar year.
ASEAN_CHAIRS = {
    2016: "LAO",
    2017: "PHL",
    2018: "SGP",
    2019: "THA",
    2020: "VNM",
    2021: "BRN",
    2022: "KHM",
    2023: "IDN",
    2024: "LAO",
    2025: "MYS",
    2026: "PHL",
}
# Subscriptions of the secretariat addressed to a role, resolved on each event's date, told
# in the inbox only (the webhooks each delegation receives stay those of its own follows):
# the CPR meetings' notices to that meeting's co-chairs, and the plan's completions to the
# ASEAN Chair of the year each took effect.
ROLE_FOLLOWS = (
    ("co-chairs", Follow("meeting_series", CPR_SERIES, ())),
    (ASEAN_CHAIR, Follow("plan", "plan", tuple(STATUS_CHANGES), ("completed",))),
)


@dataclass(frozen=True)
class Contact:
    """A person of a delegation told by email (addresses under example domains: the local
    stack's Mailpit keeps every message, nothing leaves the machine)."""

    name: str
    address: str
    role: str
    language: str = "en"
    # The notices the person wants (empty: every one the delegation gets by email).
    event_types: tuple[str, ...] = ()


# Who reads the meeting notices: Viet Nam's ambassador and desk officer (in Hanoi's time),
# the UN's desk officer (in New York's) and Myanmar's desk officer, who also gets its
# humanitarian lines. Technical contacts want no notices: they hear of failing endpoints.
CONTACTS: dict[str, tuple[Contact, ...]] = {
    "VNM": (
        Contact("Nguyen Thi Lan", "lan.nguyen@vnm.mission.example", "ambassador", "vi"),
        Contact("Tran Van Minh", "minh.tran@vnm.mission.example", "desk_officer"),
        Contact(
            "Le Hoang Nam",
            "systems@vnm.mission.example",
            "technical",
            event_types=("org.accord.notifications.*",),
        ),
    ),
    "UN": (Contact("Amina Diallo", "asean.desk@un.example", "desk_officer"),),
    "MMR": (Contact("Aung Kyaw", "aung.kyaw@mmr.mission.example", "desk_officer"),),
}


# --- meetings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    title: str
    body: dict[str, object]
    agenda: int | None = None  # position of the agenda item it belongs to


@dataclass(frozen=True)
class MeetingSpec:
    series: str
    title: str
    level: str
    starts_at: str
    ends_at: str
    co_chairs: tuple[tuple[str, str, str], ...]  # name, title, delegation
    agenda: tuple[str, ...]
    place: str = "Videoconference"
    format: str = "virtual"
    timezone: str = "Asia/Jakarta"
    participants: tuple[str, ...] = tuple(DELEGATIONS)
    decisions: tuple[Decision, ...] = field(default=())

    def attendance(self) -> list[dict[str, str]]:
        """The attendance the meeting records as it concludes: every participant attended
        (the demo's meetings were virtual, and everyone joined)."""
        return [{"delegation": code, "attendance": "present"} for code in self.participants]

    def create_body(self, plans_under_review: list[str]) -> dict[str, object]:
        return {
            "series": self.series,
            "title": self.title,
            "level": self.level,
            "format": self.format,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "timezone": self.timezone,
            "place": self.place,
            "participants": list(self.participants),
            "co_chairs": [{"name": n, "title": t, "delegation": d} for n, t, d in self.co_chairs],
            "plans_under_review": plans_under_review,
            "agenda": [{"title": title} for title in self.agenda],
        }


# Placeholders the story replaces with ids once the plans and meetings exist.
PLAN_2016 = "{plan_2016_2020}"
PLAN_2021 = "{plan_2021_2025}"
MINISTERIAL = "{ministerial}"


def _reviewed(line: plan.Line) -> dict[str, str]:
    reviewed = {"code": line.code, "status": line.review_status}
    if line.completed_on is not None:
        reviewed["effective_date"] = line.completed_on.isoformat()
    return reviewed


CPR = MeetingSpec(
    series=CPR_SERIES,
    title="Annual meeting of the ASEAN CPR with UN officials, 2020",
    level="Permanent Representatives",
    starts_at="2020-09-15T14:00:00+07:00",
    ends_at="2020-09-15T16:30:00+07:00",
    place="Videoconference, hosted from Jakarta",
    co_chairs=(
        (
            "Tran Duc Binh",
            "Ambassador, Head of the Mission of Viet Nam to ASEAN",
            "VNM",
        ),
        (
            "Khaled Khiari",
            "UN Assistant Secretary-General for Political and Peacebuilding Affairs",
            "UN",
        ),
    ),
    agenda=(
        "Review of the implementation of the ASEAN-UN Plan of Action 2016-2020",
        "Cooperation against the COVID-19 pandemic and the recovery framework",
        "The draft ASEAN-UN Plan of Action 2021-2025",
        "UN support to ASEAN capacity building",
    ),
    decisions=(
        Decision(
            "Review of the ASEAN-UN Plan of Action 2016-2020",
            {
                "kind": "status_review",
                "plan_id": PLAN_2016,
                "effective_date": plan.REVIEW_DATE.isoformat(),
                # Each completed line with its completion date; the ongoing ones as of the review.
                "lines": [_reviewed(line) for line in plan.LINES],
            },
            agenda=1,
        ),
        Decision(
            "Advance the ASEAN-UN comprehensive partnership",
            {
                "kind": "statement",
                "text": "ASEAN and the UN agreed to advance their comprehensive partnership "
                "and to coordinate closely in completing the Plan of Action 2016-2020.",
            },
            agenda=1,
        ),
        Decision(
            "Submit the draft Plan of Action 2021-2025 to the ASEAN-UN Ministerial Meeting",
            {
                "kind": "plan_submission",
                "plan_id": PLAN_2021,
                "submitted_to_meeting_id": MINISTERIAL,
            },
            agenda=3,
        ),
        Decision(
            "UN experts for counter-terrorism and cross-border crime",
            {
                "kind": "commitment",
                "party": "UN",
                "text": "The UN will continue to send experts to help ASEAN build its capacity "
                "against terrorism and cross-border crime.",
                "tags": ["counter-terrorism", "cross-border-crime"],
                "due_date": "2021-12-31",
            },
            agenda=4,
        ),
        Decision(
            "UN experts for cyber security, human rights and women's empowerment",
            {
                "kind": "commitment",
                "party": "UN",
                "text": "The UN will send experts on cyber security, human rights, women's "
                "empowerment, economic integration, energy security, food, forest "
                "protection and support to micro, small and medium-sized enterprises.",
                "tags": ["cyber-security", "human-rights", "gender-equality"],
                "due_date": "2021-12-31",
            },
            agenda=4,
        ),
        Decision(
            "UN support to COVID-19 recovery and to refugees in Rakhine State",
            {
                "kind": "commitment",
                "party": "UN",
                "text": "The UN will support the ASEAN Comprehensive Recovery Framework and "
                "assistance to refugees in Myanmar's Rakhine State.",
                "tags": ["health", "humanitarian"],
                "due_date": "2021-06-30",
            },
            agenda=2,
        ),
    ),
)

MINISTERIAL_MEETING = MeetingSpec(
    series=MINISTERIAL_SERIES,
    title="ASEAN-UN Ministerial Meeting, 2020",
    level="Ministerial",
    # The day is the demo's choice; the article only says "in October".
    starts_at="2020-10-21T19:00:00+07:00",
    ends_at="2020-10-21T21:00:00+07:00",
    place="Videoconference, hosted from Ha Noi",
    timezone="Asia/Ho_Chi_Minh",
    co_chairs=(
        (
            "Pham Binh Minh",
            "Deputy Prime Minister and Minister of Foreign Affairs of Viet Nam, ASEAN Chair",
            "VNM",
        ),
        ("Antonio Guterres", "Secretary-General of the United Nations", "UN"),
    ),
    agenda=("Approval of the ASEAN-UN Plan of Action 2021-2025",),
    decisions=(
        Decision(
            "Approval of the ASEAN-UN Plan of Action 2021-2025",
            {
                "kind": "plan_approval",
                "plan_id": PLAN_2021,
                "carry_over_unfinished": True,
                "activate": True,
            },
            agenda=1,
        ),
        Decision(
            "Implement the Plan of Action 2021-2025 together",
            {
                "kind": "statement",
                "text": "The Ministers adopted the Plan of Action 2021-2025 and agreed to work "
                "together on the 2030 Agenda, humanitarian aid, disaster management, climate "
                "change, education and health care.",
            },
            agenda=1,
        ),
    ),
)

# --- the successor plan ----------------------------------------------------------------------

PLAN_2021_CODE = "ASEAN-UN-POA-2021-2025"
PLAN_2021_TITLE = "ASEAN-UN Plan of Action 2021-2025"
# Its own new lines; the unfinished lines of 2016-2020 join them when it is approved. Codes
# differ from the old plan's, so that carried-over lines keep theirs.
PLAN_2021_LINES = (
    ("1", "1.a", "Support ASEAN's work on women, peace and security", ("women-peace-security",)),
    ("1", "1.b", "Cooperate on preventing violent extremism online", ("counter-terrorism",)),
    ("2", "2.a", "Support the ASEAN Comprehensive Recovery Framework", ("economic-integration",)),
    ("2", "2.b", "Promote the digital transformation of MSMEs", ("msme",)),
    ("3", "3.a", "Strengthen regional health security after COVID-19", ("health",)),
    ("3", "3.b", "Scale up anticipatory action before natural disasters", ("natural-disasters",)),
    ("3", "3.c", "Support climate action and the ASEAN-UN climate dialogue", ("climate-change",)),
    ("4", "4.a", "Support the Initiative for ASEAN Integration Work Plan IV", ("development-gap",)),
)


def plan_2021_document(predecessor_id: str) -> dict[str, object]:
    return {
        "plan": {
            "code": PLAN_2021_CODE,
            "title": PLAN_2021_TITLE,
            "partners": ["ASEAN", "UN"],
            "period_start": "2021-01-01",
            "period_end": "2025-12-31",
            "predecessor_id": predecessor_id,
        },
        "sections": [{"code": code, "title": title} for code, title in plan.PILLARS.items()],
        "action_lines": [
            {
                "code": code,
                "section_code": pillar,
                "text": text,
                "tags": list(tags),
                "leads": ["UN", "ASEAN"],
                "target_date": date(2025, 12, 31).isoformat(),
            }
            for pillar, code, text, tags in PLAN_2021_LINES
        ],
    }
