"""Broken From and Subject headers, recovered as far as the bytes allow.

Python's header parser is right for correct headers; real mail also brings raw 8-bit names and
subjects (UTF-8 or Windows-1252 with no encoded-word), encoded-words whose charset label is
wrong or unknown, unbalanced quotes, addresses without angle brackets and several addresses in
From. These functions are used only where the parser's result shows the damage (replacement
characters, surrogates, no address, an address with spaces or quotes in it), so correct
headers are read exactly as before. Every pattern is bounded: header values are cut to a
couple of kilobytes before they get here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import quopri
import re

from mail.charset import decode_bytes, known, signs_of_wrong_charset

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,40})\?([bBqQ])\?([^?\s]{0,1000})\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]+")
_SURROGATE = re.compile("[\udc80-\udcff]")
#: An address as people write it, without the quoting rules: no spaces, quotes or brackets.
_ADDRESS = re.compile(
    r"[^\s<>\"',;:()\[\]@]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,63}"
)


def damaged(text: str) -> bool:
    """Undecoded bytes (surrogates) left by the parser, replacement characters, or text read
    in the wrong charset ("JÃ¼rgen": UTF-8 labelled as Latin-1)."""
    return _SURROGATE.search(text) is not None or signs_of_wrong_charset(text) > 0


def recover_text(raw: str) -> str:
    """A header value as text: raw 8-bit bytes read as UTF-8 (else as the bytes show), then
    each encoded-word decoded in its charset when that reads cleanly, else in UTF-8, else in
    Windows-1252 (the charsets mislabelled words are really in)."""
    data = raw.encode("utf-8", "surrogateescape")
    text = _header_bytes(data)
    pieces: list[str] = []
    pending: list[tuple[str, bytes]] = []  # adjacent words: a character may span two
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if pending and not _BETWEEN_WORDS.fullmatch(between):
            pieces.append(_decode_words(pending))
            pending = []
        if not pending:
            pieces.append(between)
        pending.append((match.group(1), _word_bytes(match.group(2), match.group(3))))
        position = match.end()
    if pending:
        pieces.append(_decode_words(pending))
    pieces.append(text[position:])
    return "".join(pieces)


def _header_bytes(data: bytes) -> str:
    """Raw header bytes: UTF-8, else Windows-1252 (a few words are too few for a detector to
    tell Latin-1 from Arabic), else what the detector says."""
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8")
    with contextlib.suppress(UnicodeDecodeError):
        text = data.decode("cp1252")
        if not signs_of_wrong_charset(text):
            return text
    return decode_bytes(data, "utf-8")


def _word_bytes(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        return b""
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def _decode_words(words: list[tuple[str, bytes]]) -> str:
    out: list[str] = []
    index = 0
    while index < len(words):
        charset = words[index][0].split("*")[0]  # RFC 2231 language tag: "utf-8*en"
        data = b""
        while index < len(words) and words[index][0].split("*")[0].lower() == charset.lower():
            data += words[index][1]
            index += 1
        out.append(_decode_declared(data, charset))
    return "".join(out)


def _decode_declared(data: bytes, charset: str) -> str:
    """An encoded-word's bytes: valid 8-bit UTF-8 is UTF-8 whatever the label says, then the
    label, then Windows-1252."""
    attempts = ("utf-8", known(charset)) if max(data, default=0) > 0x7F else (known(charset),)
    for attempt in attempts:
        if attempt:
            with contextlib.suppress(UnicodeDecodeError, LookupError):
                return data.decode(attempt)
    return _header_bytes(data)


def recover_sender(raw: str) -> tuple[str | None, str | None]:
    """The first address in a From header the parser could not read, and the name written
    before it: '"Smith, John <john@x>' gives (john@x, "Smith, John"); 'Mary Jones mary@x'
    gives (mary@x, "Mary Jones"); 'a@x, b@x' gives (a@x, None)."""
    text = recover_text(raw)
    match = _ADDRESS.search(text)
    if match is None:
        return None, None
    before = text[: match.start()]
    name = " ".join(before.replace('"', " ").replace("<", " ").split()).strip(" ,;")
    return match.group(0).lower(), name or None
