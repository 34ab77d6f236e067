"""bot/place.py, pure: realistic answers and sentences, labelled; negatives that are times, not
places; validation of what is kept; hostile text."""

from __future__ import annotations

import json
import math
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.place import (
    MAX_PLACE_CHARS,
    SCAN_CHARS,
    Place,
    PlaceError,
    find_place,
    place_of,
    read_place,
    shared_location,
)

#: (free text from a description or an email, the kind found or None, its text).
FREE_TEXT: list[tuple[str, str | None, str | None]] = [
    ("There is a pothole outside 12 Elm Street, please fix it", "address", "12 Elm Street"),
    ("Pothole outside 14 Oak Avenue, please fix", "address", "14 Oak Avenue"),
    ("The streetlight at 22 Birch Rd. has been out for weeks", "address", "22 Birch Rd."),
    ("Flat 4, 221B Baker Street: the bins were not emptied", "address", "221B Baker Street"),
    ("My car was towed from 1200 Bay St. N. on Friday", "address", "1200 Bay St. N."),
    ("Water is leaking near 5 Maple Crescent", "address", "5 Maple Crescent"),
    ("The tree at 77 Lakeshore Blvd West is about to fall", "address", "77 Lakeshore Blvd West"),
    ("Garbage left at 9 St. Clair Court again", "address", "9 St. Clair Court"),
    ("Broken sign at 310 2nd Ave", "address", "310 2nd Ave"),
    ("The light is out on the corner of King and Queen", "intersection", "King and Queen"),
    ("A car hit the pole at Main St & 2nd Ave this morning", "intersection", "Main St & 2nd Ave"),
    (
        "The crossing signal near King Street and Queen Street West is broken",
        "intersection",
        "King Street and Queen Street West",
    ),
    (
        "Flooding at the intersection of Dundas and Bathurst",
        "intersection",
        "Dundas and Bathurst",
    ),
    ("There is a sinkhole at Yonge St and Bloor St", "intersection", "Yonge St and Bloor St"),
    ("Someone dumped a sofa outside the Central Library", "landmark", "Central Library"),
    ("The lights in Riverside Park are out", "landmark", "Riverside Park"),
    ("Needles behind the Eastview Community Centre", "landmark", "Eastview Community Centre"),
    ("The elevator at Union Station is broken", "landmark", "Union Station"),
    # Not places: times, days, durations, counts, and vague words.
    ("It has been like this for 2 weeks ago now", None, None),
    ("It happened at 5 pm yesterday", None, None),
    ("I called on Monday and nobody answered", None, None),
    ("The driver was rude to me", None, None),
    ("I live 2 blocks from the main road", None, None),
    ("We met at Tim Hortons and Walmart", None, None),
    ("Please fix the pothole on King Street", None, None),
    ("at the library on Tuesday", None, None),
    ("Monday and Tuesday the truck did not come", None, None),
    ("I waited 3 hours on the phone", None, None),
    ("In 2024 they promised to fix it", None, None),
    ("at 9:30 am on Sunday", None, None),
    ("Call me at 905-555-0100", None, None),
    ("Dr. Patel at the clinic was rude", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("text", "kind", "said"), FREE_TEXT)
def test_find_place_in_free_text(text, kind, said):
    found = find_place(text)
    if kind is None:
        assert found is None, found
    else:
        assert found is not None and (found.kind, found.text) == (kind, said)


def test_an_address_or_an_intersection_is_what_a_tracker_takes():
    assert find_place("outside 12 Elm Street").address == "12 Elm Street"
    assert find_place("at Main St & 2nd Ave").address == "Main St and 2nd Ave"
    assert find_place("outside the Central Library").address is None


#: (an answer to "where is it?", the kind read, the address for a tracker).
ANSWERS: list[tuple[str, str, str | None]] = [
    ("12 Elm Street", "address", "12 Elm Street"),
    ("12 elm st", "address", "12 elm st"),
    ("in front of 40 king street west", "address", "40 king street west"),
    ("King and Queen", "intersection", "King and Queen"),
    ("corner of Main St & 2nd Ave", "intersection", "Main St and 2nd Ave"),
    ("the intersection of dundas and bathurst", "intersection", "dundas and bathurst"),
    ("Yonge / Bloor", "intersection", "Yonge and Bloor"),
    ("outside the Central Library", "landmark", None),
    ("behind the arena, by the side door", "landmark", None),
    ("Elm Street, by the school gate", "landmark", None),
    ("me and my wife", "landmark", None),
]


@pytest.mark.parametrize(("answer", "kind", "address"), ANSWERS)
def test_an_answer_to_where_is_kept_as_said_with_its_kind(answer, kind, address):
    place = read_place(answer)
    assert (place.text, place.kind, place.address) == (answer, kind, address)


@pytest.mark.parametrize(
    "answer", ["right now", "2 weeks ago", "at 5 pm", "on Monday", "yesterday at 3pm", "now."]
)
def test_an_answer_that_says_when_is_not_taken_as_the_place(answer):
    with pytest.raises(PlaceError, match="sounds like when"):
        read_place(answer)


@pytest.mark.parametrize("answer", ["?", "??", "...", "5", "\u202e", "\x00\x01"])
def test_an_answer_without_words_is_asked_again(answer):
    with pytest.raises(PlaceError, match="street address"):
        read_place(answer)


def test_a_long_answer_is_refused_in_words_not_cut():
    with pytest.raises(PlaceError, match="a bit long"):
        read_place("near the park " * 40)


def test_control_characters_and_direction_overrides_are_stripped():
    place = read_place("12 Elm\u202e Street\x07\n by the\u200b gate")
    assert place.text == "12 Elm Street by the gate"
    assert not any(unicodedata.category(ch)[0] == "C" for ch in place.text)
    assert find_place("outside 12 Elm\u202e Street").text == "12 Elm Street"


def test_only_the_start_of_a_huge_text_is_searched():
    assert find_place("x " * SCAN_CHARS + "outside 12 Elm Street") is None
    assert find_place("outside 12 Elm Street " + "x" * 1_000_000).text == "12 Elm Street"


@pytest.mark.parametrize(
    ("lat", "long"),
    [(90.1, 0.0), (-90.1, 0.0), (0.0, 180.5), (0.0, -181.0), (math.nan, 0.0), (0.0, math.inf)],
)
def test_coordinates_out_of_range_are_refused(lat, long):
    with pytest.raises(PlaceError):
        shared_location(lat, long)


def test_a_shared_location_is_coordinates_rounded_to_about_a_metre():
    place = shared_location(43.653226, -79.3831843)
    assert (place.kind, place.lat, place.long) == ("coordinates", 43.65323, -79.38318)
    assert place.text == "43.65323, -79.38318" and place.address is None
    assert shared_location(90, -180).lat == 90.0


def test_json_round_trip_and_validation_of_what_is_stored():
    for place in (
        shared_location(-33.8688, 151.2093),
        read_place("King and Queen"),
        find_place("outside 12 Elm Street"),
    ):
        assert Place.from_json(place.to_json()) == place
        assert place_of(json.loads(place.to_json())) == place
    assert place_of(None) is None and place_of("") is None
    for bad in (
        "{",
        "[]",
        '{"text": "x", "kind": "house"}',
        '{"text": "", "kind": "landmark"}',
        '{"text": "x", "kind": "coordinates"}',
        '{"text": "x", "kind": "coordinates", "lat": 91, "long": 0}',
        '{"text": "x", "kind": "landmark", "lat": 1}',
    ):
        with pytest.raises(PlaceError):
            Place.from_json(bad)
        assert place_of(bad) is None
    with pytest.raises(PlaceError):
        Place("x" * (MAX_PLACE_CHARS + 1), "landmark")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_any_text_gives_a_clean_bounded_place_or_none(text):
    found = find_place(text)
    if found is not None:
        assert 0 < len(found.text) <= MAX_PLACE_CHARS
        assert not any(unicodedata.category(ch)[0] == "C" for ch in found.text)
    try:
        place = read_place(text)
    except PlaceError:
        return
    assert 0 < len(place.text) <= MAX_PLACE_CHARS and place.kind in (
        "address",
        "intersection",
        "landmark",
    )
