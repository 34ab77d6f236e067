"""Phrase matching that knows negation and context, in linear time.

A phrase rule asks one question of a text ("does it mention a safety threat?") and says why.
A bare keyword test is wrong in both directions: "no fire" and "fire hydrant" are not fires.
So a phrase is ignored when a negator governs it (a few words before, in the same clause) or
when it is part of a longer phrase that names a thing, not an event; both lists are data in the
rule table (bot/policy.py). Some things residents say only in two words that need not be
side by side ("a tree ... leaning on the line", "councillors ... decided"): a `Near` pair
fires when both are in one sentence, a few words apart, and names both in its reason. Texts
are read as words in one pass, never with a backtracking pattern, and only up to a bound, so
no input can make a check slow.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.model import RuleHit

#: Phrase rules read at most this much of a text: linear time, and a bound on it.
MAX_SCAN_CHARS = 50_000

#: At most this many different "ignored" explanations are kept for one text.
MAX_IGNORED = 5

#: Words (and word pairs) that negate a phrase that follows them in the same clause.
NEGATORS: tuple[str, ...] = (
    "no",
    "not",
    "never",
    "nobody",
    "no one",
    "noone",
    "none",
    "nothing",
    "without",
    "neither",
    "nor",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "cannot",
    "won't",
    "hasn't",
    "haven't",
    "hadn't",
    "isnt",
    "arent",
    "wasnt",
    "dont",
    "doesnt",
    "didnt",
)
#: Words that start a new clause: a negator before them does not reach past them.
CLAUSE_WORDS = frozenset({"but", "and", "however", "although", "though", "yet", "except", "while"})
#: Punctuation that ends a clause.
CLAUSE_MARKS = frozenset(".,;:!?()[]\n")
#: Punctuation that ends a sentence: two words of a `Near` pair must be in the same sentence.
SENTENCE_MARKS = frozenset(".;!?\n")

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.,;:!?()\[\]\n]")


def tokens(text: str) -> list[str]:
    """Lower-case words and clause punctuation, in one linear pass over a bounded text."""
    return list(_tokens(text[:MAX_SCAN_CHARS]))


@lru_cache(maxsize=16)
def _tokens(text: str) -> tuple[str, ...]:
    """Every rule of the table reads the same text: it is split into words once. The
    callers cut the text to the bound first, so the cache holds small keys only."""
    text = text.lower().replace("\u2019", "'")
    return tuple(_TOKEN.findall(text))


@lru_cache(maxsize=16)
def _positions(text: str) -> dict[str, list[int]]:
    """Where each word of a text is: built once per text (keyed by the text, whose hash
    Python keeps), shared by every rule, so a rule whose words are absent costs one set test."""
    where: dict[str, list[int]] = {}
    for i, word in enumerate(_tokens(text)):
        where.setdefault(word, []).append(i)
    return where


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    return tuple(t for t in tokens(phrase) if t not in CLAUSE_MARKS)


class _Matcher:
    """Finds phrases (as token sequences) in a token list: a dict from first word to the
    phrases that start with it, longest first, so the cost is linear in the text."""

    def __init__(self, phrases: Iterable[str]) -> None:
        by_first: dict[str, dict[int, set[tuple[str, ...]]]] = {}
        for phrase in phrases:
            words = _phrase_tokens(phrase)
            if words:
                by_first.setdefault(words[0], {}).setdefault(len(words), set()).add(words)
        #: first word -> (length, phrases of that length), longest first: one slice and one
        #: set lookup per distinct length, however many phrases share the first word.
        self.index: dict[str, list[tuple[int, frozenset[tuple[str, ...]]]]] = {
            first: sorted(((n, frozenset(p)) for n, p in lengths.items()), reverse=True)
            for first, lengths in by_first.items()
        }
        self.first_words = frozenset(self.index)

    def starts(self, words: Sequence[str], where: dict[str, list[int]] | None = None) -> list[int]:
        """Positions where some phrase may start. With the text's word positions: the words
        that start a phrase (one set intersection, in C), then where they are."""
        if where is not None:
            found = self.first_words.intersection(where)
            if not found:
                return []
            if len(found) == 1:
                return where[next(iter(found))]
            return sorted(i for word in found for i in where[word])
        index = self.index
        return [i for i, word in enumerate(words) if word in index]

    def at(self, words: Sequence[str], i: int) -> tuple[str, ...] | None:
        for length, phrases in self.index.get(words[i], ()):
            candidate = tuple(words[i : i + length])
            if candidate in phrases:
                return candidate
        return None

    def spans(
        self, words: Sequence[str], where: dict[str, list[int]] | None = None
    ) -> list[tuple[int, int, tuple[str, ...]]]:
        """Every occurrence (start, end, phrase), overlapping ones included."""
        out = []
        for i in self.starts(words, where):
            phrase = self.at(words, i)
            if phrase:
                out.append((i, i + len(phrase), phrase))
        return out


@dataclass(frozen=True)
class Near:
    """Two lists of phrases that say together what neither says alone: "tree" is no hazard
    and "leaning" is no hazard, but a tree leaning on a line is. The rule fires when a phrase
    of `first` and one of `second` are in the same sentence, at most `window` words apart
    (with `ordered`, `first` must come first: "my neighbour ... the by-law"; without
    `same_sentence`, the window alone bounds the distance)."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    window: int = 6
    ordered: bool = False
    same_sentence: bool = True


class _NearMatcher:
    def __init__(self, near: Near) -> None:
        self.near = near
        self.first = _Matcher(near.first)
        self.second = _Matcher(near.second)

    def may_match(self, present: Iterable[str]) -> bool:
        """A text without a word that starts a phrase of each list holds no pair."""
        first, second = self.first.first_words, self.second.first_words
        return not (first.isdisjoint(present) or second.isdisjoint(present))

    def find(
        self,
        words: Sequence[str],
        where: dict[str, list[int]],
        layout: tuple[list[int], list[int]],
    ) -> list[tuple[int, int, str, str]]:
        """Every pair (start, end, first phrase, second phrase), in text order; linear: each
        phrase of `first` looks only at the `second` phrases that start within the window."""
        seconds = self.second.spans(words, where)
        if not seconds:
            return []
        starts = [s for s, _e, _p in seconds]
        sentence, position = layout
        window = self.near.window
        slack = 2 * window + 8  # tokens: words plus the punctuation between them
        pairs = []
        for a_start, a_end, a_phrase in self.first.spans(words, where):
            lo = bisect_left(starts, a_start - slack)
            for b_start, b_end, b_phrase in seconds[lo:]:
                if b_start > a_end + slack:
                    break
                if self.near.ordered and b_start < a_end:
                    continue
                if b_start < a_end and a_start < b_end:
                    continue  # the same words
                left_end, right_start = (a_end, b_start) if a_start < b_start else (b_end, a_start)
                gap = position[right_start] - position[left_end - 1] - 1
                same = sentence[left_end - 1] == sentence[right_start]
                if gap <= window and (same or not self.near.same_sentence):
                    start, end = min(a_start, b_start), max(a_end, b_end)
                    pairs.append((start, end, " ".join(a_phrase), " ".join(b_phrase)))
        return sorted(pairs)


def _layout(words: Sequence[str]) -> tuple[list[int], list[int]]:
    """The sentence number and word number of every token: how far apart two phrases are."""
    sentence: list[int] = []
    position: list[int] = []
    n_sentence = n_word = 0
    for word in words:
        if word in SENTENCE_MARKS:
            n_sentence += 1
        elif word not in CLAUSE_MARKS:
            n_word += 1
        sentence.append(n_sentence)
        position.append(n_word)
    return sentence, position


@dataclass(frozen=True)
class PhraseScan:
    """What a phrase rule made of a text: the hit, and the phrases it ignored and why."""

    hit: RuleHit | None
    ignored: tuple[RuleHit, ...] = ()


@dataclass(frozen=True)
class PhraseRule:
    """Fires when any phrase occurs as whole words (case-insensitive), unless the phrase is
    negated (a negator up to `negation_window` words before it, in the same clause) or is part
    of a longer phrase in `not_events` that names a thing rather than an event ("fire
    hydrant"). Both are data, so a city can read and extend them. `near` pairs are read
    after the phrases, with the same negation and the same "thing" exclusions."""

    name: str
    description: str
    phrases: tuple[str, ...]
    not_events: tuple[str, ...] = ()
    negation: bool = False
    negation_window: int = 3
    near: tuple[Near, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_phrases", _Matcher(self.phrases))
        object.__setattr__(self, "_things", _Matcher(self.not_events))
        object.__setattr__(self, "_negators", _Matcher(NEGATORS))
        object.__setattr__(self, "_near", tuple(_NearMatcher(n) for n in self.near))

    def check(self, text: str) -> RuleHit | None:
        return self.scan(text).hit

    def scan(self, text: str) -> PhraseScan:
        text = text[:MAX_SCAN_CHARS]
        words = _tokens(text)
        where = _positions(text)
        phrases: _Matcher = self._phrases  # type: ignore[attr-defined]
        things: _Matcher = self._things  # type: ignore[attr-defined]
        # Which longer "thing" phrase covers each word: one pass, so the scan stays linear.
        thing_at: dict[int, tuple[str, ...]] = {}
        for first, after, covering in things.spans(words, where):
            for k in range(first, after):
                thing_at.setdefault(k, covering)
        ignored: dict[str, RuleHit] = {}
        i = 0
        for start in phrases.starts(words, where):
            if start < i:
                continue  # inside a phrase already read
            i = start
            phrase = phrases.at(words, i)
            if phrase is None:
                continue
            end = i + len(phrase)
            found = " ".join(phrase)
            thing = thing_at.get(i)
            if thing is not None and (thing == phrase or thing_at.get(end - 1) != thing):
                thing = None
            negator = self._negator(words, i) if self.negation and thing is None else None
            if thing is not None:
                why = f"'{' '.join(thing)}' names a thing, not an event"
            elif negator is not None:
                why = f"negated by '{negator}'"
            else:
                return PhraseScan(
                    RuleHit(self.name, f"{self.description}: the phrase '{found}'"),
                    tuple(ignored.values()),
                )
            reason = f"the phrase '{found}' was ignored: {why}"
            if len(ignored) < MAX_IGNORED:  # the same reasons once each, a few at most
                ignored.setdefault(reason, RuleHit(f"{self.name}-ignored", reason))
            i = end
        near: tuple[_NearMatcher, ...] = self._near  # type: ignore[attr-defined]
        present = where.keys()
        layout: tuple[list[int], list[int]] | None = None
        for matcher in near:
            if not matcher.may_match(present):
                continue
            layout = layout or _layout(words)
            for start, end, one, other in matcher.find(words, where, layout):
                if thing_at.get(start) is not None or thing_at.get(end - 1) is not None:
                    continue
                negator = self._negator(words, start) if self.negation else None
                if negator is None:
                    return PhraseScan(
                        RuleHit(self.name, f"{self.description}: '{one}' with '{other}'"),
                        tuple(ignored.values()),
                    )
                reason = f"'{one}' with '{other}' was ignored: negated by '{negator}'"
                if len(ignored) < MAX_IGNORED:
                    ignored.setdefault(reason, RuleHit(f"{self.name}-ignored", reason))
        return PhraseScan(None, tuple(ignored.values()))

    def words_outside(self, words: Sequence[str]) -> list[str]:
        """The words no phrase of this rule covers ("the fucking driver" -> the, driver)."""
        phrases: _Matcher = self._phrases  # type: ignore[attr-defined]
        covered: set[int] = set()
        for start, end, _phrase in phrases.spans(words):
            covered.update(range(start, end))
        return [w for i, w in enumerate(words) if i not in covered]

    def _negator(self, words: Sequence[str], start: int) -> str | None:
        """The negator governing the phrase at `start`, if any: the nearest one within the
        window, with no clause boundary between it and the phrase."""
        negators: _Matcher = self._negators  # type: ignore[attr-defined]
        lo = max(0, start - self.negation_window - 2)
        found = None
        for j in range(lo, start):
            if words[j] in CLAUSE_MARKS or words[j] in CLAUSE_WORDS:
                found = None
                continue
            negator = negators.at(words, j)
            if (
                negator
                and j + len(negator) <= start
                and start - (j + len(negator)) <= (self.negation_window)
            ):
                found = " ".join(negator)
        return found
