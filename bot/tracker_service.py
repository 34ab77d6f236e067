"""Forwarding under `caredesk serve`: the tracker's outbox worker, and a check at start.

At start each Open311 department's `services.json` is read and the configured service codes
(the default and the category mapping) are checked against it, as `caredesk tracker check`
does; a problem is logged and shown in /healthz as the `tracker` state, in words, before any
forward fails on it. Forwarding still runs: a case whose code is fine still goes, and one
whose code is refused lands on the dead-letter list with the tracker's answer.
"""

from __future__ import annotations

import logging

import aiohttp
import sqlite_utils

from bot.clock import Clock
from bot.config import Config
from bot.forwarder import ForwardSender, tracked_departments
from bot.health import DEGRADED, OK, Health
from bot.outbox_worker import OutboxWorker
from bot.tracker_targets import open311_client, service_code_check
from tracker.open311 import Open311Error

log = logging.getLogger(__name__)


def forward_worker(db: sqlite_utils.Database, config: Config, clock: Clock) -> OutboxWorker:
    return OutboxWorker(
        db,
        ForwardSender(db, config),
        clock,
        retry_base_seconds=float(config.tracker.retry_base_seconds),
        max_attempts=config.tracker.max_attempts,
    )


async def check_service_mapping(config: Config) -> list[str]:
    """What is wrong with the Open311 departments' service codes, in words (empty: nothing)."""
    problems: list[str] = []
    timeout = float(config.tracker.timeout_seconds)
    async with aiohttp.ClientSession(trust_env=True) as session:
        for dept in config.departments:
            if dept.tracker != "open311":
                continue
            try:
                services = await open311_client(session, dept, timeout).services()
            except Open311Error as exc:
                problems.append(f"{dept.key}: services.json: {exc.words()}")
                continue
            found, _ = service_code_check(dept, services)
            problems.extend(f"{dept.key}: {p}" for p in found)
    return problems


async def run_forwarding(
    db: sqlite_utils.Database, config: Config, clock: Clock, health: Health
) -> None:
    """Until cancelled: check the mapping once, then drive the tracker's outbox."""
    if not tracked_departments(config):
        return
    problems = await check_service_mapping(config)
    if problems:
        for problem in problems:
            log.warning("tracker configuration", extra={"problem": problem})
        health.set("tracker", DEGRADED, "; ".join(problems)[:300])
    else:
        health.set("tracker", OK)
    await forward_worker(db, config, clock).run()
