"""How well caredesk understands what residents write, measured on the labelled set.

Every message of tests/eval/messages.jsonl goes through the real `decide()`: an email body as
an email from an identified resident (the five items read by bot/mail_items.py), a chat
first message as a chat submission nobody has answered questions for yet (what the dialogue
knows after the first message). The decision is mapped onto the set's labels (a hazard is
hazard=true plus the kind the kind rules give; out of scope sets the category) and compared.

A benchmark, not a test: it prints figures beside the aims and always exits 0.
Run: `python bench/understanding.py` (options: --split, --misses, --limit, --file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.decide import Policy, decide
from bot.mail_items import submission_from_email
from bot.model import Decision, Inbound, Kind, Person, Submission

SET = Path(__file__).resolve().parent.parent / "tests" / "eval" / "messages.jsonl"
#: The set's dates ("yesterday", "November 19") are read against this fixed time.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("America/Toronto"))
KINDS = ("complaint", "request", "feedback", "other")
SCOPES = ("legislation", "appeal", "council", "employee")
LABELS = KINDS + SCOPES
ITEM_NAMES = ("what", "when", "who", "outcome", "contact")
RESIDENT = "Pat Resident"
#: caredesk's kinds in the set's terms (an enquiry, Kind.OTHER, is the set's `other`).
KIND_OF = {
    Kind.COMPLAINT: "complaint",
    Kind.REQUEST: "request",
    Kind.FEEDBACK: "feedback",
    Kind.OTHER: "other",
}
AIMS = {
    "kind accuracy": ">= 95%",
    "hazard recall": "100%",
    "hazard precision": ">= 95%",
    "out-of-scope recall": ">= 90%",
    "out-of-scope precision": ">= 90%",
}


@dataclass(frozen=True)
class Predicted:
    """What caredesk made of one message, in the set's terms."""

    kind: str | None  # None when out of scope (the decision names no underlying kind)
    hazard: bool
    scope: str | None
    rules: tuple[str, ...]
    items: dict[str, str | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.scope or self.kind or "?"


def load(path: Path = SET) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def gold_label(msg: dict[str, Any]) -> str:
    return str(msg["scope"] or msg["kind"])


def sender(msg: dict[str, Any]) -> str:
    return f"{msg['id']}@example.org"


def email_submission(msg: dict[str, Any], policy: Policy) -> Submission:
    inbound = Inbound(
        key=f"sha256:{msg['id']}",
        message_id=None,
        from_addr=sender(msg),
        from_name=RESIDENT,
        to=("care@city.example",),
        subject=msg.get("subject") or "",
        date=NOW,
        in_reply_to=(),
        references=(),
        text=msg["text"],
        headers={},
        content_type="text/plain",
    )
    cfg = policy.config
    return submission_from_email(inbound, NOW, cfg.tz, cfg.dialogue.phone_region)


def chat_submission(msg: dict[str, Any]) -> Submission:
    """A first chat message: no answers yet, so phrases decide kind, danger and scope."""
    text = msg["text"]
    person = Person(name=RESIDENT, email=sender(msg))
    return Submission(channel="web", received_at=NOW, text=text, what=text, person=person)


def predicted(decision: Decision, sub: Submission, policy: Policy) -> Predicted:
    rules = tuple(f"{h.rule}: {h.reason}" for h in decision.hits)
    hazard = decision.kind is Kind.HAZARD
    scope = decision.out_of_scope if decision.kind is Kind.OUT_OF_SCOPE else None
    if hazard:
        kind: str | None = KIND_OF[policy.rules.classify(sub.text)[0]]
    elif scope:
        kind = None
    else:
        kind = KIND_OF[decision.kind]
    items = {
        "what": sub.what,
        "when": sub.when_text,
        "who": sub.who,
        "outcome": sub.outcome,
        "contact": sub.person.summary(),
    }
    return Predicted(kind, hazard, scope, rules, items)


def run(msg: dict[str, Any], policy: Policy) -> Predicted:
    sub = email_submission(msg, policy) if msg["channel"] == "email" else chat_submission(msg)
    return predicted(decide(sub, NOW, policy), sub, policy)


# ---- scoring -------------------------------------------------------------------------------


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().replace("\u2019", "'").split())


def _digits(text: str | None) -> str:
    digits = re.sub(r"\D", "", text or "")
    return digits[-10:]


def item_correct(name: str, gold: str | None, got: str | None, msg: dict[str, Any]) -> bool:
    """Gold is what a person would extract: a phrase the extracted value must contain (for
    `when`, either may contain the other); None means the mail does not say it."""
    if name == "contact":
        want = sender(msg) if gold in (None, "sender") else str(gold)
        if "@" in want:
            return _norm(want) in _norm(got)
        return bool(_digits(want)) and _digits(want) in re.sub(r"\D", "", got or "")
    if gold is None:
        return not _norm(got)
    if not _norm(got):
        return False
    if name == "when":
        return _norm(gold) in _norm(got) or _norm(got) in _norm(gold)
    return _norm(gold) in _norm(got)


def ratio(num: int, den: int) -> str:
    return f"{100 * num / den:5.1f}% ({num}/{den})" if den else "   n/a (0/0)"


def report(
    title: str,
    pairs: Sequence[tuple[dict[str, Any], Predicted]],
    out: list[str],
    *,
    misses: bool,
) -> None:
    out.append(f"\n=== {title}: {len(pairs)} messages ===")
    if not pairs:
        return
    # Kind accuracy: messages in scope, the kind caredesk gives (out of scope is a miss).
    in_scope = [(m, p) for m, p in pairs if m["scope"] is None]
    kind_ok = sum(p.label == m["kind"] for m, p in in_scope)
    hz_tp = sum(m["hazard"] and p.hazard for m, p in pairs)
    hz_gold = sum(bool(m["hazard"]) for m, _ in pairs)
    hz_pred = sum(p.hazard for _, p in pairs)
    oos_gold = sum(m["scope"] is not None for m, _ in pairs)
    oos_pred = sum(p.scope is not None for _, p in pairs)
    oos_tp = sum(m["scope"] is not None and p.scope is not None for m, p in pairs)
    oos_cat = sum(m["scope"] is not None and p.scope == m["scope"] for m, p in pairs)
    figures = {
        "kind accuracy": ratio(kind_ok, len(in_scope)),
        "hazard recall": ratio(hz_tp, hz_gold),
        "hazard precision": ratio(hz_tp, hz_pred),
        "out-of-scope recall": ratio(oos_tp, oos_gold),
        "out-of-scope precision": ratio(oos_tp, oos_pred),
    }
    out.append(f"{'figure':<24}{'measured':<22}aim")
    for name, value in figures.items():
        out.append(f"{name:<24}{value:<22}{AIMS[name]}")
    out.append(f"{'scope category right':<24}{ratio(oos_cat, oos_gold)}")
    # The kind "other" (a question, a wrong address) came last (issue 9): accuracy without it.
    answerable = [(m, p) for m, p in in_scope if m["kind"] != "other"]
    answer_ok = sum(p.label == m["kind"] for m, p in answerable)
    out.append(f"{'kind accuracy w/o other':<24}{ratio(answer_ok, len(answerable))}")
    out.append(f"\n{'label':<13}{'precision':<22}{'recall':<22}support")
    for label in LABELS:
        tp = sum(gold_label(m) == label and p.label == label for m, p in pairs)
        n_pred = sum(p.label == label for _, p in pairs)
        n_gold = sum(gold_label(m) == label for m, _ in pairs)
        out.append(f"{label:<13}{ratio(tp, n_pred):<22}{ratio(tp, n_gold):<22}{n_gold}")
    confusion = Counter((gold_label(m), p.label) for m, p in pairs)
    out.append("\nconfusion (rows: label, columns: caredesk)")
    short = [lab[:5] for lab in LABELS]
    out.append(f"{'':<13}" + "".join(f"{s:>7}" for s in short))
    for gold in LABELS:
        cells = "".join(f"{confusion.get((gold, pred), 0):>7}" for pred in LABELS)
        out.append(f"{gold:<13}{cells}")
    hz_conf = Counter((bool(m["hazard"]), p.hazard) for m, p in pairs)
    out.append(
        f"hazard: true->true {hz_conf[(True, True)]}, true->false {hz_conf[(True, False)]}, "
        f"false->true {hz_conf[(False, True)]}, false->false {hz_conf[(False, False)]}"
    )
    labelled = [(m, p) for m, p in pairs if m.get("items")]
    if labelled:
        out.append(f"\nitems from {len(labelled)} labelled email bodies (bot/mail_items.py)")
        for name in ITEM_NAMES:
            ok = sum(
                item_correct(name, m["items"][name], p.items.get(name), m) for m, p in labelled
            )
            present = [(m, p) for m, p in labelled if m["items"][name] not in (None, "sender")]
            found = sum(
                item_correct(name, m["items"][name], p.items.get(name), m) for m, p in present
            )
            out.append(
                f"{name:<9} right {ratio(ok, len(labelled)):<20} "
                f"found where given {ratio(found, len(present))}"
            )
    if misses:
        wrong = [
            (m, p) for m, p in pairs if p.label != gold_label(m) or p.hazard != bool(m["hazard"])
        ]
        out.append(f"\nmisses ({len(wrong)})")
        for m, p in wrong:
            gold = gold_label(m) + (" +hazard" if m["hazard"] else "")
            got = p.label + (" +hazard" if p.hazard else "")
            text = " ".join(((m.get("subject") or "") + " " + m["text"]).split())
            out.append(f"- {m['id']} [{m['channel']}] label {gold} / caredesk {got}")
            out.append(f"    {text[:110]}{'...' if len(text) > 110 else ''}")
            for rule in p.rules[:3]:
                out.append(f"    rule {rule[:120]}")
        item_misses = [
            (m, name, p.items.get(name))
            for m, p in labelled
            for name in ITEM_NAMES
            if not item_correct(name, m["items"][name], p.items.get(name), m)
        ]
        out.append(f"\nitem misses ({len(item_misses)})")
        for m, name, got in item_misses:
            want = m["items"][name]
            out.append(f"- {m['id']} {name}: label {want!r} / got {(got or '')[:80]!r}")


def evaluate(
    messages: Iterable[dict[str, Any]], policy: Policy
) -> list[tuple[dict[str, Any], Predicted]]:
    return [(m, run(m, policy)) for m in messages]


def chat_agreement(messages: Iterable[dict[str, Any]], policy: Policy) -> tuple[int, int]:
    """Email bodies read again as chat first messages: how often both paths agree."""
    same = total = 0
    for msg in messages:
        if msg["channel"] != "email":
            continue
        sub = chat_submission(msg)
        chat = predicted(decide(sub, NOW, policy), sub, policy)
        email = run(msg, policy)
        total += 1
        same += (chat.label, chat.hazard) == (email.label, email.hazard)
    return same, total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SET, help="the labelled set (JSON lines)")
    parser.add_argument(
        "--split", choices=("dev", "heldout", "both"), default="both", help="which part to score"
    )
    parser.add_argument("--misses", action="store_true", help="list every miss and its rules")
    parser.add_argument("--limit", type=int, default=0, help="only the first N messages")
    args = parser.parse_args(argv)
    policy = Policy.from_config(Config())
    messages = load(args.file)
    if args.limit:
        messages = messages[: args.limit]
    out = [f"caredesk understanding benchmark: {len(messages)} messages from {args.file.name}"]
    splits = ("dev", "heldout") if args.split == "both" else (args.split,)
    for split in splits:
        chosen = [m for m in messages if m["split"] == split]
        report(split, evaluate(chosen, policy), out, misses=args.misses)
    same, total = chat_agreement(messages, policy)
    out.append(f"\nemail bodies read as chat first messages: same result {ratio(same, total)}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
