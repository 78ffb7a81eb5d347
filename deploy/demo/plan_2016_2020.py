"""The ASEAN-UN Plan of Action 2016-2020 as demo data: 103 action lines in the three pillars
and the cross-cutting areas, and what the CPR-UN meeting of 2020-09-15 reported on them.

The line texts are synthetic, written for the project from the areas the seed article names
(peacekeeping, natural disasters, gender equality, economic integration, narrowing the
development gap, counter-terrorism, cross-border crime, cyber security, human rights, ...);
they are not the text of the real plan. Codes are opaque labels, as in the product.
"""

from dataclasses import dataclass
from datetime import date, timedelta

CODE = "ASEAN-UN-POA-2016-2020"
TITLE = "ASEAN-UN Plan of Action 2016-2020"
PERIOD = (date(2016, 1, 1), date(2020, 12, 31))
REVIEW_DATE = date(2020, 9, 15)
# Most targets are the end of the plan, so lines completed by the review are ahead of
# schedule; areas with an earlier target were completed late.
END = date(2020, 12, 31)
MID_2020 = date(2020, 6, 30)
END_2019 = date(2019, 12, 31)


@dataclass(frozen=True)
class Area:
    code: str
    title: str
    tags: tuple[str, ...]
    leads: tuple[str, ...]
    target: date
    lines: tuple[str, ...] = ()

    @property
    def parent_code(self) -> str:
        return self.code.rsplit(".", 1)[0]


PILLARS = {
    "1": "Political-Security Cooperation",
    "2": "Economic Cooperation",
    "3": "Socio-Cultural Cooperation",
    "4": "Cross-cutting areas",
}

AREAS = (
    Area(
        "1.1",
        "Peacekeeping and peacebuilding",
        ("peacekeeping",),
        ("UN DPO", "ADMM"),
        END,
        (
            "Hold an annual ASEAN-UN workshop on peacekeeping for the ASEAN Peacekeeping Centres Network",
            "Train ASEAN military and police officers for UN peacekeeping missions, including women officers",
            "Exchange lessons learned on the protection of civilians in peace operations",
            "Support ASEAN member states' pledges to the UN Peacekeeping Capability Readiness System",
            "Share UN peacebuilding practice with the ASEAN Institute for Peace and Reconciliation",
            "Run a joint table-top exercise on peacekeeping logistics and medical support",
        ),
    ),
    Area(
        "1.2",
        "Conflict prevention, preventive diplomacy and mediation",
        ("conflict-prevention",),
        ("UN DPPA", "ASEAN IPR"),
        END,
        (
            "Organise a regional dialogue on preventive diplomacy with the UN Department of Political and Peacebuilding Affairs",
            "Build a roster of ASEAN mediators and offer them UN mediation training",
            "Study early-warning practice of the UN and ASEAN and share the findings",
            "Hold a track 1.5 seminar on conflict prevention and reconciliation",
        ),
    ),
    Area("1.3", "Transnational crime", (), ("UNODC", "SOMTC"), END),
    Area(
        "1.3.1",
        "Counter-terrorism and preventing violent extremism",
        ("counter-terrorism",),
        ("UNOCT", "SOMTC"),
        END,
        (
            "Support the ASEAN Plan of Action to Prevent and Counter the Rise of Radicalisation and Violent Extremism",
            "Train prosecutors and judges on terrorism cases under international law",
            "Share UN tools on countering the financing of terrorism with ASEAN financial intelligence units",
            "Hold a workshop on the rehabilitation and reintegration of returning foreign terrorist fighters",
            "Develop community-based programmes that engage youth and women in preventing violent extremism",
        ),
    ),
    Area(
        "1.3.2",
        "Cross-border crime: trafficking in persons, illicit drugs, migrant smuggling",
        ("cross-border-crime",),
        ("UNODC", "SOMTC"),
        END,
        (
            "Support the implementation of the ASEAN Convention Against Trafficking in Persons",
            "Train border officials in identifying victims of trafficking and smuggled migrants",
            "Strengthen cooperation on drug precursor control and illicit crop monitoring",
            "Set up border liaison offices along key land borders with UNODC support",
            "Hold an annual dialogue on mutual legal assistance and extradition in criminal matters",
        ),
    ),
    Area(
        "1.3.3",
        "Cyber security and cybercrime",
        ("cyber-security",),
        ("UNODA", "UNODC", "ASEAN Cyber Capacity Programme"),
        END,
        (
            "Train law enforcement officers on cybercrime investigation and digital evidence",
            "Hold a regional workshop on the UN norms of responsible state behaviour in cyberspace",
            "Build national computer emergency response capacity through joint exercises",
            "Agree on a regional plan to operationalise the UN norms of responsible state behaviour",
        ),
    ),
    Area(
        "1.4",
        "Human rights, rule of law and good governance",
        ("human-rights",),
        ("OHCHR", "AICHR"),
        END_2019,
        (
            "Organise dialogues between the ASEAN Intergovernmental Commission on Human Rights and OHCHR",
            "Support training on the rule of law and access to justice for legal practitioners",
            "Share experience on anti-corruption with the UN Convention against Corruption review mechanism",
        ),
    ),
    Area(
        "1.5",
        "Women, peace and security",
        ("women-peace-security", "gender-equality"),
        ("UN Women", "ACW"),
        END,
        (
            "Launch a regional study on women, peace and security in ASEAN",
            "Hold a symposium on women's participation in peace processes and peacekeeping",
            "Build a network of women mediators in the region",
        ),
    ),
    Area(
        "2.1",
        "Economic integration and trade facilitation",
        ("economic-integration",),
        ("UNCTAD", "UNESCAP", "SEOM"),
        END,
        (
            "Support the ASEAN Economic Community Blueprint 2025 with policy research on regional integration",
            "Assist the ASEAN Single Window with paperless trade facilitation",
            "Train officials on non-tariff measures and their transparency",
            "Assess the impact of economic integration on the least developed member states",
            "Promote investment policy reviews for ASEAN member states",
            "Hold a regional forum on e-commerce and the digital economy",
        ),
    ),
    Area(
        "2.2",
        "Micro, small and medium-sized enterprises and inclusive growth",
        ("msme", "economic-integration"),
        ("UNIDO", "ILO", "ACCMSME"),
        END,
        (
            "Support MSME access to finance through a regional knowledge platform",
            "Train women entrepreneurs in running MSMEs and in digital marketing",
            "Connect MSMEs to regional and global value chains",
            "Promote decent work and formalisation in small enterprises",
        ),
    ),
    Area(
        "2.3",
        "Energy security",
        ("energy-security",),
        ("UNESCAP", "ACE"),
        END,
        (
            "Support the ASEAN Plan of Action for Energy Cooperation on renewable energy targets",
            "Share practice on energy efficiency standards and labelling",
            "Hold a dialogue on regional power grid interconnection",
            "Develop a regional roadmap for access to clean cooking and electricity in remote areas",
        ),
    ),
    Area(
        "2.4",
        "Food security, agriculture and forestry",
        ("food-security", "forest"),
        ("FAO", "AMAF"),
        END,
        (
            "Strengthen the ASEAN Food Security Information System with FAO data",
            "Support sustainable forest management and the fight against illegal logging",
            "Share climate-resilient agriculture practice with smallholder farmers",
            "Improve food safety standards along regional food value chains",
        ),
    ),
    Area(
        "2.5",
        "Statistics for integration and SDG monitoring",
        ("statistics", "sustainable-development"),
        ("UNSD", "ASEANstats"),
        MID_2020,
        (
            "Build the capacity of national statistics offices to report on SDG indicators",
            "Harmonise trade in services statistics across ASEAN member states",
            "Publish a joint ASEAN-UN report on progress towards the SDGs",
            "Support a regional data portal on economic integration",
        ),
    ),
    Area(
        "3.1",
        "Humanitarian assistance and natural disaster management",
        ("humanitarian", "natural-disasters"),
        ("OCHA", "AHA Centre"),
        END,
        (
            "Implement the ASEAN-UN Joint Strategic Plan of Action on Disaster Management",
            "Link the AHA Centre with UN emergency response tools and rosters",
            "Hold joint disaster emergency response simulation exercises",
            "Strengthen early warning for tsunamis, floods and cyclones",
            "Support the recovery of communities after natural disasters",
            "Train humanitarian workers on the protection of vulnerable groups in emergencies",
            "Support humanitarian assistance and the voluntary return of displaced persons in Rakhine State",
        ),
    ),
    Area(
        "3.2",
        "Climate change and environment",
        ("climate-change", "sustainable-development"),
        ("UNEP", "ASOEN"),
        END_2019,
        (
            "Support ASEAN member states' nationally determined contributions under the Paris Agreement",
            "Share practice on reducing marine plastic debris",
            "Support transboundary haze pollution control",
            "Promote biodiversity conservation with the ASEAN Centre for Biodiversity",
            "Develop a regional programme on climate finance readiness",
        ),
    ),
    Area(
        "3.3",
        "Gender equality and women's empowerment",
        ("gender-equality",),
        ("UN Women", "ACW", "ACWC"),
        END,
        (
            "Support the elimination of violence against women and girls",
            "Promote gender mainstreaming across the three ASEAN Community pillars",
            "Hold a regional dialogue on women's economic empowerment",
            "Build gender statistics capacity in national statistics offices",
            "Train officials on gender-responsive budgeting",
        ),
    ),
    Area(
        "3.4",
        "Health and pandemic preparedness",
        ("health",),
        ("WHO", "SOMHD"),
        END_2019,
        (
            "Strengthen regional preparedness for emerging infectious diseases",
            "Support universal health coverage policies",
            "Share practice on non-communicable disease prevention",
            "Support regional cooperation on maternal and child health",
            "Strengthen laboratory networks for disease surveillance",
        ),
    ),
    Area(
        "3.5",
        "Education and youth",
        ("education",),
        ("UNESCO", "UNICEF", "SOM-ED"),
        END_2019,
        (
            "Support inclusive and equitable quality education for out-of-school children",
            "Promote technical and vocational education and training",
            "Hold an ASEAN-UN youth forum on the 2030 Agenda",
            "Support education in emergencies",
        ),
    ),
    Area(
        "3.6",
        "Social protection, migrant workers and persons with disabilities",
        ("social-protection",),
        ("ILO", "UNDP", "SOMSWD"),
        END_2019,
        (
            "Support the ASEAN Declaration on Strengthening Social Protection",
            "Protect the rights of migrant workers in line with the ASEAN Consensus",
            "Promote the rights of persons with disabilities",
            "Share practice on social protection for the informal sector",
        ),
    ),
    Area(
        "3.7",
        "Complementarity of the ASEAN Community Vision 2025 and the 2030 Agenda",
        ("sustainable-development",),
        ("UNESCAP", "ASEC"),
        END,
        (
            "Implement the complementarity roadmap between the ASEAN Community Vision 2025 and the 2030 Agenda",
            "Hold the annual High-Level Brainstorming Dialogue on complementarity",
            "Set up the ASEAN Centre for Sustainable Development Studies and Dialogue",
        ),
    ),
    Area(
        "4.1",
        "Narrowing the development gap",
        ("development-gap",),
        ("UNDP", "IAI Task Force"),
        END,
        (
            "Support the Initiative for ASEAN Integration Work Plan III",
            "Build public administration capacity in Cambodia, Lao PDR, Myanmar and Viet Nam",
            "Share practice on rural development and poverty eradication",
            "Support LDC graduation strategies",
            "Promote subregional development in the Mekong and BIMP-EAGA areas",
            "Train officials on development finance and aid effectiveness",
            "Launch a development gap monitoring tool for the IAI Work Plan IV",
        ),
    ),
    Area(
        "4.2",
        "Connectivity",
        ("connectivity",),
        ("UNESCAP", "ACCC"),
        END_2019,
        (
            "Support the Master Plan on ASEAN Connectivity 2025",
            "Promote sustainable infrastructure investment",
            "Share practice on digital connectivity and broadband for all",
            "Support seamless logistics and trade corridors",
            "Promote people-to-people connectivity through skills mobility",
            "Develop a regional framework for sustainable urbanisation in ASEAN cities",
        ),
    ),
    Area(
        "4.3",
        "ASEAN Secretariat capacity",
        ("secretariat-capacity",),
        ("UN Secretariat", "ASEC"),
        MID_2020,
        (
            "Hold annual Secretariat-to-Secretariat meetings between ASEC and the UN Secretariat",
            "Second ASEC staff to UN offices and UN staff to ASEC",
            "Support ASEC's monitoring and evaluation of ASEAN cooperation",
            "Share UN knowledge management practice with ASEC",
            "Train ASEC staff on project management and results-based management",
        ),
    ),
)

# The six lines the CPR-UN meeting of 2020-09-15 reported as still ongoing; all the others
# (97 of 103) were reported completed.
UNFINISHED = frozenset({"1.3.3.4", "2.3.4", "3.1.7", "3.2.5", "4.1.7", "4.2.6"})
# Completions are dated as a real plan's would be, from the first year of the plan up to the
# review, more of them in later years as work matures: each completed line gets a fraction of
# that span, scattered (a fixed stride modulo 997, so the demo is the same every time) rather
# than in code order, and its square root, which leans the dates towards the review.
FIRST_COMPLETION = date(2016, 3, 1)
_SPAN_DAYS = (REVIEW_DATE - FIRST_COMPLETION).days
_STRIDE = 617  # prime, so consecutive lines land far apart in the span


@dataclass(frozen=True)
class Line:
    code: str
    area: Area
    text: str

    @property
    def pillar(self) -> str:
        return self.code.split(".", 1)[0]

    @property
    def review_status(self) -> str:
        return "ongoing" if self.code in UNFINISHED else "completed"

    @property
    def completed_on(self) -> date | None:
        """When the line was completed, as the review reports it (None: not completed)."""
        if self.review_status != "completed":
            return None
        position = int("".join(f"{int(part):02d}" for part in self.code.split(".")))
        fraction = ((position * _STRIDE) % 997) / 996
        return FIRST_COMPLETION + timedelta(days=round(_SPAN_DAYS * fraction**0.5))

    @property
    def completed_ahead(self) -> bool:
        """Completed strictly before its target date, as the plans service counts it."""
        return self.completed_on is not None and self.completed_on < self.area.target

    def under(self, section_code: str) -> bool:
        """Whether the line is anywhere under the section with this code."""
        return self.code.startswith(section_code + ".")


LINES = tuple(
    Line(f"{area.code}.{number}", area, text)
    for area in AREAS
    for number, text in enumerate(area.lines, start=1)
)


def section_documents() -> list[dict[str, object]]:
    pillars: list[dict[str, object]] = [
        {"code": code, "title": title} for code, title in PILLARS.items()
    ]
    areas: list[dict[str, object]] = [
        {"code": a.code, "title": a.title, "parent_code": a.parent_code} for a in AREAS
    ]
    return pillars + areas


def import_document() -> dict[str, object]:
    """The plan as `POST /plans/import` takes it: every line not started yet."""
    return {
        "plan": {
            "code": CODE,
            "title": TITLE,
            "partners": ["ASEAN", "UN"],
            "period_start": PERIOD[0].isoformat(),
            "period_end": PERIOD[1].isoformat(),
        },
        "sections": section_documents(),
        "action_lines": [
            {
                "code": line.code,
                "section_code": line.area.code,
                "text": line.text,
                "leads": list(line.area.leads),
                "tags": list(line.area.tags),
                "target_date": line.area.target.isoformat(),
            }
            for line in LINES
        ],
    }
