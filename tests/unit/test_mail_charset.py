"""Charsets and headers as real mail brings them (mail/charset.py, mail/headers.py), and the
resident's own text kept by quote trimming (mail/parse.py)."""

from __future__ import annotations

import random
import time

import pytest

from mail.charset import decode_bytes
from mail.headers import recover_sender, recover_text
from mail.parse import parse_message, trim_quoted

FRENCH = "Le camion n’est pas passé – déjà trois fois, à côté du café."
GERMAN = "Der Gehweg vor dem Café Müller in der Hauptstraße ist blockiert."
CHINESE = "您好，我家门口的路灯坏了一个星期了，晚上非常黑，请尽快修理。"
JAPANESE = "家の前のごみが三日間回収されていません。早く回収してください。"


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        # Correct mail is read as declared, unchanged.
        (GERMAN.encode("latin-1"), "iso-8859-1", GERMAN),
        (FRENCH.encode("utf-8"), "utf-8", FRENCH),
        (FRENCH.encode("cp1252"), "windows-1252", FRENCH),
        (b"plain ascii", None, "plain ascii"),
        # Mislabelled or unlabelled: read as the bytes show.
        (FRENCH.encode("cp1252"), "us-ascii", FRENCH),
        (FRENCH.encode("cp1252"), "utf-8", FRENCH),
        (FRENCH.encode("cp1252"), None, FRENCH),
        (FRENCH.encode("cp1252"), "iso-8859-1", FRENCH),  # ’ and – are C1 bytes in Latin-1
        (FRENCH.encode("utf-8"), "iso-8859-1", FRENCH),  # no "Ã©"
        (FRENCH.encode("utf-8"), "x-no-such-charset", FRENCH),
        (CHINESE.encode("gb2312") * 3, "iso-8859-1", CHINESE * 3),
        (JAPANESE.encode("shift_jis") * 3, "utf-8", JAPANESE * 3),
    ],
)
def test_a_charset_is_read_as_declared_or_as_the_bytes_show(data, declared, expected):
    assert decode_bytes(data, declared) == expected


def test_mostly_valid_utf8_with_a_stray_byte_stays_utf8():
    data = FRENCH.encode("utf-8") + b" \xff " + FRENCH.encode("utf-8")
    assert decode_bytes(data, "utf-8") == f"{FRENCH} \ufffd {FRENCH}"


def test_detection_is_bounded_on_a_megabyte_of_8bit_noise():
    rng = random.Random(9)
    noise = bytes(rng.randrange(0x80, 0x100) for _ in range(1_000_000))
    raw = b"From: a@example.com\nSubject: x\nContent-Type: text/plain\n\n" + noise
    parse_message(raw)  # the first detection loads its codecs
    started = time.perf_counter()
    parse_message(raw)
    assert time.perf_counter() - started < 1.0  # the issue 8 bound for any one message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jos\u00e9".encode().decode("ascii", "surrogateescape"), "José"),  # raw 8-bit UTF-8
        ("M\xfcller".encode("latin-1").decode("ascii", "surrogateescape"), "Müller"),
        ("=?utf-8?Q?Caf=E9?=", "Café"),  # labelled UTF-8, holding Latin-1
        ("=?iso-8859-1?B?Q2Fmw6k=?=", "Café"),  # labelled Latin-1, holding UTF-8
        ("=?x-unknown?Q?Pothole?= on Main", "Pothole on Main"),
        ("=?utf-8?B?Q2Fmw6k?= =?utf-8?Q?_M=C3=BCller?=", "Café Müller"),  # no padding; joined
        ("=?utf-8?B?w6?= =?utf-8?B?qQ==?=", "é"),  # one character across two words
    ],
)
def test_header_text_is_recovered(raw, expected):
    assert recover_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Smith, John <john.smith@example.com>', ("john.smith@example.com", "Smith, John")),
        ("Mary Jones mary.jones@example.com", ("mary.jones@example.com", "Mary Jones")),
        ("a@example.com, b@example.com", ("a@example.com", None)),
        ("no address here", (None, None)),
    ],
)
def test_a_broken_from_header_gives_its_first_address(raw, expected):
    assert recover_sender(raw) == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "Thanks!\n\nOn Mon, Nov 16, 2026 at 9:00 AM City <feedback@city.example> wrote:\n"
            "> The bin on Elm Road will be emptied on Tuesday.\n",
            "The bin on Elm Road will be emptied",
        ),
        (
            "> We have passed your message on.\n\nThe bins are still full on Rowan Street.",
            "The bins are still full on Rowan Street.",
        ),
    ],
)
def test_trimming_keeps_the_residents_own_text(text, kept):
    assert kept in trim_quoted(text)


def test_a_reply_with_its_own_text_is_still_trimmed():
    text = (
        "The bin is still full, nobody came on Tuesday.\n\n"
        "On Mon, Nov 16, 2026 at 9:00 AM City <feedback@city.example> wrote:\n"
        "> We will empty the bin on Tuesday.\n"
    )
    assert trim_quoted(text) == "The bin is still full, nobody came on Tuesday."
