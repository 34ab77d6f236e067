"""Where a case is: an address, an intersection, a landmark or a shared location; pure.

A department, and an Open311 service request (`address_string`, `lat`/`long`), needs a place
(issue 12). Residents give one in three ways: in their own words in a description or an email
("a pothole outside 12 Elm Street"), as the answer to the dialogue's "where" question ("King and
Queen", "outside the Central Library"), or as a Telegram location share (coordinates).

Reading free text is conservative (DESIGN.md: when unsure, the item is missing and the resident
is asked): an address needs a street number, a name and a street suffix ("12 Elm St"); an
intersection needs a cue ("at", "on the corner of", "near") and a street suffix or the words
"corner"/"intersection"; a landmark needs a cue and a capitalised name ending in a landmark
noun ("outside the Central Library"). "2 weeks ago", "at 5 pm" and "on Monday" are no places.
An answer to the question is taken as given (it is what the resident says the place is), only
cleaned and bounded. Every pattern is a sequence of bounded pieces, so a scan is linear.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

#: What a place may be.
KINDS = ("address", "intersection", "landmark", "coordinates")
#: A place is a line, not a letter: longer answers are refused in the dialogue, cut elsewhere.
MAX_PLACE_CHARS = 200
#: Free text is searched this far (an email body can be long; a place is said early).
SCAN_CHARS = 4000

_SUFFIXES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Crescent|Cres|Court|Ct|"
    "Place|Pl|Terrace|Terr|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Square|Sq|Gate|Grove|"
    "Heights|Hts|Line|Sideroad|Concession|Close|Mews|Row|Gardens|Gdns|Promenade"
)
_DIRECTION = r"(?:\s+(?:North|South|East|West|N|S|E|W|NE|NW|SE|SW)\b\.?)?"
#: A word of a street name: capitalised ("Elm", "O'Connor", "St.-Laurent") or an ordinal ("2nd").
_NAME_WORD = r"(?:[A-Z][\w'.-]{0,30}|\d{1,3}(?:st|nd|rd|th))"
_LOOSE_WORD = r"(?:[^\W\d_][\w'.-]{0,30}|\d{1,3}(?:st|nd|rd|th))"
_NUMBER = r"\d{1,6}(?:-\d{1,6})?[A-Za-z]?"


def _street(word: str) -> str:
    """A street name of one to four words that ends in a street suffix."""
    return rf"(?:{word}\s+){{1,4}}?(?i:{_SUFFIXES})\b\.?{_DIRECTION}"


_ADDRESS = re.compile(rf"\b{_NUMBER},?\s+{_street(_NAME_WORD)}")
_ADDRESS_LOOSE = re.compile(rf"\b{_NUMBER},?\s+{_street(_LOOSE_WORD)}", re.IGNORECASE)
#: One street of an intersection: a named street, with or without its suffix.
_SIDE = rf"(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD}(?:\s+(?i:{_SUFFIXES})\b\.?)?{_DIRECTION}"
_INTERSECTION = re.compile(
    r"\b(?P<cue>(?i:at the corner of|on the corner of|corner of|at the intersection of|"
    r"intersection of|near the corner of|at|on|near|by))\s+"
    rf"(?P<a>{_SIDE})\s+(?i:and|&|at)\s+(?P<b>{_SIDE})"
)
_SUFFIX_END = re.compile(rf"(?i:{_SUFFIXES})\.?{_DIRECTION}$")
_LANDMARK_NOUNS = (
    "Library|Park|School|Arena|Centre|Center|Hall|Station|Hospital|Mall|Plaza|Church|Pool|"
    "Market|Stadium|Museum|Beach|Playground|Cemetery|Terminal|Bridge|Gardens|Garden|Tower|"
    "College|University|Field|Rink|Complex|Courthouse|Theatre|Theater|Pier|Marina|Dock|Lot|"
    "Garage|Depot|Ravine|Conservation Area"
)
_LANDMARK = re.compile(
    r"\b(?i:outside|in front of|behind|beside|next to|across from|opposite|near|at|by|in)\s+"
    rf"(?:(?i:the)\s+)?(?P<name>(?:{_NAME_WORD}\s+){{1,4}}?(?:{_LANDMARK_NOUNS}))\b"
)
#: A whole answer that names two streets: "King and Queen", "corner of Main St & 2nd Ave".
_CROSSING_ANSWER = re.compile(
    r"^(?:(?:at\s+)?(?:the\s+)?(?:corner|intersection)\s+of\s+)?"
    rf"(?P<a>(?:{_LOOSE_WORD}\s+){{0,3}}{_LOOSE_WORD})\s+(?:and|&|at|/)\s+"
    rf"(?P<b>(?:{_LOOSE_WORD}\s+){{0,3}}{_LOOSE_WORD})\.?$",
    re.IGNORECASE,
)
#: Words that begin an answer that is a sentence, not two street names ("me and my wife").
_NOT_STREETS = frozenset(
    {
        *("i", "me", "we", "my", "it", "he", "she", "they", "you", "the", "a", "there", "this"),
        *("outside", "near", "by", "behind", "in", "at", "on", "beside", "between", "across"),
        *("opposite", "next", "front", "from", "yesterday", "today"),
    }
)


_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
#: An answer that says when, not where ("right now", "2 weeks ago", "at 5 pm", "on Monday"):
#: given to the "where" question, it is the next question's answer, not a landmark.
_TIME_ONLY = re.compile(
    r"^(?:(?:right |just )?now|today|tonight|yesterday|this (?:morning|afternoon|evening)|"
    r"last (?:night|week|month|year)|this (?:week|month)|(?:since |on |last |this )?" + _DAY + r"|"
    r"(?:about |around )?(?:\d{1,3}|a|an|one|two|three|a few) "
    r"(?:minutes?|hours?|days?|weeks?|months?|years?) ago|"
    r"(?:at |around |about )?\d{1,2}(?::\d{2})? ?(?:[ap]\.?m\.?)?)"
    r"(?: (?:at |around |about )?\d{1,2}(?::\d{2})? ?(?:[ap]\.?m\.?)?)?[.!]?$",
    re.IGNORECASE,
)


class PlaceError(ValueError):
    """Not a place caredesk can keep; the message is for the resident."""


@dataclass(frozen=True)
class Place:
    """Where a case is. `text` is what the resident said (cleaned); `address` what a tracker's
    `address_string` takes (an address or an intersection); `lat`/`long` a shared location."""

    text: str
    kind: str
    address: str | None = None
    lat: float | None = None
    long: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PlaceError(f"not a kind of place: {self.kind!r}")
        if not self.text or len(self.text) > MAX_PLACE_CHARS:
            raise PlaceError(f"a place needs a text of at most {MAX_PLACE_CHARS} characters")
        if self.address is not None and not 0 < len(self.address) <= MAX_PLACE_CHARS:
            raise PlaceError(f"an address of at most {MAX_PLACE_CHARS} characters")
        if (self.lat is None) != (self.long is None):
            raise PlaceError("a location needs both a latitude and a longitude")
        if self.lat is not None and self.long is not None:
            check_coordinates(self.lat, self.long)
        elif self.kind == "coordinates":
            raise PlaceError("a shared location needs its coordinates")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, value: Any) -> Place:
        """A place as stored; anything that is not one is a PlaceError, never a guess."""
        if not isinstance(value, dict):
            raise PlaceError("not a place")
        try:
            lat, long = value.get("lat"), value.get("long")
            return cls(
                text=_clean(str(value["text"])),
                kind=str(value["kind"]),
                address=_clean(str(value["address"])) or None if value.get("address") else None,
                lat=None if lat is None else float(lat),
                long=None if long is None else float(long),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlaceError(f"not a place: {exc}") from None

    @classmethod
    def from_json(cls, raw: str) -> Place:
        try:
            return cls.from_dict(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise PlaceError(f"not a place: {exc}") from None

    def describe(self) -> str:
        """The place in words, for a summary, staff and a tracker's description."""
        if self.kind == "coordinates":
            return f"the location you shared ({self.text})"
        return self.text


def place_of(value: Any) -> Place | None:
    """A stored place (a dict from a conversation's state, or the case's JSON), or None when
    there is none or it does not hold up."""
    if value is None or value == "":
        return None
    try:
        return Place.from_json(value) if isinstance(value, str) else Place.from_dict(value)
    except PlaceError:
        return None


def check_coordinates(lat: float, long: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(long)):
        raise PlaceError("That location has no usable coordinates.")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
        raise PlaceError(
            "That location is off the map (a latitude is between -90 and 90, a longitude "
            "between -180 and 180)."
        )


def shared_location(lat: float, long: float) -> Place:
    """A location shared from a phone (Telegram): coordinates, rounded to about a metre."""
    check_coordinates(lat, long)
    lat, long = round(lat, 5), round(long, 5)
    return Place(f"{lat:.5f}, {long:.5f}", "coordinates", None, lat, long)


def _clean(text: str) -> str:
    """One line of printable text: NFC, no control or format characters (an RTL override
    would make staff read another address), single spaces, at most MAX_PLACE_CHARS."""
    text = unicodedata.normalize("NFC", text[: MAX_PLACE_CHARS * 4])
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.split())
    return text[:MAX_PLACE_CHARS].rstrip()


def _tidy(span: str) -> str:
    return _clean(span).rstrip(",;:")


def find_place(text: str) -> Place | None:
    """The place free text gives, conservatively (an address, then an intersection, then a
    named landmark), or None."""
    text = _clean_scan(text[:SCAN_CHARS])
    found = _ADDRESS.search(text)
    if found:
        said = _tidy(found.group(0))
        return Place(said, "address", said)
    for match in _INTERSECTION.finditer(text):
        cue = match.group("cue").lower()
        a, b = match.group("a"), match.group("b")
        if (
            "corner" in cue
            or "intersection" in cue
            or _SUFFIX_END.search(a)
            or _SUFFIX_END.search(b)
        ):
            said = _tidy(match.group(0)[match.end("cue") - match.start() :])
            return Place(said, "intersection", _tidy(f"{a} and {b}"))
    landmark = _LANDMARK.search(text)
    if landmark:
        return Place(_tidy(landmark.group("name")), "landmark")
    return None


def _clean_scan(text: str) -> str:
    """Free text as it is searched: control and format characters out, lines kept apart."""
    return "".join(
        ch if ch == "\n" or unicodedata.category(ch)[0] not in "C" else " " for ch in text
    )


def read_place(answer: str) -> Place:
    """An answer to "where is it?": taken as the resident gave it (cleaned), with its kind:
    an address, two streets, or else a landmark (a description of the spot)."""
    said = _clean(answer)
    if len(answer.strip()) > MAX_PLACE_CHARS:
        raise PlaceError(
            "That's a bit long for a place. Please give just the street address, the "
            "nearest corner (for example King and Queen) or a landmark."
        )
    if sum(ch.isalnum() for ch in said) < 2:
        raise PlaceError(
            "Please type a street address, the nearest corner (for example King and Queen) "
            "or a landmark (for example outside the Central Library)."
        )
    if _TIME_ONLY.match(said):
        raise PlaceError(
            "That sounds like when it happened; I'll ask about that next. First, where is it? "
            "A street address, the nearest corner or a landmark."
        )
    found = _ADDRESS_LOOSE.search(said)
    if found:
        return Place(said, "address", _tidy(found.group(0)))
    crossing = _CROSSING_ANSWER.match(said)
    if crossing and crossing.group("a").split()[0].lower() not in _NOT_STREETS:
        return Place(said, "intersection", f"{crossing.group('a')} and {crossing.group('b')}")
    inside = find_place(said)
    if inside is not None and inside.kind == "intersection":
        return Place(said, "intersection", inside.address)
    return Place(said, "landmark")
