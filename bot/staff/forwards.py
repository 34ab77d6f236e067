"""Forwarding as staff see it (issue 12, item 4): the dead-letter list and its retry.

`/staff/forwards` lists the forwards a tracker refused (a 4xx) or that failed too many times,
each with the tracker's own words, the case it belongs to and a Retry button; below them the
forwards still being retried (the tracker is down or slow: nothing to do yet). Staff fix the
cause (the place, the service code mapping, an API key), then retry: the same outbox row and
idempotency key go again, so a retry is still one ticket. The case page shows the same
buttons beside each of its forwards.

A retry is a POST behind the staff middleware's CSRF check, audited, written in one
transaction with its timeline event; a second click finds the forward no longer dead and
changes nothing.
"""

from __future__ import annotations

from aiohttp import web

from bot.staff.access import (
    ID,
    PREFIX,
    STAFF,
    actor_of,
    audit_action,
    render,
    require_role,
    small_int,
)
from storage.db import write_transaction
from storage.forwards import dead_letters, forward_by_id, retry, retrying

TARGET_WORDS = {"open311": "Open311", "webhook": "webhook", "email": "email"}


def install_forwards(app: web.Application) -> None:
    """Called once by `install_staff`."""
    app.router.add_get(f"{PREFIX}/forwards", forwards_page)
    app.router.add_post(f"{PREFIX}/forwards/{{forward_id:{ID}}}/retry", retry_post)


@require_role("agent")
async def forwards_page(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    names = {d.key: d.name for d in site.config.departments}
    return render(
        request,
        "forwards.html.j2",
        title="Forwarding to departments",
        dead=dead_letters(site.db),
        retrying=retrying(site.db),
        names=names,
        targets=TARGET_WORDS,
        done=request.query.get("done", ""),
    )


@require_role("agent")
async def retry_post(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    forward_id = small_int(request.match_info["forward_id"])
    forward = forward_by_id(site.db, forward_id) if forward_id is not None else None
    if forward is None:
        raise web.HTTPNotFound(text="No such forward.")
    form = await request.post()
    back = str(form.get("back", ""))
    now = site.clock.now()
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        done = retry(site.db, forward.id, actor, now)
        if done:
            audit_action(
                request,
                "retried-forward",
                target_kind="case",
                target=forward.ref,
                detail={"forward": forward.id, "department": forward.department},
                now=now,
            )
    word = "retried" if done else "unchanged"
    if back == "case":
        raise web.HTTPSeeOther(f"{PREFIX}/cases/{forward.ref}?done=forward-{word}#tracker-h")
    raise web.HTTPSeeOther(f"{PREFIX}/forwards?done={word}")
