"""Layers point one way (DESIGN.md, "Layout"): the core's model and configuration at the
bottom, then storage, then the mail adapter; the services, workers and composition root of
bot/ above them. A module may import its own layer and the layers below it, never one above,
so an adapter never depends on the worker that drives it. Read from the source (AST), so a
function-level import counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("bot", "mail", "storage", "tracker")

#: The core that every layer may use: the nouns (a case's place among them), the
#: configuration, the clock.
CORE = {"bot.model", "bot.config", "bot.clock", "bot.place"}
#: The pure policy: decide(), the chain, the calendar, the dialogue flows, the wording.
#: No store, no mail, no channel, no worker.
PURE = {
    "bot.decide",
    "bot.policy",
    "bot.chain",
    "bot.chain_engine",
    "bot.phrases",
    "bot.enquiry",
    "bot.extract",
    "bot.phone_digits",
    "bot.sentences",
    "bot.when",
    "bot.wording",
    "bot.flows",
}

#: Package (or module) -> what its modules may import of the first-party code.
ALLOWED: dict[str, set[str]] = {
    "storage": CORE | {"storage"},
    # An adapter: the core, the store's outbox (the item it delivers and the delivery contract)
    # and its own package. Never bot's services, workers or composition root.
    "mail": CORE | {"mail", "storage.outbox"},
    # The tracker adapters (Open311, webhook): the same rule as mail's, so the forwarding
    # worker in bot/ drives them and they never reach back into it.
    "tracker": CORE | {"tracker", "storage.outbox"},
    **{name: CORE | PURE for name in PURE},
    **{name: CORE for name in CORE},
}


def imports_of(path: Path) -> set[str]:
    """Every first-party module `path` imports, at any depth (type-checking blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> str | None:
    """The most specific key of ALLOWED that `module` is, or is inside."""
    keys = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    return max(keys, key=len) if keys else None


def allowed(target: str, rules: set[str]) -> bool:
    return any(target == r or target.startswith(r + ".") for r in rules)


MODULES = sorted(
    path
    for package in FIRST_PARTY
    for path in (ROOT / package).rglob("*.py")
    if layer_of(module_name(path)) is not None
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    rules = ALLOWED[layer_of(module_name(path)) or ""]
    upward = sorted(t for t in imports_of(path) if not allowed(t, rules))
    assert upward == [], f"{module_name(path)} imports a layer above it: {upward}"


def test_the_checked_layers_are_the_ones_the_design_names():
    """The table covers every module of mail/ and storage/ and the pure core, so a new module
    there is checked from its first commit."""
    checked = {module_name(p) for p in MODULES}
    for package in ("mail", "storage", "tracker"):
        names = {module_name(p) for p in (ROOT / package).rglob("*.py")}
        assert names <= checked
    assert {"bot.decide", "bot.model", "bot.flows.complaint"} <= checked


def test_no_adapter_or_store_imports_a_worker():
    """The arrow this table was written for: mail/smtp.py imported DeliveryError from the
    outbox worker. Adapters implement the delivery contract in storage/outbox.py instead."""
    for path in MODULES:
        if module_name(path).startswith(("mail", "storage")):
            assert not any(t.endswith("_worker") for t in imports_of(path)), path


def test_the_pure_policy_has_no_import_cycle():
    """decide() is the chain's entry point; the chain never imports it back (it did, for the
    `Policy` type, which now lives with the rules in bot/policy.py)."""
    graph = {
        module_name(p): imports_of(p) for p in MODULES if layer_of(module_name(p)) in PURE | CORE
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for target in graph.get(start, ()):
            if target == goal or (target not in seen and reaches(target, goal, seen | {target})):
                return True
        return False

    cyclic = sorted(m for m in graph if reaches(m, m, {m}))
    assert cyclic == []
