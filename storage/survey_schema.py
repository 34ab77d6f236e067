"""Schema (issue 13, item 8): the satisfaction survey after a case is closed, and opting out.

One row a case at most (`case_id` is unique): the survey is asked once, whatever happens to
the case later. `recipient` is the chat conversation the survey went to (web chat, Telegram),
so an answer typed there finds it; it is empty for email, whose answers thread by the
survey's Message-ID (bot/survey.py). The answers: `handled` and `timely` are 1 (yes), 0 (no)
or NULL (not said); `score` 1-5 when one was given; `comment` the resident's own words
(personal data: retention empties it with the case, storage/retention.py).

Opting out is the resident's, not the case's: `people.survey_opt_out`, read for every case
with the same email address, and a survey row `opted-out` for the chat conversation.
"""

from __future__ import annotations

SURVEYS: tuple[str, ...] = (
    """CREATE TABLE surveys (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id),
        channel TEXT NOT NULL,
        recipient TEXT,
        status TEXT NOT NULL CHECK (status IN ('asked', 'answered', 'opted-out')),
        asked_at TEXT NOT NULL,
        answered_at TEXT,
        handled INTEGER CHECK (handled IN (0, 1)),
        score INTEGER CHECK (score BETWEEN 1 AND 5),
        timely INTEGER CHECK (timely IN (0, 1)),
        comment TEXT
    )""",
    "CREATE INDEX surveys_conversation ON surveys(channel, recipient, status)",
    "ALTER TABLE people ADD COLUMN survey_opt_out INTEGER NOT NULL DEFAULT 0",
    # An opt-out is read by address for every new survey.
    "CREATE INDEX people_email ON people(lower(email))",
)
