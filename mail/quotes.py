"""Whether quotequail could find anything in a text: a cheap pre-check, so that the many
messages with no quoted history skip its line-by-line search (about 5 ms for a 1 KB body).

quotequail.unwrap finds nothing unless one of these is in the text it is given:
- a line starting with ">" (quoted lines);
- a reply or forward line ("On ... wrote:", "Begin forwarded message:", "-----Original
  Message-----", a line of underscores, a Gmail "2026/11/20 Name <a@b>" line...): each of its
  patterns holds one of `TRIGGERS`, which are looked for without regard to case, with line
  breaks read as spaces (quotequail joins a wrapped line with a space, or with nothing after
  one of `<([{"'`, which no trigger holds);
- a header line ("From:", "De :", "*Sent:*"...) whose name is one it knows.
The check may say yes when quotequail then finds nothing; it never says no when it would find
something (tests/unit/test_mail_quotes.py holds each quotequail pattern to a trigger).
"""

from __future__ import annotations

import re

from quotequail._patterns import HEADER_MAP

#: A word of each reply and forward pattern quotequail knows (see its _patterns.py).
TRIGGERS = (
    # replies: English, German, French, Spanish, Russian, Swedish, Portuguese, Dutch x2
    "wrote",
    "schrieb",
    "crit",
    "escribi",
    "написал",
    "skrev",
    "escreveu",
    "schreef",
    "geschreven",
    "@",  # Gmail's "YYYY/MM/DD Name <address>"
    # forwards
    "___",
    "forwarded",
    "weitergeleiteten",
    "du message r",
    "reenviado",
    "oorgestuurd",
    "vidarebefordrat",
    "riginal",
    "nachricht",
    "oorspronkelijk",
    "message transf",
    "origineel",
    "пересылаемое",
)
_TRIGGER = re.compile("|".join(re.escape(t) for t in TRIGGERS), re.IGNORECASE)
#: quotequail's HEADER_RE (`\*?([-\w ]+):`) with a name it maps, spaces around it allowed.
_HEADER = re.compile(
    r"^\*?[ ]*(?:" + "|".join(re.escape(name) for name in HEADER_MAP) + r")[ ]*:",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED = re.compile(r"^>", re.MULTILINE)


def may_have_quote(text: str) -> bool:
    """False only when quotequail.unwrap(text) is sure to find nothing."""
    return bool(
        _QUOTED.search(text) or _HEADER.search(text) or _TRIGGER.search(text.replace("\n", " "))
    )
