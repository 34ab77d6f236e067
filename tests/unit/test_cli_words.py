"""The command line's help and choices say what the code does (no word left from an older
design), read from the parser itself so they cannot drift again."""

from __future__ import annotations

import argparse

import pytest

from bot.cli import build_parser
from bot.model import Status


def subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("status", [s.value for s in Status])
def test_cases_list_filters_by_every_status_a_case_can_have(status):
    """`unreadable` (an email nothing could be read from) was missing from the choices."""
    args = build_parser().parse_args(["cases", "list", "--status", status])
    assert args.status == status


def test_serve_help_names_what_it_serves_and_nothing_as_later():
    """The web chat is served today; the help called part of the service "later"."""
    text = subparser(build_parser(), "serve").format_help()
    assert "web chat at /" in text and "/healthz" in text
    assert "later" not in text


def test_serve_says_where_cases_are_forwarded():
    from bot.cli import describe_tracker
    from bot.config import Config, parse_config

    assert "no departments configured" in describe_tracker(Config())
    cfg = parse_config(
        {
            "departments": [
                {"key": "waste", "name": "Waste", "tracker": "email", "email": "w@city.example"},
                {"key": "parks", "name": "Parks"},
            ]
        }
    )
    assert describe_tracker(cfg).startswith("waste (email), parks (none);")
