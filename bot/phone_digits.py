"""Whether a text could hold a phone number phonenumbers' matcher would find: a cheap
pre-check, so that the many messages with no phone number skip the matcher (about 1.5 ms for
a 1 KB email, most of it spent parsing house numbers, dates and times as candidates).

The matcher's candidates are runs of digits separated by at most four punctuation characters
(its own pattern), and a match is a valid number: for the region's national format, at least
the shortest national number the region has; written with "+", a country code and a national
number of some country. Both shortest lengths are read from phonenumbers' own metadata, and
one digit is taken off for safety, so a text with no such run of digits holds no match.
"""

from __future__ import annotations

import functools
import re

from phonenumbers import PhoneMetadata
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
def _digit_run(region: str) -> re.Pattern[str]:
    national = _shortest(PhoneMetadata.metadata_for_region(region.upper()))
    digits = min(_shortest_international(), national or 99) - 1
    return re.compile(rf"\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d){{{max(digits, 1) - 1}}}")


def may_hold_phone(text: str, region: str) -> bool:
    """False only when phonenumbers' matcher is sure to find no number in the text."""
    return _digit_run(region).search(text) is not None
