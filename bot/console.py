"""The terminal channel: the dialogue over stdin/stdout, interactive or piped (one line a
message). It only translates; everything else is `ChatService`'s."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.chat import ChatService, Turn
from bot.model import Reply

CHANNEL = "console"


def render_reply(reply: Reply) -> str:
    if not reply.choices:
        return reply.text
    options = "  ".join(f"[{c}]" for c in reply.choices)
    return f"{reply.text}\n{options}"


def run_console(
    service: ChatService, session: str, stdin: TextIO, stdout: TextIO, fresh: bool = False
) -> int:
    """Run one conversation; returns the exit status (130 after Ctrl-C, as shells expect)."""
    key = f"{CHANNEL}:{session}"
    interactive = stdin.isatty()

    def show(turn: Turn) -> None:
        for reply in turn.replies:
            stdout.write(render_reply(reply) + "\n\n")
        stdout.flush()
        service.delivered(turn)

    if fresh:
        service.discard(key)
    show(service.open(CHANNEL, key))
    try:
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                break
            if not line.strip() and not interactive:
                continue
            show(service.handle(CHANNEL, key, line.rstrip("\r\n")))
    except KeyboardInterrupt:
        stdout.write("\n")
        _goodbye(stdout)
        return 130
    if interactive:
        _goodbye(stdout)
    return 0


def _goodbye(stdout: TextIO) -> None:
    stdout.write(
        "Goodbye. Anything you confirmed has been sent; an unfinished conversation "
        "is kept, and `caredesk chat` picks it up where you left off.\n"
    )
    stdout.flush()


def main_console(service: ChatService, session: str, fresh: bool) -> int:
    return run_console(service, session, sys.stdin, sys.stdout, fresh)
