"""Who and what outcome, as bot/mail_items.py finds them in an email body's sentences."""

from __future__ import annotations

import pytest

from bot.mail_items import OUTCOME_CUES, WHO_CUES, find_sentence
from bot.sentences import sentences


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("The nets are gone since June. Please put the nets back.", "Please put the nets back."),
        ("It is still dark, please have it fixed this week", "please have it fixed this week"),
        ("The ice is thick. Could someone salt the steps?", "Could someone salt the steps?"),
        ("We want a refund for the rest of the session.", "We want a refund"),
        ("Our street is never plowed first.", None),
        ("I pleased nobody by writing this.", None),
    ],
)
def test_outcome_is_the_sentence_that_asks(body, outcome):
    found = find_sentence(sentences(body), OUTCOME_CUES)
    if outcome is None:
        assert found is None
    else:
        assert found is not None and outcome in found


@pytest.mark.parametrize(
    ("body", "who"),
    [
        ("The pothole is on Twyn Rivers Dr just past the bridge. It is deep.", None),
        ("I was seen by Dr. Patel at the clinic.", "by Dr"),  # a guard: a title still counts
        ("The cashier at the front desk shouted at a man.", "cashier"),
        ("The instructor was on his phone the whole lesson.", "instructor"),
    ],
)
def test_who_is_a_person_not_a_street(body, who):
    found = find_sentence(sentences(body), WHO_CUES)
    if who is None:
        assert found is None
    else:
        assert found is not None and who in found
