"""bot/phone_digits.py: the pre-check never skips the matcher when it would find a number."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from bot.extract import find_contact
from bot.phone_digits import may_hold_phone

FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)
TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)


def _matches(text: str, region: str) -> list[str]:
    return [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, region, max_tries=100)]


@pytest.mark.parametrize("region", ["CA", "US", "GB", "FR", "NU", "SH", "TK", "DE"])
def test_every_example_number_of_every_region_is_looked_for(region):
    for other in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(other, kind)
            if number is None:
                continue
            for fmt in FORMATS:
                text = f"Call me at {phonenumbers.format_number(number, fmt)} please."
                assert may_hold_phone(text, region) or not _matches(text, region), text


def test_a_complaint_without_a_phone_number_skips_the_matcher():
    text = "On Monday 16 November at 7:30am the truck 42 skipped 12 Oak Street and 14 Elm Road."
    assert not may_hold_phone(text, "CA")
    assert _matches(text, "CA") == []
    assert find_contact(text, "CA", lenient=True).phones == ()


def test_a_phone_number_is_still_found():
    text = "You can reach me at 416-555-0100 or (647) 555 0199."
    assert may_hold_phone(text, "CA")
    assert find_contact(text, "CA").phones == ("+14165550100", "+16475550199")


_PIECES = st.sampled_from(
    [
        "0",
        "1",
        "4",
        "5",
        "9",
        "683",
        "290",
        "416",
        " ",
        "-",
        ".",
        "(",
        ")",
        "+",
        "/",
        "x",
        "a",
        "\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_PIECES, max_size=16).map("".join),
    st.sampled_from(["CA", "NU", "GB", "US", "DE"]),
)
def test_a_no_is_never_wrong(text, region):
    assert may_hold_phone(text, region) or not _matches(text, region)
