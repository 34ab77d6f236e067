"""The dialogue's Mermaid diagram, drawn from its table (bot/flows/steps.py): each row's
arrows in table order, then the arrows around the questions. `caredesk flow diagram` prints
it; the copy in the table module's docstring is its output, and a test keeps the two equal,
so the picture cannot drift from the dialogue.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.flows.base import Arrow, Step
from bot.flows.steps import AROUND, STATES


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


def fenced(steps: Iterable[Step]) -> str:
    """The diagram as a Markdown code block, as the table module's docstring holds it."""
    return f"```mermaid\n{mermaid(steps)}```\n"


def in_docstring(doc: str) -> str:
    """The Mermaid block of a docstring (empty if it has none)."""
    start = doc.find("```mermaid\n")
    end = doc.find("```\n", start + 1)
    return doc[start : end + 4] if start >= 0 and end >= 0 else ""
