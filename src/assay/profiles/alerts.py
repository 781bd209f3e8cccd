"""Alerts: queued once per transition into an outbox, delivered by the scheduler's leader with back-off.

A generic webhook receives the JSON payload with ``X-Assay-Signature: sha256=<hex>``, the HMAC-SHA256 of the
exact body under the sink's secret, and ``X-Assay-Delivery: <outbox id>`` (receivers de-duplicate on it). A
``slack`` sink receives an incoming-webhook payload (``text`` and ``blocks``). A failed delivery (no answer,
or not 2xx) is retried after ``backoff * 2**(attempts-1)`` seconds; after ``max_attempts`` it is ``dead``
(dead-lettered, kept with its last error). A profile in ``dry_run`` queues rows in state ``dry-run``: what
would have been sent, never sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from sqlalchemy import Engine, select, update

from assay.profiles.history import Transition
from assay.profiles.model import Entity
from assay.profiles.records import list_sinks, now_ms
from assay.store.schema import alert_outbox
from assay.store.txn import write_transaction

SIGNATURE_HEADER = "X-Assay-Signature"
DELIVERY_HEADER = "X-Assay-Delivery"
BATCH = 100


def payload(project: str, profile: str, entity: Entity, tr: Transition, t: int) -> dict[str, Any]:
    """The generic webhook's JSON document for one transition."""
    o = tr.outcome
    return {
        "type": "assay.profile.transition",
        "project": project,
        "profile": profile,
        "rule": o.rule,
        "entity": {"id": entity.id, "kind": entity.kind, "name": entity.name},
        "target": o.target,
        "digest": o.digest,
        "status": o.status,
        "previous": tr.previous,
        "reason": o.reason,
        "message": o.message,
        "time": t,
    }


def slack_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message for the same transition."""
    mark = "FAILING" if doc["status"] == "failure" else "PASSING again"
    text = f"[{doc['project']}] {doc['profile']}/{doc['rule']}: {doc['target']} is {mark}"
    detail = f"{doc['reason'] or doc['status']}: {doc['message']}".strip(": ")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{detail} · digest {doc['digest']}"}]},
        ],
    }


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue(engine: Engine, project: str, profile: str, mode: str, entity: Entity, transitions: list[Transition]) -> int:
    """One outbox row per (transition, sink); ``dry_run`` rows are recorded and never sent. Returns rows."""
    if mode == "off" or not transitions:
        return 0
    sinks = list_sinks(engine, project)
    t = now_ms()
    rows = []
    for tr in transitions:
        doc = payload(project, profile, entity, tr, t)
        for sink in sinks:
            body = slack_payload(doc) if sink["kind"] == "slack" else doc
            rows.append(
                dict(
                    project=project,
                    sink=sink["name"],
                    profile=profile,
                    rule=tr.outcome.rule,
                    entity=entity.name,
                    target=tr.outcome.target,
                    status=tr.outcome.status,
                    body=json.dumps(body, separators=(",", ":"), sort_keys=True),
                    state="dry-run" if mode == "dry_run" else "pending",
                    attempts=0,
                    next_attempt=t,
                    last_error="",
                    created=t,
                )
            )
    if rows:
        with write_transaction(engine) as conn:
            conn.execute(alert_outbox.insert(), rows)
    return len(rows)


def deliver(engine: Engine, client: httpx.Client, max_attempts: int, backoff: float) -> int:
    """Send every due pending alert once; returns how many were sent."""
    t = now_ms()
    o = alert_outbox.c
    with engine.connect() as conn:
        due = list(
            conn.execute(
                select(alert_outbox).where(o.state == "pending", o.next_attempt <= t).order_by(o.id).limit(BATCH)
            )
        )
    secrets: dict[tuple[str, str], dict[str, Any]] = {}
    sent = 0
    for row in due:
        key = (row.project, row.sink)
        if key not in secrets:
            secrets.update({(row.project, s["name"]): s for s in list_sinks(engine, row.project, with_secrets=True)})
        sink = secrets.get(key)
        if sink is None:
            continue  # the sink was removed (its pending rows with it)
        body = row.body.encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(row.id)}
        if sink.get("secret"):
            headers[SIGNATURE_HEADER] = sign(sink["secret"], body)
        error = ""
        try:
            resp = client.post(sink["url"], content=body, headers=headers)
            if not 200 <= resp.status_code < 300:
                error = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = int(row.attempts) + 1
        if not error:
            values: dict[str, Any] = dict(state="sent", attempts=attempts, last_error="")
            sent += 1
        elif attempts >= max_attempts:
            values = dict(state="dead", attempts=attempts, last_error=error)
        else:
            delay = backoff * 2 ** (attempts - 1)
            values = dict(attempts=attempts, last_error=error, next_attempt=now_ms() + int(delay * 1000))
        with write_transaction(engine) as conn:
            conn.execute(update(alert_outbox).where(o.id == row.id, o.state == "pending").values(**values))
    return sent


def outbox(engine: Engine, project: str, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """A project's alerts, newest first (state: pending | sent | dead | dry-run)."""
    o = alert_outbox.c
    q = select(alert_outbox).where(o.project == project)
    if state is not None:
        q = q.where(o.state == state)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(o.id.desc()).limit(max(1, min(limit, 1000))))
        return [
            {
                "id": int(r.id),
                "sink": r.sink,
                "profile": r.profile,
                "rule": r.rule,
                "entity": r.entity,
                "target": r.target,
                "status": r.status,
                "state": r.state,
                "attempts": int(r.attempts),
                "lastError": r.last_error,
                "created": int(r.created),
                "body": json.loads(r.body),
            }
            for r in rows
        ]
