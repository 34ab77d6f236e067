"""Sentences of an email body: wrapped lines joined, then split where sentences end.

Mail programs wrap lines at about 72 characters, so a line break inside a paragraph is not a
sentence end ("...waved to the driver of\\nthe truck"). A line break stays a break before a
list item or a "Label: value" line and after a short line (an address, a form field). A full
stop ends a sentence unless it ends an abbreviation ("St.", "Dr.", "a.m.", "e.g.") or an
initial ("J. Smith"). pysbd does this too, but it is unmaintained since 2021 and runs dozens
of regular expressions a sentence; these rules are one linear pass each and know what
residents' mail needs (street and time abbreviations).
"""

from __future__ import annotations

import re
from itertools import pairwise

_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")
#: A line that starts something new: a list item or a form field ("When: Monday").
_NEW_ITEM = re.compile(r"[ \t]*(?:[-*•·]|\d{1,2}[.)]|[A-Za-z][A-Za-z /'-]{0,30}:(?:\s|$))")
#: A line shorter than this is not wrapped text (wrapping happens near 72 characters).
SHORT_LINE = 40
#: A possible sentence end: terminators, closing quotes or brackets, then space.
_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+|\n+")
_LAST_WORD = re.compile(r"[\w.]+$")
#: Words a full stop does not end a sentence after (lower case, without the final stop).
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "ave",
        "av",
        "rd",
        "blvd",
        "cres",
        "ct",
        "hwy",
        "ln",
        "pl",
        "sq",
        "mt",
        "ft",
        "apt",
        "no",
        "nos",
        "approx",
        "dept",
        "e.g",
        "i.e",
        "vs",
        "a.m",
        "p.m",
        "am",
        "pm",
        "u.s",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "tel",
        "ph",
    }
)
#: Titles: never the end of a sentence ("Dr. Smith").
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof"})
#: Words that start a sentence: after a street or time abbreviation they end the sentence
#: before them ("I live on Oak St. The bin...", "at 9 a.m. The driver...").
_STARTERS = frozenset(
    [
        "the",
        "i",
        "my",
        "we",
        "our",
        "it",
        "this",
        "there",
        "he",
        "she",
        "they",
        "his",
        "her",
        "their",
        "on",
        "in",
        "at",
        "when",
        "then",
        "after",
        "please",
        "also",
        "and",
        "but",
        "nobody",
        "no",
    ]
)
#: Sentences are cut to this many characters (a reply quotes them; nobody writes longer ones).
MAX_SENTENCE = 600


def unwrap(text: str) -> str:
    """The text with wrapped lines joined: one line per paragraph, list item or form field."""
    out = []
    for paragraph in _PARAGRAPHS.split(text.strip()):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        joined = [lines[0]]
        for previous, line in pairwise(lines):
            if len(previous) < SHORT_LINE or _NEW_ITEM.match(line):
                joined.append("\n" + line)
            else:
                joined.append(" " + line)
        out.append("".join(joined))
    return "\n".join(out)


def sentences(text: str) -> list[str]:
    """The sentences of a body, each on one line, in order."""
    text = unwrap(text)
    found: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if "\n" not in match.group(0) and not _ends_sentence(text, match):
            continue
        _add(found, text[start : match.end()])
        start = match.end()
    _add(found, text[start:])
    return found


def _add(found: list[str], sentence: str) -> None:
    sentence = " ".join(sentence.split())
    if sentence:
        found.append(sentence[:MAX_SENTENCE])


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether the full stop (or ! or ?) at `match` ends a sentence."""
    mark = match.group(0).rstrip()
    following = text[match.end() : match.end() + 20]
    next_word = following.split(" ", 1)[0].strip("\"'“‘(").lower() if following else ""
    if following and not (
        following[0].isupper() or following[0].isdigit() or following[0] in "\"'“‘("
    ):
        return False  # a sentence starts with a capital, a digit or a quote
    if not mark.startswith(".") or len(mark.rstrip("\"'”’)]")) > 1:
        return True  # "!", "?", "..." end a sentence
    before = _LAST_WORD.search(text[max(0, match.start() - 12) : match.start()])
    word = before.group(0).lower() if before else ""
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "J. Smith"
    if word in _TITLES:
        return False
    if word in ABBREVIATIONS:
        return next_word in _STARTERS
    return True
