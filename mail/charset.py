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


#: Signs are counted in this much of a text: like the detector, enough to tell the charset.
SIGN_SCAN_CHARS = DETECT_BYTES


def signs_of_wrong_charset(text: str) -> int:
    """How many places in (the first SIGN_SCAN_CHARS of) the text look like bytes read in
    the wrong charset."""
    return sum(1 for _ in _WRONG.finditer(text, 0, SIGN_SCAN_CHARS))


def known(charset: str | None) -> str | None:
    """The codec name Python uses for a charset label, or None when it knows no such label."""
    if not charset:
        return None
    with contextlib.suppress(LookupError, ValueError):
        return codecs.lookup(charset.strip().strip("\"'")).name
    return None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """The text of `data`: in the declared charset when that reads cleanly, else in the first
    that does of UTF-8, the detected multi-byte charset, Windows-1252 and the detected
    single-byte charset (a few lines are too few for a detector to tell Windows-1252 from
    Windows-1257, so the commonest comes first); else the one with the fewest signs of a
    wrong charset, the declared one on a tie."""
    codec = known(declared)
    if not _8BIT.search(data):  # ASCII reads the same in every charset mail uses
        return data.decode(codec or "ascii", errors="replace")
    best = data.decode(codec or "utf-8", errors="replace")
    fewest = signs_of_wrong_charset(best)
    if fewest == 0:
        return best
    detected = _detect(data)
    sample = data[:DETECT_BYTES]
    multi_byte = detected is not None and _chars(sample, detected) < len(sample)
    order = ["utf-8", detected if multi_byte else None, "cp1252", None if multi_byte else detected]
    for candidate in dict.fromkeys(c for c in order if c and c != codec):
        text = _decode(data, candidate, strict=candidate == "utf-8")
        if text is None:
            continue
        signs = signs_of_wrong_charset(text)
        if signs == 0:
            return text
        if signs < fewest:
            best, fewest = text, signs
    return best


def _chars(data: bytes, codec: str) -> int:
    """How many characters the bytes are in a codec (fewer than bytes: a multi-byte one)."""
    with contextlib.suppress(LookupError, ValueError):
        return len(data.decode(codec, errors="replace"))
    return len(data)


def _decode(data: bytes, codec: str, strict: bool) -> str | None:
    with contextlib.suppress(LookupError, UnicodeDecodeError, ValueError):
        return data.decode(codec, errors="strict" if strict else "replace")
    return None


def _detect(data: bytes) -> str | None:
    with contextlib.suppress(Exception):  # a detector bug must not lose the mail
        best = from_bytes(data[:DETECT_BYTES]).best()
        if best is not None:
            return known(best.encoding)
    return None


def warm() -> None:
    """Load the codecs the detector tries (about 0.3 s the first time), at start rather than
    on the first mislabelled mail."""
    _detect(bytes(range(0x80, 0x100)) * 8)  # no charset fits well: every codec is tried
