"""Greetings, sign-offs and signature blocks: the courtesy around what a resident wrote.

"Hi,", "Dear Sir or Madam," and "Good morning" open a mail; "Thanks,", "Regards, Jane",
"Sent from my iPhone" and everything after a "-- " line close it. None of it says what
happened, but the sign-off often says who wrote ("Regards,\\nJane Doe"). Every pattern is
anchored to one line of bounded length, so each check is linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GREETING_WORDS = (
    r"(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening|day)|"
    r"dear [^\n,:;!]{1,60}|to whom it may concern|bonjour|salut)"
)
#: A line that is only a greeting: "Hi,", "Hello City of Toronto!", "Dear Sir or Madam,".
_GREETING_LINE = re.compile(
    r"(?i)" + _GREETING_WORDS + r"(?: there| all| everyone| team)?(?: [^\W\d_][\w.'-]{0,30}){0,4}"
    r" ?[,!:.;-]*"
)
#: A greeting before the first sentence on the same line: "Hi, the bin was not emptied."
_GREETING_PREFIX = re.compile(
    r"(?i)(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings)(?: there| all)?"
    r" ?[,!:;-]+ +"
)
_SIGN_OFF_WORDS = (
    r"(?:thanks|thank you|thx|many thanks|thanks again|thanks in advance|thank you in advance|"
    r"thanks so much|thank you so much|thank you very much|with thanks|"
    r"regards|kind regards|best regards|warm regards|warmest regards|kindest regards|"
    r"best wishes|best|all the best|cheers|sincerely|yours sincerely|sincerely yours|"
    r"yours truly|yours faithfully|respectfully|respectfully yours|take care|cordially|"
    r"thank you for your (?:help|time|attention|assistance)(?: in this matter)?)"
)
#: A sign-off line, perhaps with the name on it: "Regards,", "Thanks - Jane", "Best, Jane Doe".
_SIGN_OFF = re.compile(r"(?i)" + _SIGN_OFF_WORDS + r" ?[,.!]* ?(?:[-–—] ?)?(?P<name>[^\n]{0,60})")
#: A mobile mail program's line: not the resident's words.
_DEVICE_LINE = re.compile(
    r"(?i)(?:sent from my [^\n]{1,40}|sent from (?:mail|outlook|yahoo mail|gmail)[^\n]{0,40}|"
    r"get outlook for [^\n]{1,30}|sent via [^\n]{1,40})"
)
#: The signature separator ("-- " once lines are stripped) or a line of underscores.
_SEPARATOR = re.compile(r"--|-- |_{5,}")
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’.-]{0,30}")
#: Words that close a mail in a name's place but name nobody.
_NOT_NAMES = frozenset(
    {
        "resident",
        "residents",
        "anonymous",
        "citizen",
        "taxpayer",
        "homeowner",
        "neighbour",
        "neighbor",
        "concerned",
        "me",
        "sent",
        "thanks",
        "regards",
        "the",
        "a",
        "your",
        "from",
        "city",
        "team",
    }
)
#: "My name is Jane Doe": the capitalised words after it are a name.
_MY_NAME = re.compile(r"(?i)\bmy name is ((?:[^\W\d_][\w'’.-]{0,30}(?: |$)){1,4})")
#: At most this many lines after a sign-off are its signature (name, address, phone).
SIGNATURE_LINES = 8


@dataclass(frozen=True)
class Courtesy:
    """A body split into its opening greeting, the resident's own words, and the closing."""

    content: str
    signer: str | None  # the name under or on the sign-off line, when it looks like one


def name_like(text: str) -> str | None:
    """1-4 capitalised words of letters ("Jane Doe", "Amélie Bélanger", "O'Neil"), or None."""
    words = text.split()
    if not 1 <= len(words) <= 4 or len(text) > 60:
        return None
    for word in words:
        if not _NAME_WORD.fullmatch(word) or not word[0].isupper():
            return None
        if word.lower().strip(".") in _NOT_NAMES:
            return None
    return " ".join(words)


def my_name_is(text: str) -> str | None:
    """The name in "My name is Jane Doe and ...": its capitalised words, in order."""
    match = _MY_NAME.search(text)
    if match is None:
        return None
    words = []
    for word in match.group(1).split():
        word = word.rstrip(".,'’")
        if not word or not word[0].isupper():
            break
        words.append(word)
    return name_like(" ".join(words)) if words else None


def is_greeting(line: str) -> bool:
    return len(line) <= 80 and _GREETING_LINE.fullmatch(line.strip()) is not None


def split_courtesy(text: str) -> Courtesy:
    """The resident's own words without the greeting before them and the sign-off, device
    line and signature after them; and the name the sign-off gives."""
    lines = text.split("\n")
    start = 0
    while start < len(lines) and (not lines[start].strip() or is_greeting(lines[start])):
        start += 1
    if start < len(lines):
        prefix = _GREETING_PREFIX.match(lines[start])
        if prefix:
            lines[start] = lines[start][prefix.end() :]
    end, signer = len(lines), None
    for index in range(start, len(lines)):
        line = lines[index].strip()
        if _SEPARATOR.fullmatch(line) or _DEVICE_LINE.fullmatch(line):
            end = index
            if line.startswith("--"):  # a signature block starts with the name
                signer = _name_below(lines[index + 1 : index + 2])
            break
        if len(lines) - index > SIGNATURE_LINES + 1 or len(line) > 120:
            continue
        sign_off = _SIGN_OFF.fullmatch(line)
        on_line = sign_off.group("name").strip(" ,.!") if sign_off else ""
        if sign_off and (not on_line or name_like(on_line)):
            end = index
            signer = name_like(on_line) if on_line else _name_below(lines[index + 1 :])
            break
    content = "\n".join(lines[start:end]).strip()
    return Courtesy(content, signer)


def _name_below(lines: list[str]) -> str | None:
    for line in lines:
        if line.strip():
            return name_like(line.strip().rstrip(","))
    return None
