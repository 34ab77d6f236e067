"""The composition root: the only place that reads the configuration and wires the parts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from aiohttp import web

from bot.chat import ChatService
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.decide import Policy
from bot.flows.complaint import ComplaintFlow
from bot.intake import Intake
from bot.replies import ReplyRenderer
from storage.cases import count_cases
from storage.db import SCHEMA_VERSION, open_store, schema_version
from storage.outbox import pending_drafts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    config: Config
    db: sqlite_utils.Database
    policy: Policy
    renderer: ReplyRenderer
    intake: Intake
    flow: ComplaintFlow
    chat: ChatService
    clock: Clock


def build_services(
    config: Config, db_path: Path | None = None, clock: Clock | None = None
) -> Services:
    db = open_store(db_path or config.store_path)
    policy = Policy.from_config(config)
    renderer = ReplyRenderer()
    intake = Intake(db, policy, renderer)
    flow = ComplaintFlow(config, policy.rules)
    clock = clock or SystemClock()
    return Services(
        config, db, policy, renderer, intake, flow, ChatService(db, flow, intake, clock), clock
    )


SERVICES = web.AppKey("services", Services)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and a glance at the queues, for the city's monitoring. No personal data."""
    services = request.app[SERVICES]
    db = services.db
    return web.json_response(
        {
            "status": "ok",
            "schema": schema_version(db),
            "schema_expected": SCHEMA_VERSION,
            "cases": count_cases(db),
            "drafts_pending": pending_drafts(db),
        }
    )


def build_app(services: Services) -> web.Application:
    app = web.Application()
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        services.db.close()

    app.cleanup_ctx.append(close_store)
    return app
