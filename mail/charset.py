"""Bytes to text when the declared charset may be wrong: declared first, detected when it fails.

Mail programs label text wrongly all the time: Windows-1252 sent as us-ascii or iso-8859-1,
GB2312 or Shift-JIS sent as iso-8859-1 or utf-8, 8-bit text with no charset at all. The
declared charset is tried first, strictly; only when it fails or its text shows the signs of
a wrong label (replacement characters, C1 control characters, UTF-8 read as Latin-1, long runs
of Latin-1 symbols) is the charset detected from the bytes, with charset-normalizer, and its
text kept only when it shows fewer such signs. Correct mail is never re-read, and pure ASCII
never reaches the detector.

The detector reads at most DETECT_BYTES (its cost grows with what it reads); every check here
is one linear pass.
"""

from __future__ import annotations

import codecs
import contextlib
import re

from charset_normalizer import from_bytes

#: The detector reads the first 64 KB: ample to tell a charset, and its cost is bounded.
DETECT_BYTES = 64 * 1024
#: Signs of text read in the wrong charset: the replacement character, C1 controls (never in
#: real text; Windows-1252 or Shift-JIS read as Latin-1), UTF-8 read as Latin-1 ("Ã©"), and
#: runs of four or more Latin-1 letters and symbols (GB2312 or UTF-8 read as Latin-1; no
#: Western language has four accented letters in a row).
_WRONG = re.compile("\ufffd|[\x80-\x9f]|[\u00c2\u00c3][\u0080-\u00bf]|[\u00a0-\u00ff]{4,}")
_8BIT = re.compile(rb"[\x80-\xff]")


def signs_of_wrong_charset(text: str) -> int:
    """How many places in the text look like bytes read in the wrong charset."""
    return sum(1 for _ in _WRONG.finditer(text))


def known(charset: str | None) -> str | None:
    """The codec name Python uses for a charset label, or None when it knows no such label."""
    if not charset:
        return None
    with contextlib.suppress(LookupError, ValueError):
        return codecs.lookup(charset.strip().strip("\"'")).name
    return None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """The text of `data`: in the declared charset when that reads cleanly, else in the one
    the bytes show, else the declared (or UTF-8) with replacement characters."""
    codec = known(declared)
    if not _8BIT.search(data):  # ASCII reads the same in every charset mail uses
        return data.decode(codec or "ascii", errors="replace")
    fallback = data.decode(codec or "utf-8", errors="replace")
    signs = signs_of_wrong_charset(fallback)
    if signs == 0:
        return fallback
    if codec != "utf-8":
        # Undeclared or single-byte 8-bit text that is valid UTF-8 is UTF-8 (the commonest
        # mislabel); valid UTF-8 is almost never anything else.
        with contextlib.suppress(UnicodeDecodeError):
            text = data.decode("utf-8")
            if signs_of_wrong_charset(text) < signs:
                return text
    detected = _detect(data)
    if detected is not None and detected != codec:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            text = data.decode(detected, errors="replace")
            if signs_of_wrong_charset(text) < signs:
                return text
    return fallback


def _detect(data: bytes) -> str | None:
    with contextlib.suppress(Exception):  # a detector bug must not lose the mail
        best = from_bytes(data[:DETECT_BYTES]).best()
        if best is not None:
            return known(best.encoding)
    return None
