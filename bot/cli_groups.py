"""One shape for every command that has actions (`caredesk cases list`, `staff add`...)."""

from __future__ import annotations

import argparse
from typing import Any


def command_group(commands: Any, name: str, *, help: str, description: str) -> Any:
    """Add `name` to `commands` (a subparsers object) and return its required actions, parsed
    into `args.<name>_command` by the same parser class as the group itself."""
    group: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    actions = group.add_subparsers(
        dest=f"{name}_command", metavar="ACTION", parser_class=type(group)
    )
    actions.required = True
    return actions
