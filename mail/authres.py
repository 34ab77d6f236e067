"""Authentication-Results (RFC 8601): did the city's own mail server verify the sender?

An acknowledgement goes to whoever the From header names, so a forged From would make the
city mail a stranger (backscatter). The city's receiving server checks SPF, DKIM and DMARC
and writes what it found in an Authentication-Results header tagged with its authserv-id
(`[mail] authserv_id`). Anyone can write such a header into a message too, so:

- only headers carrying the configured authserv-id are read (others are someone else's
  opinion);
- of those, only the topmost group: from the first one down to the next `Received` header.
  Servers prepend trace headers, so the city's group sits above the Received line the city's
  server added; a copy forged by the sender sits below it and is ignored (the server should
  also delete such copies, RFC 8601 section 5);
- a failure counts over a pass: a message is "not verified" when DMARC failed, or SPF failed
  and no DKIM signature aligned with the From domain passed.

The parser is one pass over the characters (comments, quoted strings and escapes included),
so no header, however long or odd, costs more than its length. The PyPI `authres` package
(last release 2019, untyped) was the alternative; what is needed here is small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.model import Inbound

_SPECIALS = frozenset(';="()')


@dataclass(frozen=True)
class AuthResult:
    method: str  # "spf", "dkim", "dmarc"... lower-case, version dropped
    result: str  # "pass", "fail", "none"... lower-case
    props: dict[str, str] = field(default_factory=dict)  # "header.d" -> "example.com"


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str
    results: tuple[AuthResult, ...]


def _tokens(value: str) -> list[str]:
    """Words, quoted strings (unquoted), ";" and "=", with comments dropped. Linear."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c.isspace():
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                if value[i] == "\\":
                    i += 2
                    continue
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 1
                if depth == 0:
                    break
        elif c == '"':
            i += 1
            chars: list[str] = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(value[i])
                i += 1
            i += 1
            out.append("".join(chars))
        elif c in ";=":
            out.append(c)
            i += 1
        elif c == ")":
            i += 1  # a stray closing parenthesis: ignore
        else:
            start = i
            while i < n and not value[i].isspace() and value[i] not in _SPECIALS:
                i += 1
            out.append(value[start:i])
    return out


def parse_authres(value: str) -> AuthResults | None:
    """One header's value; None when it has no authserv-id at all."""
    segments: list[list[str]] = [[]]
    for token in _tokens(value):
        if token == ";":
            segments.append([])
        else:
            segments[-1].append(token)
    head = segments[0]
    if not head or head[0] == "=":
        return None
    results = []
    for segment in segments[1:]:
        if len(segment) < 3 or segment[1] != "=":
            continue  # "none", or something unreadable: no result
        props: dict[str, str] = {}
        rest = segment[3:]
        for k in range(len(rest) - 2):
            if rest[k + 1] == "=" and rest[k] != "=" and rest[k + 2] != "=":
                props.setdefault(rest[k].lower(), rest[k + 2])
        method = segment[0].split("/", 1)[0].lower()
        results.append(AuthResult(method, segment[2].lower(), props))
    return AuthResults(head[0], tuple(results))


def trusted_results(msg: Inbound, authserv_id: str) -> list[AuthResult]:
    """The results the city's own server recorded (see the module docstring)."""
    wanted = authserv_id.strip().lower()
    found: list[AuthResult] = []
    started = False
    for name, value in msg.trace:
        if name == "received":
            if started:
                break
            continue
        parsed = parse_authres(value)
        if parsed is None or parsed.authserv_id.lower() != wanted:
            continue
        started = True
        found.extend(parsed.results)
    return found


def _aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 3.1.1), approximated without the public suffix list: the
    same domain, or one a subdomain of the other."""
    signer, from_domain = signer.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not signer or not from_domain:
        return False
    return (
        signer == from_domain
        or from_domain.endswith("." + signer)
        or signer.endswith("." + from_domain)
    )


def _dkim_domain(result: AuthResult) -> str:
    if "header.d" in result.props:
        return result.props["header.d"]
    return result.props.get("header.i", "").rpartition("@")[2]


def unverified_sender(msg: Inbound, authserv_id: str) -> str | None:
    """Why the sender is not verified, or None (verified, or nothing recorded to go by)."""
    if not authserv_id.strip():
        return None
    results = trusted_results(msg, authserv_id)
    by_method: dict[str, set[str]] = {}
    for r in results:
        by_method.setdefault(r.method, set()).add(r.result)
    if "fail" in by_method.get("dmarc", set()):
        return "DMARC failed for the From domain (Authentication-Results)"
    if "pass" in by_method.get("dmarc", set()):
        return None
    if "fail" in by_method.get("spf", set()):
        from_domain = (msg.from_addr or "").rpartition("@")[2]
        aligned = any(
            r.method == "dkim" and r.result == "pass" and _aligned(_dkim_domain(r), from_domain)
            for r in results
        )
        if not aligned:
            return "SPF failed and no DKIM signature of the From domain passed"
    return None


def _above_first_received(msg: Inbound, authserv_id: str) -> list[AuthResult]:
    """The city's results written above the topmost Received header, and only those: a
    sender can write a header with our authserv-id below it when our server wrote none
    (`trusted_results` reads the first group wherever it starts, which is enough to find a
    failure; a pass that grants trust must be our server's own)."""
    wanted = authserv_id.strip().lower()
    found: list[AuthResult] = []
    for name, value in msg.trace:
        if name == "received":
            break
        parsed = parse_authres(value)
        if parsed is not None and parsed.authserv_id.lower() == wanted:
            found.extend(parsed.results)
    return found


def verified_domain(msg: Inbound, authserv_id: str) -> str | None:
    """How the city's server positively verified the From domain, or None.

    Stricter than `unverified_sender`, which lets a message through when nothing was recorded:
    here only a pass counts (DMARC passed, or a DKIM signature aligned with the From domain
    passed, with no DMARC failure). Used where a message gets *more* trust than a resident's
    because of who it says it is from (mail from the Ombudsman's office, bot/ombudsman.py)."""
    if not authserv_id.strip():
        return None
    results = _above_first_received(msg, authserv_id)
    dmarc = {r.result for r in results if r.method == "dmarc"}
    if "fail" in dmarc:
        return None
    if "pass" in dmarc:
        return "DMARC passed for the From domain"
    from_domain = (msg.from_addr or "").rpartition("@")[2]
    if any(
        r.method == "dkim" and r.result == "pass" and _aligned(_dkim_domain(r), from_domain)
        for r in results
    ):
        return "a DKIM signature of the From domain passed"
    return None
