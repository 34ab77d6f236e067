"""The city's policy as data: phrase rules that classify free text, each with a name and a reason.

Classification is deterministic and explainable (DESIGN.md): every rule is a small named unit
that answers one question about a text and says why. Nothing leaves the machine. Cities add
their own phrases in the `[rules]` table of the configuration; the built-in ones stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.config import RulesConfig
from bot.model import ITEMS, Kind, RuleHit
from bot.phrases import PhraseRule

SAFETY = (
    "gas leak",
    "gas smell",
    "smell gas",
    "smells like gas",
    "smell like gas",
    "smelled gas",
    "smelling gas",
    "smell of gas",
    "smells of gas",
    "downed wire",
    "downed wires",
    "wire down",
    "wires down",
    "power line down",
    "power lines down",
    "live wire",
    "live wires",
    "sparking wire",
    "sparking wires",
    "wire sparking",
    "sparking",
    "exposed wire",
    "exposed wires",
    "sinkhole",
    "fire",
    "on fire",
    "smoke",
    "flooding",
    "flooded",
    "flood",
    "water pouring",
    "water gushing",
    "water main break",
    "watermain break",
    "burst water main",
    "collapsed",
    "collapse",
    "open manhole",
    "missing manhole",
    "manhole cover missing",
    "carbon monoxide",
    "chemical spill",
    "someone is hurt",
    "someone is injured",
    "injured",
    "immediate danger",
    "in danger",
    "about to fall",
    "falling tree",
    "tree fell",
    "tree down",
    "tree fallen",
    "fallen tree",
)
#: Longer phrases in which a safety word names a thing, not an event happening now:
#: a safety phrase inside one of these is ignored (the reason says so).
SAFETY_NOT_EVENTS = (
    "fire hydrant",
    "fire hydrants",
    "fire route",
    "fire routes",
    "fire lane",
    "fire lanes",
    "fire hall",
    "fire halls",
    "fire station",
    "fire stations",
    "fire department",
    "fire services",
    "fire service",
    "fire chief",
    "fire marshal",
    "fire inspector",
    "fire inspection",
    "fire code",
    "fire safety",
    "fire truck",
    "fire trucks",
    "fire engine",
    "fire pit",
    "fire pits",
    "fire permit",
    "fire ban",
    "fire drill",
    "fire extinguisher",
    "fire escape",
    "fire alarm test",
    "fire him",
    "fire her",
    "fire them",
    "to fire",
    "should fire",
    "please fire",
    "flood rebate",
    "flood rebates",
    "flood rebate program",
    "flooding rebate",
    "flood program",
    "flood plain",
    "flood plains",
    "flood zone",
    "flood map",
    "flood insurance",
    "flood prevention",
    "flood protection",
    "flood mitigation",
    "flood subsidy",
    "flood grant",
    "flood risk",
    "smoke detector",
    "smoke detectors",
    "smoke alarm",
    "smoke alarms",
    "smoke test",
    "smoke testing",
    "smoke free",
    "smoke shop",
    "in danger of losing",
)
ABUSE = (
    "fuck",
    "fucking",
    "fucked",
    "fck",
    "shit",
    "bullshit",
    "bitch",
    "bastard",
    "asshole",
    "arsehole",
    "cunt",
    "dickhead",
    "idiot",
    "idiots",
    "moron",
    "morons",
    "retard",
    "piss off",
    "shut up",
    "go to hell",
    "i will kill",
    "kill you",
    "screw you",
    "scumbag",
)
COUNCIL = (
    "council decision",
    "council decided",
    "council voted",
    "council vote",
    "council's decision",
    "decision of council",
    "decided by council",
    "standing committee",
    "committee decision",
    "council approved",
    "council passed",
)
APPEAL = (
    "parking ticket",
    "parking tag",
    "parking fine",
    "parking violation",
    "appeal",
    "tribunal",
    "committee of adjustment",
    "property assessment",
    "mpac",
    "dispute my ticket",
    "dispute a ticket",
    "zoning appeal",
    "order to comply",
    "by-law appeal",
    "bylaw appeal",
)
EMPLOYEE = (
    "i am an employee",
    "i'm an employee",
    "as an employee",
    "as a city employee",
    "my manager",
    "my supervisor",
    "my coworker",
    "my co-worker",
    "my colleague",
    "workplace harassment",
    "human resources",
    "hr department",
    "my paycheque",
    "my paycheck",
    "my job at the city",
    "grievance",
    "my union",
)
LEGISLATION = (
    "provincial law",
    "federal law",
    "criminal code",
    "police",
    "school board",
    "ministry of",
    "highway 401",
    "provincial highway",
    "hydro bill",
    "canada post",
)
SENSITIVE = (
    "mayor",
    "councillor",
    "councilor",
    "council member",
    "member of council",
    "cao",
    "chief administrative officer",
    "ombudsman",
)
COMPLAINT = (
    "thanks for nothing",
    "complain",
    "complaint",
    "complaining",
    "unhappy",
    "dissatisfied",
    "disappointed",
    "rude",
    "ignored",
    "unacceptable",
    "not acceptable",
    "terrible",
    "poor service",
    "bad service",
    "still not",
    "still no",
    "nobody",
    "no one",
    "never came",
    "never showed",
    "frustrated",
    "angry",
    "upset",
    "waited",
    "was told",
    "refused",
    "damaged",
    "damage",
)
REQUEST = (
    "pothole",
    "potholes",
    "missed pickup",
    "missed collection",
    "garbage",
    "recycling",
    "green bin",
    "streetlight",
    "street light",
    "tree",
    "trees",
    "snow",
    "plow",
    "plough",
    "graffiti",
    "please fix",
    "please repair",
    "please remove",
    "can you",
    "could you",
    "request",
    "broken",
    "clogged",
    "sidewalk",
    "crosswalk",
    "traffic light",
    "sign is missing",
    "pick up",
    "pickup",
    "repair",
    "replace",
    "noise",
)
PRAISE = (
    "compliment",
    "great job",
    "good job",
    "well done",
    "kudos",
    "suggestion",
    "i suggest",
    "would be nice",
    "it would be great",
    "excellent",
    "wonderful",
    "feedback",
)
THANKS = ("appreciate", "appreciated", "thank you", "thanks", "helpful", "grateful")

#: Out-of-scope categories (policy 02.03) and the process residents are pointed to.
REDIRECTS: Mapping[str, str] = {
    "council": (
        "a decision of Council or a Standing Committee. These decisions are not reviewed through "
        "the complaint process; the City Clerk's Office can tell you how to speak to Council or a "
        "committee as a delegation, or how to contact your Councillor"
    ),
    "appeal": (
        "a matter with its own appeal or dispute process (for example, a parking ticket, a by-law "
        "order or a committee decision is disputed through the process printed on the notice or "
        "decision you received)"
    ),
    "employee": (
        "an internal employee matter, which is handled by Human Resources under the City's "
        "workplace policies"
    ),
    "legislation": (
        "a matter covered by legislation or by another organisation (for example the police, the "
        "Province, a school board or a utility), which handles it under its own rules"
    ),
}

#: The items each kind needs before it can be acted on (policy 04.01 for complaints).
REQUIRED: Mapping[Kind, tuple[str, ...]] = {
    Kind.COMPLAINT: ITEMS,
    Kind.REQUEST: ("what", "when", "contact"),
    Kind.FEEDBACK: ("what",),
    Kind.HAZARD: ("what",),
    Kind.OUT_OF_SCOPE: ("what",),
}


def _rule(
    name: str,
    description: str,
    builtin: Iterable[str],
    extra: Iterable[str],
    *,
    not_events: tuple[str, ...] = (),
    negation: bool = True,
    window: int = 3,
) -> PhraseRule:
    phrases = tuple(dict.fromkeys([*builtin, *extra]))
    return PhraseRule(name, description, phrases, not_events, negation, window)


@dataclass(frozen=True)
class Rules:
    """The rule table in the order it is consulted."""

    safety: PhraseRule
    abuse: PhraseRule
    scope: tuple[tuple[str, PhraseRule], ...]
    sensitive: PhraseRule
    kinds: tuple[tuple[Kind, PhraseRule], ...]

    @classmethod
    def from_config(cls, cfg: RulesConfig | None = None) -> Rules:
        cfg = cfg or RulesConfig()
        return cls(
            safety=_rule(
                "safety-threat",
                "mentions an immediate safety threat",
                SAFETY,
                cfg.safety,
                not_events=(*SAFETY_NOT_EVENTS, *cfg.safety_not_events),
                # Missing a hazard costs more than a false alarm: only a negator right before
                # the phrase counts ("nobody is in danger", but "no one noticed the fire").
                window=1,
            ),
            # "not an idiot" is still the word: abuse and sensitive mentions are not negated.
            abuse=_rule("abusive-language", "abusive language", ABUSE, cfg.abuse, negation=False),
            scope=(
                (
                    "council",
                    _rule(
                        "council-decision",
                        "about a decision of Council or a Standing Committee (02.03 c)",
                        COUNCIL,
                        cfg.council,
                    ),
                ),
                (
                    "employee",
                    _rule(
                        "employee-matter",
                        "an internal employee matter (02.03 d)",
                        EMPLOYEE,
                        cfg.employee,
                    ),
                ),
                (
                    "appeal",
                    _rule(
                        "own-appeal-process",
                        "has its own appeal or complaint process (02.03 b)",
                        APPEAL,
                        cfg.appeal,
                    ),
                ),
                (
                    "legislation",
                    _rule(
                        "other-authority",
                        "covered by legislation or another organisation (02.03 a)",
                        LEGISLATION,
                        cfg.legislation,
                    ),
                ),
            ),
            sensitive=_rule(
                "council-cao-ombudsman",
                "involves Council, the CAO or the Ombudsman",
                SENSITIVE,
                cfg.sensitive,
                negation=False,
            ),
            kinds=(
                (
                    Kind.COMPLAINT,
                    _rule("complaint-words", "expresses dissatisfaction", COMPLAINT, ()),
                ),
                (
                    Kind.FEEDBACK,
                    _rule(
                        "praise-words", "gives a compliment or a suggestion", PRAISE, cfg.feedback
                    ),
                ),
                (
                    Kind.REQUEST,
                    # "no streetlight", "not picked up" are still requests: no negation.
                    _rule(
                        "request-words",
                        "asks the city to do something",
                        REQUEST,
                        cfg.request,
                        negation=False,
                    ),
                ),
                (Kind.FEEDBACK, _rule("thanks-words", "says thank you", THANKS, ())),
            ),
        )

    def out_of_scope(self, text: str) -> tuple[str, RuleHit] | None:
        for category, rule in self.scope:
            hit = rule.check(text)
            if hit:
                return category, hit
        return None

    def classify(self, text: str) -> tuple[Kind, RuleHit]:
        """The kind of a free text; complaints win ties so nothing that needs follow-up is lost."""
        for kind, rule in self.kinds:
            hit = rule.check(text)
            if hit:
                return kind, hit
        return Kind.COMPLAINT, RuleHit(
            "default-complaint",
            "no phrase rule matched; treated as a complaint so a person "
            "reads it and nothing that needs follow-up is missed",
        )
