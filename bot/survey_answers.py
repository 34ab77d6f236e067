"""Reading a resident's answers to the satisfaction survey (bot/survey.py); pure.

The survey asks three things: was it handled well (yes/no or a score from 1 to 5), was it
dealt with in good time (yes/no), and anything else. Residents answer as people do: "yes",
"5", "4/5", "1. yes 2. no 3. too slow", "it was fine but slow", "no". The reading is
deliberately modest: an explicit answer (a score, a yes or a no, a numbered line) is taken as
given; a few plain words ("fine", "slow", "quick") count when nothing explicit was said; the
resident's own words are always kept as the comment when they say more than a bare answer,
so nothing is lost to a wrong guess. Text that answers nothing is kept as the comment alone.
"stop" or "no surveys" is an opt-out, not an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Whole answers (punctuation and case aside) that mean "send me no more surveys".
STOP_ANSWERS = frozenset({"stop", "stop surveys", "unsubscribe", "no survey", "no surveys"})
STOP_PHRASES = ("no surveys", "no more surveys", "stop sending surveys", "unsubscribe")
COMMENT_CHARS = 2000

YES = frozenset({"yes", "yep", "yeah", "yea", "y", "sure", "definitely", "absolutely", "oui"})
NO = frozenset({"no", "nope", "nah", "n", "non"})
#: Plain words that answer "handled well?" when no yes, no or score was given.
GOOD = frozenset({"fine", "good", "great", "excellent", "well", "happy", "satisfied", "ok", "okay"})
BAD = frozenset({"bad", "poor", "terrible", "awful", "unhappy", "disappointed", "unsatisfied"})
#: ...and "in good time?"
FAST = ("on time", "in good time", "quick", "quickly", "fast", "prompt", "promptly", "timely")
SLOW = ("slow", "slowly", "late", "too long", "took long", "took forever", "delay", "delayed")
NEGATIONS = frozenset({"not", "never", "wasn't", "wasnt", "isn't", "isnt", "didn't", "didnt"})

#: Lines of the survey itself (templates/replies/survey.txt.j2), left out when a mail program
#: sent them back unquoted: the questions' own "yes or no" must never be read as an answer.
QUESTION_MARKS = (
    "did we handle your",
    "did we deal with it in good time",
    "is there anything else you would like to tell us",
    "to answer, reply to this email",
    "to answer, send your answers here",
)
_NUMBERED = re.compile(r"^\s*(?:q(?:uestion)?\s*)?([123])\s*[.):\-]\s*(.*)$", re.I)
_SCORE = re.compile(r"\b([1-5])\s*(?:/|out of)\s*5\b", re.I)
_LONE_SCORE = re.compile(r"^\s*([1-5])(?:\s*[.!,;]|\s*$|\s+(?=[a-z]))", re.I)
_WORD = re.compile(r"[a-z']+|\d+", re.I)


@dataclass(frozen=True)
class Answers:
    handled: bool | None = None  # handled well?
    score: int | None = None  # 1-5 when a score was given
    timely: bool | None = None  # dealt with in good time?
    comment: str | None = None  # the resident's words, when they said more than an answer
    stop: bool = False  # no more surveys

    @property
    def empty(self) -> bool:
        return self.handled is None and self.timely is None and not self.comment


def _plain(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _polar_words(text: str) -> list[bool]:
    """Each yes or no in `text`, in order."""
    return [w in YES for w in _WORD.findall(text.lower()) if w in YES or w in NO]


def _phrase(plain: str, phrases: tuple[str, ...] | frozenset[str]) -> bool | None:
    """True when a phrase is there, False when only negated ("not quick"), None when absent."""
    found: bool | None = None
    for phrase in phrases:
        for match in re.finditer(rf"\b{re.escape(phrase)}\b", plain):
            before = plain[: match.start()].split()[-2:]
            if NEGATIONS & set(before):
                found = False if found is None else found
            else:
                return True
    return found


def _handled_words(plain: str) -> bool | None:
    good, bad = _phrase(plain, GOOD), _phrase(plain, BAD)
    if good is True and bad is not True:
        return True
    if bad is True and good is not True:
        return False
    if good is False:  # "not good"
        return False
    return None


def _timely_words(plain: str) -> bool | None:
    fast, slow = _phrase(plain, FAST), _phrase(plain, SLOW)
    if slow is True and fast is not True:
        return False
    if fast is True and slow is not True:
        return True
    if fast is False:  # "not quick"
        return False
    if slow is False:  # "not late"
        return True
    return None


def _score(text: str) -> int | None:
    match = _SCORE.search(text) or _LONE_SCORE.match(text)
    return int(match.group(1)) if match else None


def _handled_of(score: int | None) -> bool | None:
    if score is None or score == 3:
        return None
    return score >= 4


def _is_bare(text: str) -> bool:
    """Nothing but answers: yes/no words, a score, numbering and punctuation."""
    words = _WORD.findall(text.lower())
    return all(w in YES or w in NO or w.isdigit() or w == "out" or w == "of" for w in words)


def _comment(text: str) -> str | None:
    text = text.strip()
    if not text or _is_bare(text):
        return None
    return text[:COMMENT_CHARS]


def _numbered(numbered: dict[int, str], rest: list[str]) -> Answers:
    """Answers written after the questions' numbers ("1. yes", "2) no", "Q3: ...")."""
    first = numbered.get(1, "")
    score = _score(first)
    polar = _polar_words(first)
    handled = _handled_of(score) if score is not None else (polar[0] if polar else None)
    if handled is None and score is None:
        handled = _handled_words(_plain(first))
    second = numbered.get(2, "")
    polar2 = _polar_words(second)
    timely = polar2[0] if polar2 else _timely_words(_plain(second))
    words = [numbered.get(3, ""), *rest]
    extra = [_comment(first) if score is None and not polar else None]
    comment = "\n".join(c for c in [*extra, *(_comment(w) for w in words)] if c) or None
    return Answers(handled, score, timely, comment)


def parse_answers(text: str) -> Answers:
    """The answers in a reply to the survey (see the module docstring)."""
    lines = [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith(">") and not any(m in line.lower() for m in QUESTION_MARKS)
    ]
    text = "\n".join(lines).strip()
    plain = _plain(text)
    if plain in STOP_ANSWERS or any(p in plain for p in STOP_PHRASES):
        return Answers(stop=True)
    numbered: dict[int, str] = {}
    rest: list[str] = []
    for line in text.splitlines():
        match = _NUMBERED.match(line)
        if match and int(match.group(1)) not in numbered:
            numbered[int(match.group(1))] = match.group(2).strip()
        elif line.strip():
            rest.append(line.strip())
    if numbered:
        return _numbered(numbered, rest)
    score = _score(text)
    polar = _polar_words(text)
    if not _is_bare(text) and len(plain.split()) > 6:
        # In a longer sentence only a leading yes or no is an answer ("no one answered my
        # calls" is not one); the sentence is kept as the comment either way.
        polar = polar[:1] if plain.split()[0] in YES | NO else []
    handled = _handled_of(score)
    timely: bool | None = None
    if score is not None:
        timely = polar[0] if polar else None
    elif polar:
        handled = polar[0]
        timely = polar[1] if len(polar) > 1 else None
    if handled is None and score is None:
        handled = _handled_words(plain)
    if timely is None:
        timely = _timely_words(plain)
    return Answers(handled, score, timely, _comment(text))
