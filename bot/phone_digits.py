"""Whether a text could hold a phone number phonenumbers' matcher would find: a cheap
pre-check, so that the many messages with no phone number skip the matcher (about 1.5 ms for
a 1 KB email, most of it spent parsing house numbers, dates and times as candidates).

The matcher's candidates are runs of digits separated by at most four punctuation characters
(its own pattern), and a match is a valid number: for the region's national format, at least
the shortest national number the region has; written with "+", a country code and a national
number of some country. Both shortest lengths are read from phonenumbers' own metadata, and
one digit is taken off for safety, so a text with no such run of digits holds no match.

The same bound cuts the matcher's own work on a text that does hold a number: every run of
digits in an email (house numbers, times, dates, bus routes) is a candidate it parses and
validates, at tens of microseconds each (a North American number is checked against every
region that shares +1). `PhoneMatcher` answers "no" at once for a candidate with fewer
digits than any valid number has, and lets the stock matcher do everything else, in the same
order and with the same count of tries, so what it finds is what the stock matcher finds.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION, COUNTRY_CODE_TO_REGION_CODE


def _shortest(metadata: PhoneMetadata | None) -> int | None:
    desc = metadata.general_desc if metadata is not None else None
    lengths = [n for n in (desc.possible_length if desc is not None else ()) if n > 0]
    return min(lengths) if lengths else None


def _shortest_international() -> int:
    found = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            shortest = _shortest(PhoneMetadata.metadata_for_region_or_calling_code(code, region))
            if shortest is not None:
                found.append(len(str(code)) + shortest)
    return min(found)


@functools.cache
def least_digits(region: str) -> int:
    """Fewer digits than any number phonenumbers' matcher accepts for `region` (national, or
    international with a country code), one taken off for safety; at least 1."""
    national = _shortest(PhoneMetadata.metadata_for_region(region.upper()))
    return max(min(_shortest_international(), national or 99) - 1, 1)


@functools.cache
def _digit_run(region: str) -> re.Pattern[str]:
    digits = least_digits(region)
    return re.compile(rf"\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d){{{digits - 1}}}")


def may_hold_phone(text: str, region: str) -> bool:
    """False only when phonenumbers' matcher is sure to find no number in the text."""
    return _digit_run(region).search(text) is not None


class PhoneMatcher(PhoneNumberMatcher):
    """phonenumbers' matcher, minus the parse of candidates too short to be a number.

    `_parse_and_verify` is where the stock matcher parses and validates one candidate (the
    whole run, or a piece of it); it is the only step skipped, and only when the candidate
    holds fewer than `least_digits` characters that could become digits (decimal digits in
    any script, and letters: a vanity number's letters are read as digits). The tries are
    counted by the caller of this method, so they are counted exactly as before. Only for
    VALID leniency or stricter: POSSIBLE accepts local-only lengths, shorter than the bound."""

    def __init__(self, text: str, region: str, **kwargs: Any) -> None:
        super().__init__(text, region, **kwargs)
        self._least = least_digits(region) if self.leniency >= Leniency.VALID else 0

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        if sum(1 for c in candidate if c.isdecimal() or c.isalpha()) < self._least:
            return None
        return super()._parse_and_verify(candidate, offset)
