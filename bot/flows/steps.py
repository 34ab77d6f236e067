"""The complaint dialogue's shape: its table of steps, read top to bottom like its diagram
below (generated from this table: paste the output of `caredesk flow diagram`; a test fails
when the two differ).

It collects what the city's policy requires of a complaint (04.01: what, when, who, outcome,
contact) and, for requests, hazards and complaints, where it is (issue 12: the department
needs a place; a description that gives one is not asked again). It asks early about
immediate danger, declines anonymous allegations politely (02.01) unless safety is at stake,
and points out-of-scope matters (02.03) to the right process.

The next step is always the first row, in table order, that `applies` and whose `fills` are
not all answered yet, so `back`, `edit` and `restart` only have to clear data; a first message
in the resident's own words (the free-text shortcut) may answer several rows at once. A row's
`arrows` say where its answers lead, for the diagram; `AROUND` holds the arrows that do not
belong to one row (the greeting, filing, pausing, cancelling, ending).

No dead ends: a question with fixed choices offers them once more after an answer it cannot
read, then takes the row's `fallback` (a default it explains, or a way out), never a loop.
The words are in bot/flows/prompts.py, the parsers in bot/flows/answers.py.

```mermaid
stateDiagram-v2
    state "any question above" as asking
    [*] --> kind: greeting
    kind --> kind: a greeting = greet back
    kind --> safety: complaint / request / something else
    kind --> what: compliment or suggestion
    kind --> safety: free text = what happened, its kind read from it
    kind --> name: free text, a compliment or a question
    safety --> what: yes = call 911, hazard case / no / not sure
    safety --> scope: free text that sounds out of scope
    safety --> where: free text without the place
    safety --> when: free text that gives the place
    what --> scope: sounds out of scope
    what --> where: a request, a hazard or a complaint
    what --> when: the description gives the place
    what --> name: compliment, suggestion or question
    scope --> name: yes, record it for a redirect
    scope --> where: no, carry on
    scope --> when: no, carry on (the place given)
    where --> where: a hazard skipped once = why the City needs it
    where --> when: an address, a corner, a landmark, a shared location or skip
    when --> when: unreadable once (the 2nd time, the words are kept)
    when --> when_time: a complaint, and only a whole day was given
    when --> who: a complaint
    when --> name: a hazard or a request
    when_time --> who
    who --> outcome
    outcome --> name
    name --> name: refused once = explain policy 02.01
    name --> on_behalf: a complaint, with a name
    name --> contact: a name
    name --> summary: no name
    on_behalf --> third_party: someone else
    on_behalf --> contact: me
    third_party --> contact
    contact --> summary
    summary --> asking: edit ITEM = that question again, then back here
    summary --> filed: confirm = decide() + store + acknowledgement
    asking --> asking: back, help, why, a shared location, or a first abusive message
    asking --> kind: restart
    asking --> cancelled: cancel
    asking --> ended: abusive language a second time (the first time: a warning)
    asking --> paused: no message for dialogue.idle_minutes
    paused --> asking: resume, or any answer = the same question
    filed --> filed: a message within dialogue.add_to_case_hours joins the case
    filed --> kind: new / start again / a greeting / after the window
    cancelled --> kind: any message starts again
    ended --> kind: a message after dialogue.abuse_cooloff_minutes
```
"""

from __future__ import annotations

from bot.flows.answers import Answers, not_known, text_item
from bot.flows.base import Arrow, Data, Outcome, Step
from bot.flows.data import asks_where, hazard, investigated
from bot.flows.prompts import (
    HELP,
    KIND_CHOICES,
    WHY,
    Wording,
    ask_contact,
    ask_kind,
    ask_name,
    ask_on_behalf,
    ask_outcome,
    ask_safety,
    ask_scope,
    ask_third_party,
    ask_what,
    ask_when,
    ask_when_time,
    ask_where,
    ask_who,
)

#: The diagram's stand-in for "any row of the table" (commands, pauses, edits lead there).
ANY_QUESTION = "asking"


def always(d: Data) -> bool:
    return True


def complaint_steps(read: Answers, say: Wording) -> tuple[Step, ...]:
    """The table, bound to the city's parsers and words."""
    return (
        Step(
            name="kind",
            applies=always,
            fills=("kind",),
            prompt=ask_kind,
            parse=read.kind,
            choices=lambda d: KIND_CHOICES,
            fallback=read.kind_fallback,
            why=WHY["kind"],
            help=HELP["kind"],
            arrows=(
                Arrow("kind", "a greeting = greet back"),
                Arrow("safety", "complaint / request / something else"),
                Arrow("what", "compliment or suggestion"),
                Arrow("safety", "free text = what happened, its kind read from it"),
                Arrow("name", "free text, a compliment or a question"),
            ),
        ),
        Step(
            name="safety",
            applies=read.asks_safety,
            fills=("safety",),
            prompt=ask_safety,
            parse=read.safety,
            choices=lambda d: ("Yes", "No", "Not sure"),
            fallback=read.safety_unsure,
            why=WHY["safety"],
            help=HELP["safety"],
            arrows=(
                Arrow("what", "yes = call 911, hazard case / no / not sure"),
                Arrow("scope", "free text that sounds out of scope"),
                Arrow("where", "free text without the place"),
                Arrow("when", "free text that gives the place"),
            ),
        ),
        Step(
            name="what",
            applies=always,
            fills=("what",),
            prompt=ask_what,
            parse=read.what,
            fallback=read.what_as_said,
            why=WHY["what"],
            help=HELP["what"],
            arrows=(
                Arrow("scope", "sounds out of scope"),
                Arrow("where", "a request, a hazard or a complaint"),
                Arrow("when", "the description gives the place"),
                Arrow("name", "compliment, suggestion or question"),
            ),
        ),
        Step(
            name="scope",
            applies=lambda d: bool(d.get("scope_found")) and not hazard(d),
            fills=("scope",),
            prompt=ask_scope,
            parse=read.scope,
            choices=lambda d: ("Yes", "No"),
            fallback=read.scope_carry_on,
            why=WHY["scope"],
            help=HELP["scope"],
            arrows=(
                Arrow("name", "yes, record it for a redirect"),
                Arrow("where", "no, carry on"),
                Arrow("when", "no, carry on (the place given)"),
            ),
        ),
        Step(
            name="where",
            applies=asks_where,
            fills=("place",),
            prompt=ask_where,
            parse=read.where,
            fallback=read.where_as_said,
            why=WHY["where"],
            help=HELP["where"],
            arrows=(
                Arrow("where", "a hazard skipped once = why the City needs it"),
                Arrow("when", "an address, a corner, a landmark, a shared location or skip"),
            ),
        ),
        Step(
            name="when",
            applies=lambda d: (
                (investigated(d) or hazard(d) or d.get("kind") == "request") and not d.get("scope")
            ),
            fills=("when_text",),
            prompt=ask_when,
            parse=read.when,
            why=WHY["when"],
            help=HELP["when"],
            arrows=(
                Arrow("when", "unreadable once (the 2nd time, the words are kept)"),
                Arrow("when_time", "a complaint, and only a whole day was given"),
                Arrow("who", "a complaint"),
                Arrow("name", "a hazard or a request"),
            ),
        ),
        Step(
            name="when_time",
            applies=lambda d: bool(d.get("when_ask_time")),
            fills=("when_time",),
            prompt=ask_when_time,
            parse=read.when_time,
            why=WHY["when_time"],
            help=HELP["when_time"],
            arrows=(Arrow("who"),),
        ),
        Step(
            name="who",
            applies=investigated,
            fills=("who",),
            prompt=ask_who,
            parse=text_item("who"),
            fallback=not_known("who"),
            why=WHY["who"],
            help=HELP["who"],
            arrows=(Arrow("outcome"),),
        ),
        Step(
            name="outcome",
            applies=investigated,
            fills=("outcome",),
            prompt=ask_outcome,
            parse=text_item("outcome"),
            fallback=not_known("outcome"),
            why=WHY["outcome"],
            help=HELP["outcome"],
            arrows=(Arrow("name"),),
        ),
        Step(
            name="name",
            applies=always,
            fills=("name",),
            prompt=ask_name,
            parse=read.name,
            fallback=read.name_fallback,
            why=WHY["name"],
            help=HELP["name"],
            arrows=(
                Arrow("name", "refused once = explain policy 02.01"),
                Arrow("on_behalf", "a complaint, with a name"),
                Arrow("contact", "a name"),
                Arrow("summary", "no name"),
            ),
        ),
        Step(
            name="on_behalf",
            applies=lambda d: investigated(d) and bool(d.get("name")),
            fills=("on_behalf",),
            prompt=ask_on_behalf,
            parse=read.on_behalf,
            choices=lambda d: ("Me", "Someone else"),
            fallback=read.on_behalf_fallback,
            why=WHY["on_behalf"],
            help=HELP["on_behalf"],
            arrows=(
                Arrow("third_party", "someone else"),
                Arrow("contact", "me"),
            ),
        ),
        Step(
            name="third_party",
            applies=lambda d: d.get("on_behalf") == "other",
            fills=("third_party",),
            prompt=ask_third_party,
            parse=read.third_party,
            fallback=lambda text, d, now: Outcome({"third_party": ""}),
            why=WHY["third_party"],
            help=HELP["third_party"],
            arrows=(Arrow("contact"),),
        ),
        Step(
            name="contact",
            applies=lambda d: bool(d.get("name")),
            fills=("contact",),
            prompt=ask_contact,
            parse=read.contact,
            fallback=read.no_contact,
            why=WHY["contact"],
            help=HELP["contact"],
            arrows=(Arrow("summary"),),
        ),
        Step(
            name="summary",
            applies=always,
            fills=(),
            prompt=say.summary,
            parse=read.summary,
            choices=lambda d: ("Confirm", "Edit", "Cancel"),
            fallback=read.summary_way_out,
            why=WHY["summary"],
            help=HELP["summary"],
            arrows=(
                Arrow(ANY_QUESTION, "edit ITEM = that question again, then back here"),
                Arrow("filed", "confirm = decide() + store + acknowledgement"),
            ),
        ),
    )


#: States outside the table with a longer name in the diagram.
STATES = {ANY_QUESTION: "any question above"}
#: The arrows that belong to no single row, as (from, Arrow); "[*]" is the start (drawn first).
AROUND: tuple[tuple[str, Arrow], ...] = (
    ("[*]", Arrow("kind", "greeting")),
    (
        ANY_QUESTION,
        Arrow(ANY_QUESTION, "back, help, why, a shared location, or a first abusive message"),
    ),
    (ANY_QUESTION, Arrow("kind", "restart")),
    (ANY_QUESTION, Arrow("cancelled", "cancel")),
    (ANY_QUESTION, Arrow("ended", "abusive language a second time (the first time: a warning)")),
    (ANY_QUESTION, Arrow("paused", "no message for dialogue.idle_minutes")),
    ("paused", Arrow(ANY_QUESTION, "resume, or any answer = the same question")),
    ("filed", Arrow("filed", "a message within dialogue.add_to_case_hours joins the case")),
    ("filed", Arrow("kind", "new / start again / a greeting / after the window")),
    ("cancelled", Arrow("kind", "any message starts again")),
    ("ended", Arrow("kind", "a message after dialogue.abuse_cooloff_minutes")),
)
