"""The dialogue's Mermaid diagram, drawn from its table (bot/flows/steps.py): each row's
arrows in table order, then the arrows around the questions. docs/dialogue.md is this text;
`caredesk flow diagram` prints it and a test keeps the committed copy equal, so the picture
cannot drift from the dialogue.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.flows.base import Arrow, Step
from bot.flows.steps import AROUND, STATES

HEADER = """\
# The complaint dialogue

Generated from the table in `bot/flows/steps.py` by `caredesk flow diagram > docs/dialogue.md`;
do not edit by hand (a test checks that this file equals the generated one). Each question
moves to the first row of the table, in order, that applies and is not answered yet, so a
first message in the resident's own words (free text) may skip several questions. An answer
a question cannot read asks it again with its choices, then takes the row's way out.
"""


def _line(source: str, arrow: Arrow) -> str:
    label = f": {arrow.label}" if arrow.label else ""
    return f"    {source} --> {arrow.to}{label}"


def mermaid(steps: Iterable[Step]) -> str:
    """The stateDiagram-v2 text: states outside the table named first, then the arrows."""
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{label}" as {name}' for name, label in STATES.items()]
    rows = list(steps)
    start = [a for a in AROUND if a[0] == "[*]"]
    lines += [_line(source, arrow) for source, arrow in start]
    lines += [_line(step.name, arrow) for step in rows for arrow in step.arrows]
    lines += [_line(source, arrow) for source, arrow in AROUND if source != "[*]"]
    return "\n".join(lines) + "\n"


def markdown(steps: Iterable[Step]) -> str:
    """docs/dialogue.md: a short header and the diagram."""
    return f"{HEADER}\n```mermaid\n{mermaid(steps)}```\n"
