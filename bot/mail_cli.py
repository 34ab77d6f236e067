"""`caredesk mail inspect` and `caredesk mail check`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.decide import Policy
from bot.department_replies import department_claim
from bot.intake import compose
from bot.mail_intake import Assessment, assess, mail_identity
from bot.replies import ReplyRenderer
from mail.autoreply import MACHINE_RULES
from mail.identity import identity_of
from mail.parse import parse_message


def preview_reference(policy: Policy, found: Assessment) -> str:
    """The reference a case would get is only known when it is filed; this stands in."""
    assert found.submission is not None
    year = found.submission.received_at.astimezone(policy.config.tz).year
    return f"{policy.config.reference_prefix}-{year}-000000"


def rendered_replies(
    policy: Policy, renderer: ReplyRenderer, found: Assessment
) -> list[dict[str, Any]]:
    """Each reply with its subject and body as the outbox (or a draft) would hold them, from
    the same `compose()` that intake uses, so nothing is rendered twice two ways."""
    sub, decision = found.submission, found.decision
    if sub is None or decision is None:
        return []
    ref = preview_reference(policy, found)
    out = []
    for planned in decision.replies:
        reply = compose(policy, renderer, ref, sub, decision, planned.kind, "email")
        out.append(
            {
                "kind": planned.kind,
                "review": planned.review,
                "subject": reply.subject,
                "body": reply.body,
            }
        )
    return out


def inspect_result(
    name: str,
    found: Assessment,
    rendered: list[dict[str, Any]] | None = None,
    config: Config | None = None,
) -> dict[str, Any]:
    inbound = found.inbound
    claim = None
    if config is not None and not inbound.unreadable:
        me = identity_of(config)
        machine = found.hit.rule if found.hit and found.hit.rule in MACHINE_RULES else None
        claim = department_claim(inbound, me, config.departments, found.unverified, machine)
    decision = found.decision
    replies = [{"kind": r.kind, "review": r.review} for r in decision.replies] if decision else []
    return {
        "file": name,
        "acknowledge": found.acknowledge,
        "reason": found.hit.rule if found.hit else None,
        "why": found.hit.reason if found.hit else None,
        "thread": found.thread,
        # Why the city's mail server could not verify the sender ([mail] authserv_id), or null.
        "sender_not_verified": found.unverified,
        # A reply to our mail to a department (bot/department_replies.py): the case it names,
        # the department that sent it, and why intake would refuse it, or null. Intake also
        # checks that the department is the case's own, which needs the store.
        "department_reply": claim,
        # Policy 04.06 (bot/ombudsman.py): verified mail from the Ombudsman's office, or why
        # a From claiming it was not trusted; null for anyone else's mail.
        "ombudsman_office": found.facts.ombudsman_office,
        "ombudsman_not_verified": found.facts.ombudsman_claimed,
        "from": inbound.from_addr,
        "subject": None if inbound.unreadable else inbound.subject,
        "message_id": inbound.message_id,
        "text": inbound.text,
        "kind": decision.kind.value if decision else None,
        "missing": list(decision.missing) if decision else [],
        "replies": rendered if rendered is not None else replies,
        "rules": [h.rule for h in decision.hits] if decision else [],
        # The loop guard's rules, then the policy chain's (bot/chain.py): every rule tried,
        # whether it fired, why, and its action; the same trace `caredesk explain` prints.
        "trace": [t.as_dict() for t in found.trace],
        "attachments": [
            {"name": a.name, "type": a.content_type, "size": a.size} for a in inbound.attachments
        ],
    }


def cmd_mail_inspect(files: list[str], config: Config, render: bool = False) -> int:
    policy = Policy.from_config(config)
    renderer = ReplyRenderer()
    me = mail_identity(policy)
    from bot.cli import process_clock

    now = process_clock().now()
    status = 0
    for name in files:
        try:
            raw = Path(name).read_bytes()
        except OSError as exc:
            print(f"caredesk: {name}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        found = assess(parse_message(raw), now, policy, me)
        rendered = rendered_replies(policy, renderer, found) if render else None
        result = inspect_result(name, found, rendered, config)
        print(json.dumps(result, ensure_ascii=False))
    return status


def cmd_mail_check(config: Config) -> int:
    mail = config.mail
    if mail.imap is None and mail.smtp is None:
        print("mail is not configured: add [mail.imap] and [mail.smtp] (caredesk.example.toml)")
        return 1
    ok = True
    if mail.imap is not None:
        ok &= _check_imap(config)
    if mail.smtp is not None:
        ok &= asyncio.run(_check_smtp(config))
    return 0 if ok else 1


def _check_imap(config: Config) -> bool:
    from mail.imap import connect

    cfg = config.mail.imap
    assert cfg is not None
    where = f"imap {cfg.host}:{cfg.port} ({cfg.security})"
    if not cfg.password:
        print(f"{where}: CAREDESK_IMAP_PASSWORD is not set")
        return False
    try:
        client = connect(cfg)
    except Exception as exc:  # the point is to say what is wrong, whatever it is
        print(f"{where}: cannot log in as {cfg.user!r}: {type(exc).__name__}: {exc}")
        return False
    try:
        info = client.select_folder(cfg.folder, readonly=True)
        idle = "IDLE supported" if client.has_capability("IDLE") else "no IDLE: will poll"
        print(
            f"{where}: OK, logged in as {cfg.user!r}; {cfg.folder} holds "
            f"{int(info[b'EXISTS'])} messages; {idle}"
        )
        return True
    except Exception as exc:
        print(f"{where}: logged in, but folder {cfg.folder!r}: {exc}")
        return False
    finally:
        client.logout()


async def _check_smtp(config: Config) -> bool:
    import aiosmtplib

    from mail.smtp import SmtpSender
    from storage.outbox import DeliveryError

    cfg = config.mail.smtp
    assert cfg is not None
    where = f"smtp {cfg.host}:{cfg.port} ({cfg.security})"
    if cfg.user and not cfg.password:
        print(f"{where}: CAREDESK_SMTP_PASSWORD is not set (user {cfg.user!r})")
        return False
    sender = SmtpSender(config.mail, cfg)
    try:
        client = await sender.connect()
        await client.noop()
    except (DeliveryError, aiosmtplib.SMTPException, OSError) as exc:
        print(f"{where}: {exc}")
        return False
    finally:
        await sender.close()
    auth = f"authenticated as {cfg.user!r}" if cfg.user else "no AUTH configured"
    print(f"{where}: OK, {auth}")
    return True
