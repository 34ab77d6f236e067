"""bot/phone_digits.py: the pre-check never skips the matcher when it would find a number."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from bot.extract import find_contact
from bot.phone_digits import PhoneMatcher, may_hold_phone

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


# PhoneMatcher: the stock matcher minus the parse of too-short candidates. What it finds must
# be what the stock matcher finds, in the same order, on every text.

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"


def _both(text: str, region: str, max_tries: int = 100) -> tuple[list[tuple], list[tuple]]:
    def found(matcher_class: type) -> list[tuple]:
        return [
            (m.start, m.raw_string, phonenumbers.format_number(m.number, PhoneNumberFormat.E164))
            for m in matcher_class(text, region, max_tries=max_tries)
        ]

    return found(PhoneMatcher), found(phonenumbers.PhoneNumberMatcher)


@pytest.mark.parametrize("region", ["CA", "US", "GB", "FR", "NU", "SH", "TK", "DE"])
def test_the_matcher_finds_every_example_number_as_the_stock_one_does(region):
    for other in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(other, kind)
            if number is None:
                continue
            for fmt in FORMATS:
                said = phonenumbers.format_number(number, fmt)
                # Short runs of digits around it, as a complaint has them.
                text = f"At 7:30am on 16 Nov, bus 42 at 12 Oak St. Call me at {said} ext. 12."
                fast, stock = _both(text, region)
                assert fast == stock, text


def test_the_matcher_agrees_on_every_corpus_mail_and_the_bench_mail():
    from bench.mail_bench import resident_mail
    from mail.parse import parse_message

    texts = [parse_message(p.read_bytes()).text for p in sorted(CORPUS.glob("*.eml"))]
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    texts += [parse_message(resident_mail(i, "t", now)[1]).text for i in range(60)]
    found = 0
    for text in texts:
        fast, stock = _both(text, "CA")
        assert fast == stock, text[:200]
        found += len(stock)
    assert found >= 60  # the bench mail all give a number: the comparison is not empty


def test_the_matcher_counts_its_tries_as_the_stock_one_does():
    # Many short candidates before the number: with few tries, neither reaches it.
    text = " ".join(str(i) for i in range(10, 40)) + " call 416-555-0100"
    for tries in (5, 29, 30, 31, 100):
        fast, stock = _both(text, "CA", max_tries=tries)
        assert fast == stock, tries
    assert _both(text, "CA", max_tries=100)[1] != []
    assert _both(text, "CA", max_tries=5)[1] == []


def test_possible_leniency_is_left_to_the_stock_matcher():
    text = "Ring 555-0100 or 12."  # a local-only length: POSSIBLE, not VALID
    stock = phonenumbers.PhoneNumberMatcher(text, "CA", leniency=phonenumbers.Leniency.POSSIBLE)
    fast = PhoneMatcher(text, "CA", leniency=phonenumbers.Leniency.POSSIBLE)
    assert [m.raw_string for m in fast] == [m.raw_string for m in stock]


_TEXT_PIECES = st.sampled_from(
    [
        "0",
        "1",
        "4",
        "5",
        "9",
        "12",
        "416",
        "555",
        "0100",
        "683",
        "290",
        "44",
        "20",
        "7946",
        " ",
        "-",
        ".",
        "(",
        ")",
        "+",
        "/",
        ":",
        "x",
        "ext",
        "am",
        "#",
        "a",
        "\n",
        "\u0661",
        "%",
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_TEXT_PIECES, max_size=24).map("".join),
    st.sampled_from(["CA", "NU", "GB", "US", "DE"]),
    st.integers(min_value=1, max_value=12),
)
def test_the_matcher_never_differs(text, region, tries):
    fast, stock = _both(text, region, max_tries=tries)
    assert fast == stock
