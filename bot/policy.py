"""The city's policy as data: phrase rules that classify free text, each with a name and a reason.

Classification is deterministic and explainable (DESIGN.md): every rule is a small named unit
that answers one question about a text and says why. Nothing leaves the machine. Cities add
their own phrases in the `[rules]` table of the configuration; the built-in ones stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.clock import BusinessCalendar, due_for
from bot.config import Config, RulesConfig
from bot.enquiry import EnquiryRule
from bot.model import ITEMS, Kind, RuleHit
from bot.phrases import Near, PhraseRule

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
    # Hazards told by what is seen, heard or smelled, not named
    "rotten egg",
    "rotten eggs",
    "chemical smell",
    "spill",
    "oil spill",
    "sparks",
    "smouldering",
    "smoldering",
    "flames",
    "gushing",
    "pipe burst",
    "burst pipe",
    "sewage backing up",
    "caved in",
    "caving in",
    "cave in",
    "gave way",
    "washed out",
    "hole opening",
    "hanging by a thread",
    "used needle",
    "used needles",
    "syringe",
    "syringes",
    # What may happen to people
    "got hurt",
    "get hurt",
    "gets hurt",
    "getting hurt",
    "get killed",
    "gets killed",
    "be killed",
    "break a hip",
    "almost fell",
    "slipped",
    "could fall",
    "could fall in",
    "kids touch",
    "attacking",
    "bit a",
    "swerving",
    "stalling",
    "flying through",
)
#: Pairs that are a hazard together though neither word is one alone ("tree" + "leaning").
SAFETY_NEAR = (
    Near(
        ("wire", "wires", "power line", "power lines", "hydro line", "hydro lines", "cable"),
        (
            "down",
            "hanging",
            "dangling",
            "sparking",
            "buzzing",
            "exposed",
            "sagging",
            "lying",
            "on the ground",
            "across",
        ),
        window=5,
    ),
    Near(
        ("tree", "branch", "limb", "pole"),
        (
            "leaning",
            "resting on",
            "on the power line",
            "on the power lines",
            "on the hydro line",
            "swaying",
            "cracked at",
            "split",
            "came down",
        ),
        window=10,
    ),
    Near(("manhole", "cover"), ("missing", "gone", "off", "open", "removed"), window=5),
    Near(("ice", "icy"), ("stairs", "steps", "ramp", "entrance"), window=12),
    Near(("ice",), ("cracking", "open water", "thin"), window=15),
    Near(
        ("traffic lights", "traffic light", "traffic signals", "traffic signal", "stop sign"),
        ("out", "dark", "knocked down", "down", "not working", "missing"),
        window=6,
    ),
    Near(
        ("sidewalk", "road", "asphalt", "pavement", "ground"),
        ("sinking", "collapsing", "caving"),
        window=6,
    ),
    Near(("water",), ("pouring", "spraying", "ceiling", "electrical"), window=6),
    Near(("sewage",), ("street", "road", "overflowing", "backing up"), window=6),
    Near(
        ("glass", "bottles", "needles"),
        ("playground", "sandbox", "slide", "sand", "kids"),
        window=8,
    ),
    Near(("railing", "guardrail"), ("broken", "missing", "gone"), window=6),
    Near(("dog",), ("bit", "bite", "biting", "attacked"), window=6),
    # Building material coming down: "chunks are falling onto the sidewalk", "bricks
    # crumbling onto the path" (leaves or snow falling are not a hazard by themselves).
    Near(
        (
            "chunks",
            "bricks",
            "concrete",
            "debris",
            "pieces",
            "stones",
            "rocks",
            "tiles",
            "plaster",
            "masonry",
            "shingles",
            "icicles",
        ),
        ("falling", "fell", "crumbling", "coming down", "dropping", "breaking off"),
        window=8,
    ),
    Near(
        ("wall", "retaining wall", "ceiling", "roof", "balcony", "bridge", "overpass"),
        ("crumbling", "falling", "collapsing", "coming down", "giving way"),
        window=6,
    ),
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
    # A yard or lawn that floods is a drainage request, not an immediate threat.
    "flooding my yard",
    "flooding our yard",
    "flooding my lawn",
    "flooding our lawn",
    "flooding my backyard",
    "flooding our backyard",
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
    "passed by council",
    "approved by council",
    "council meeting",
    "council got",
    "the vote",
    "last night's vote",
    "planning committee",
    "decision made at",
    "reverse the decision",
    "reverse this decision",
    "decision should be reversed",
    "revisit the decision",
    "reconsider the decision",
    "rubber stamped",
    "signed off on",
)
#: Council or a committee, and what they do: "councillors decided", "council rubber stamped it".
COUNCIL_NEAR = (
    Near(
        (
            "council",
            "councillors",
            "councilors",
            "city council",
            "committee",
            "councillors who",
            "mayor and council",
        ),
        (
            "voted",
            "vote",
            "votes",
            "decided",
            "decide",
            "decision",
            "approved",
            "approve",
            "passed",
            "signed off",
            "rubber stamped",
            "recommended",
            "chose",
            "agreed",
            "reverse",
            "reconsider",
        ),
        window=6,
    ),
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
    "minor variance",
    "freedom of information",
    "assessed value",
    "tax assessment",
    "red light camera",
    "speed camera",
    "order to remove",
    "compliance order",
)
#: "appeal" as in "I appeal to you to fix it" is a plea, not an appeal process.
APPEAL_NOT_EVENTS = (
    "appeal to you",
    "appeal to the city",
    "appeal to your",
    "appeal to all",
    "appealing to you",
    "appealing to the city",
)
#: A ticket or a fine the resident wants undone: the ticket's own dispute process.
APPEAL_NEAR = (
    Near(
        ("ticket", "tag", "fine", "fined", "penalty", "assessment", "order"),
        (
            "dispute",
            "contest",
            "fight",
            "cancel",
            "cancelled",
            "withdrawn",
            "withdraw",
            "thrown out",
            "unfair",
            "reviewed",
            "wasn't driving",
            "was not driving",
            "got it wrong",
            "waived",
            "refund",
        ),
        window=20,
        same_sentence=False,
    ),
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
    "union rep",
    "my lead hand",
    "my pay stub",
    "my pay",
    "my shift",
    "my overtime",
    "my coworkers",
    "a coworker",
    "a co-worker",
    "employed by the city",
    "city employee",
    "where i work",
    "summer student",
    "retaliation",
)
#: "I work at the pool", "I'm a city worker": the resident speaks as the City's employee.
EMPLOYEE_NEAR = (
    Near(
        ("i work", "i'm employed", "i am employed", "i'm a", "i am a", "as a"),
        (
            "city",
            "department",
            "pool",
            "arena",
            "works yard",
            "operations centre",
            "water treatment",
            "recreation centre",
            "crossing guard",
            "lifeguard",
            "swim instructor",
        ),
        window=4,
        ordered=True,
    ),
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
    "hydro rates",
    "canada post",
    "community mailbox",
    "the 401",
    "highway 7",
    "mto",
    "the province",
    "province's",
    "provincial",
    "enbridge",
    "elexicon",
    "hydro one",
    "the utility",
    "arrest",
    "selling drugs",
    "break-in",
)
#: A dispute with a neighbour that invokes a by-law is between neighbours; the by-law and its
#: enforcement already address it (02.03 a). The neighbour comes first: "the by-law officer
#: warned my neighbour but the city's ditch floods my yard" is about the City.
LEGISLATION_NEAR = (
    Near(
        ("neighbour", "neighbours", "neighbour's", "neighbor", "neighbors", "neighbor's"),
        ("by-law", "bylaw", "by-laws", "bylaws", "by law", "property line", "fence", "hedge"),
        window=40,
        ordered=True,
        same_sentence=False,
    ),
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
    # dissatisfaction in the resident's words (01.03)
    "not happy",
    "not good enough",
    "doesn't help",
    "fed up",
    "sick and tired",
    "tired of",
    "losing patience",
    "ridiculous",
    "pathetic",
    "disgusted",
    "disgusting",
    "disgrace",
    "shameful",
    "awful",
    "horrible",
    "filthy",
    "outrageous",
    "embarrassing",
    "a joke",
    "priorities",
    "damn",
    "waiting",
    "for nothing",
    "have to wait",
    "how much longer",
    "how many more",
    "how long do i have to",
    "how long must",
    # a service that failed the resident again (01.03)
    "again",
    "every single",
    "never heard back",
    "never returned",
    "never called",
    "never got",
    "never there",
    "never replied",
    "never answered",
    "never been this bad",
    "still hasn't",
    "still haven't",
    "still isn't",
    "still don't",
    "still doesn't",
    "still didn't",
    "still waiting",
    "still broken",
    "still there",
    "still dark",
    "without any notice",
    "without notice",
    "no notice",
    "without telling",
    "didn't even",
    "didnt even",
    "hung up",
    "charged me twice",
    "double booked",
    "closed without",
    # how staff treated the resident
    "shouted",
    "yelled",
    "swore",
    "rolled her eyes",
    "rolled his eyes",
    "condescending",
    "accused",
    "treated me like",
    "treated us like",
    "like a criminal",
    "laughed at",
    "on his phone",
    "on her phone",
)
#: A complaint word inside one of these says nothing about the City's service.
COMPLAINT_NOT_EVENTS = (
    "no one hurt",
    "no one is hurt",
    "no one was hurt",
    "no one injured",
    "nobody hurt",
    "nobody is hurt",
    "nobody was hurt",
    "nobody injured",
    "nobody uses",
    "so nobody",
    "so no one",
    "smells awful",
    "smell is awful",
    "smelled awful",
)
#: Pairs that say the service failed the resident: repetition ("the third time"), a long
#: wait ("took 11 weeks"), and damage done by the City's crews ("knocked down my mailbox").
COMPLAINT_NEAR = (
    Near(
        (
            "second",
            "third",
            "fourth",
            "fifth",
            "2nd",
            "3rd",
            "4th",
            "5th",
            "three",
            "four",
            "five",
            "several",
            "many",
            "multiple",
            "3",
            "4",
            "5",
        ),
        ("time", "times"),
        window=1,
        ordered=True,
    ),
    Near(("asked", "called", "reported", "emailed", "written"), ("twice", "times"), window=3),
    Near(
        ("took", "takes", "take", "waited", "waiting"),
        ("weeks", "months", "an hour", "hours", "years"),
        window=4,
        ordered=True,
    ),
    Near(
        (
            "broke",
            "damaged",
            "dented",
            "hit",
            "backed into",
            "clipped",
            "knocked down",
            "knocked over",
            "threw",
            "run over",
            "ran over",
            "cut",
            "dug up",
            "scratched",
            "ruined",
            "blocked",
            "burying",
            "buried",
            "torn up",
        ),
        ("my", "our"),
        window=2,
        ordered=True,
    ),
)
#: Praise that means the opposite ("Money well spent.").
SARCASM = (
    "as usual",
    "oh sure",
    "oh great",
    "oh wonderful",
    "yeah right",
    "money well spent",
    "take your time",
    "thanks a lot for",
    "what a joke",
    "brilliant planning",
    "congratulations on another",
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
    # asking
    "please",
    "can someone",
    "could someone",
    "can the city",
    "could the city",
    "could we get",
    "can we get",
    "would it be possible",
    "would like",
    "i'd like",
    "looking to have",
    "need",
    "needs",
    # a fault, told neutrally
    "not working",
    "isn't working",
    "doesn't work",
    "out of order",
    "missing",
    "flickering",
    "beeping",
    "chirping",
    "blocked",
    "blocking",
    "overflowing",
    "faded",
    "bent",
    "dumped",
    "abandoned",
    "leaking",
    "left behind",
    "crumbled",
    "cracked",
    "dead",
    "pot hole",
    "pot holes",
    "blue box",
    "catch basin",
    "storm drain",
    "bench",
    "swing",
    "puddle",
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
    "compliments",
    "thank you for",
    "thanks for",
    "thank you to",
    "thanks to",
    "my thanks",
    "love",
    "loved",
    "amazing",
    "beautiful",
    "fantastic",
    "impressive",
    "improvement",
    "easier",
    "well organised",
    "well organized",
    "good work",
    "keep up",
    "above and beyond",
    "professional",
    "friendly",
    "courteous",
    "very polite",
    "so patient",
    "very patient",
    "so kind",
    "very kind",
    "and kind",
    "an idea",
    "just a thought",
    "my opinion",
    "in my opinion",
    "the city should",
    "should consider",
    "could the city consider",
    "have you considered",
    "would help if",
    "it would help",
    "maybe the",
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
    Kind.OTHER: ("what",),
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
    near: tuple[Near, ...] = (),
) -> PhraseRule:
    phrases = tuple(dict.fromkeys([*builtin, *extra]))
    return PhraseRule(name, description, phrases, not_events, negation, window, near)


@dataclass(frozen=True)
class Rules:
    """The rule table in the order it is consulted."""

    safety: PhraseRule
    abuse: PhraseRule
    scope: tuple[tuple[str, PhraseRule], ...]
    sensitive: PhraseRule
    kinds: tuple[tuple[Kind, PhraseRule | EnquiryRule], ...]

    @classmethod
    def from_config(cls, cfg: RulesConfig | None = None) -> Rules:
        cfg = cfg or RulesConfig()
        safety = _rule(
            "safety-threat",
            "mentions an immediate safety threat",
            SAFETY,
            cfg.safety,
            not_events=(*SAFETY_NOT_EVENTS, *cfg.safety_not_events),
            near=SAFETY_NEAR,
            # Missing a hazard costs more than a false alarm: only a negator right before
            # the phrase counts ("nobody is in danger", but "no one noticed the fire").
            window=1,
        )
        return cls(
            safety=safety,
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
                        not_events=("committee of adjustment",),
                        near=COUNCIL_NEAR,
                    ),
                ),
                (
                    "employee",
                    _rule(
                        "employee-matter",
                        "an internal employee matter (02.03 d)",
                        EMPLOYEE,
                        cfg.employee,
                        near=EMPLOYEE_NEAR,
                    ),
                ),
                (
                    "appeal",
                    _rule(
                        "own-appeal-process",
                        "has its own appeal or complaint process (02.03 b)",
                        APPEAL,
                        cfg.appeal,
                        not_events=APPEAL_NOT_EVENTS,
                        near=APPEAL_NEAR,
                    ),
                ),
                (
                    "legislation",
                    _rule(
                        "other-authority",
                        "covered by legislation or another organisation (02.03 a)",
                        LEGISLATION,
                        cfg.legislation,
                        near=LEGISLATION_NEAR,
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
                    _rule(
                        "complaint-words",
                        "expresses dissatisfaction",
                        COMPLAINT,
                        (),
                        not_events=COMPLAINT_NOT_EVENTS,
                        near=COMPLAINT_NEAR,
                    ),
                ),
                (
                    Kind.COMPLAINT,
                    _rule("sarcasm", "praise that says the opposite", SARCASM, (), negation=False),
                ),
                (
                    # A question for information or a message for someone else, with no
                    # dissatisfaction (read above) and no request to act (bot/enquiry.py).
                    Kind.OTHER,
                    EnquiryRule(
                        "question",
                        "asks a question or is meant for someone else, with no request to act",
                        hazard=safety,
                    ),
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
                (
                    Kind.REQUEST,
                    # A hazard reported without a word of dissatisfaction asks the City to act.
                    _rule(
                        "hazard-report",
                        "reports a hazard for the city to deal with",
                        SAFETY,
                        cfg.safety,
                        not_events=(*SAFETY_NOT_EVENTS, *cfg.safety_not_events),
                        near=SAFETY_NEAR,
                        window=1,
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


@dataclass(frozen=True)
class Policy:
    """Everything decide() needs besides the submission and the time, built once at start."""

    config: Config
    rules: Rules
    calendar: BusinessCalendar

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(config, Rules.from_config(config.rules), config.calendar())

    def due(self, sla_kind: str, received: datetime) -> datetime:
        return due_for(sla_kind, received, self.calendar, self.config.sla)
