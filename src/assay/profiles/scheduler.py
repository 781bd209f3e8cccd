"""The evaluation scheduler: one leader at a time (lease ``profile-scheduler``) re-evaluates each due profile
over every entity of its project, records the results, queues alerts on transitions and delivers them.

A profile is due when its ``next_run`` has passed: on its interval, at once after it is applied, when an
entity is added to its project, and when new evidence arrives about a digest its latest state names. The
leader renews its lease every tick and between batches of entities; a process that loses it stops mid-round,
and another process takes over one TTL after the leader dies (results are written in per-batch transactions,
each entity's results whole, so a round cut short leaves whole results only).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, update

from assay.profiles import alerts, history, records
from assay.profiles.evaluate import Context, evaluate
from assay.profiles.model import Entity, Profile
from assay.profiles.parse import parse_profile
from assay.store import lease
from assay.store.schema import profiles
from assay.store.txn import write_transaction

log = logging.getLogger("assay.profiles")
BATCH = 50  # entities whose results are written in one transaction


@dataclass
class Options:
    """How often the scheduler looks for due work, and how alerts are retried."""

    tick: float = 5.0
    workers: int = 8  # entities evaluated at once (registry round trips overlap)
    alert_attempts: int = 5
    alert_backoff: float = 2.0
    alert_timeout: float = 10.0


@dataclass
class RoundStats:
    """What one round did (the benchmark reads it)."""

    profiles: int = 0
    evaluations: int = 0  # (profile x entity) pairs
    outcomes: int = 0
    transitions: int = 0
    seconds: float = 0.0


class Scheduler:
    """The background loop; :meth:`run_round` is one round without the thread or the lease (tests, benchmark)."""

    LEASE = "profile-scheduler"

    def __init__(self, engine: Engine, ctx: Context, options: Options) -> None:
        self.engine = engine
        self.ctx = ctx
        self.options = options
        self.ttl = options.tick * 3 + 1.0
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._client = httpx.Client(timeout=options.alert_timeout, follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name="profile-scheduler", daemon=True)

    def start(self) -> None:
        if self.options.tick > 0:
            self._thread.start()

    def wake(self) -> None:
        """Look for due work now rather than at the next tick."""
        self._wake.set()

    def _leading(self) -> bool:
        return lease.acquire(self.engine, self.LEASE, self.holder, self.ttl)

    def tick(self) -> RoundStats | None:
        """One round if this process holds (or now takes) the lease."""
        if not self._leading():
            return None
        stats = self.run_round(check_lease=True)
        alerts.deliver(self.engine, self._client, self.options.alert_attempts, self.options.alert_backoff)
        return stats

    def run_round(self, check_lease: bool = False, now: int | None = None) -> RoundStats:
        """Evaluate every due profile over its project's entities."""
        started = time.monotonic()
        stats = RoundStats()
        t = now if now is not None else records.now_ms()
        due = records.due_profiles(self.engine, t)
        with ThreadPoolExecutor(max(1, self.options.workers), thread_name_prefix="profile-eval") as pool:
            for row in due:
                if check_lease and not self._leading():
                    break
                if self._evaluate_profile(row, pool, stats, check_lease):
                    stats.profiles += 1
        stats.seconds = time.monotonic() - started
        return stats

    def _evaluate_profile(self, row: Any, pool: ThreadPoolExecutor, stats: RoundStats, check_lease: bool) -> bool:
        try:
            profile = parse_profile(row.document.encode(), 0)
        except Exception:  # stored documents were checked when applied; a newer assay may refuse an old one
            log.exception("profile %s/%s no longer compiles", row.project, row.name)
            self._reschedule(row)
            return False
        entities = records.list_entities(self.engine, row.project)
        futures = [(e, pool.submit(self._outcomes, profile, e)) for e in entities]
        for start in range(0, len(futures), BATCH):
            batch = [(e, f.result()) for e, f in futures[start : start + BATCH]]
            t = records.now_ms()
            queued = []
            with write_transaction(self.engine) as conn:  # one commit per batch of entities, not per entity
                for entity, outcomes in batch:
                    found = history.record_in(conn, row.project, row.name, int(row.version), entity, outcomes, t)
                    queued.append((entity, found))
                    stats.evaluations += 1
                    stats.outcomes += len(outcomes)
                    stats.transitions += len(found)
            for entity, found in queued:
                alerts.queue(self.engine, row.project, row.name, profile.alert, entity, found)
            if check_lease and not self._leading():
                for _, f in futures:
                    f.cancel()
                return False
        self._reschedule(row)
        return True

    def _outcomes(self, profile: Profile, entity: Entity) -> list[history.Outcome]:
        try:
            return evaluate(self.ctx, profile, entity)
        except Exception as exc:  # an unexpected bug must not stop the round or pass silently
            log.exception("evaluating %s over entity %s", profile.name, entity.id)
            return [
                history.Outcome(entity.name, None, r, "error", "evaluation-crashed", str(exc)) for r in profile.rules
            ]

    def _reschedule(self, row: Any) -> None:
        """Next run one interval on, unless the profile changed (or was made due again) meanwhile."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(profiles)
                .where(
                    profiles.c.project == row.project,
                    profiles.c.name == row.name,
                    profiles.c.version == row.version,
                    profiles.c.next_run == row.next_run,
                )
                .values(next_run=records.now_ms() + int(row.interval) * 1000)
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database away for a moment: the next tick retries
                log.exception("profile scheduler tick failed")
            self._wake.wait(self.options.tick)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the loop and give up the lease."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._client.close()
        try:
            lease.release(self.engine, self.LEASE, self.holder)
        except Exception:  # the lease expires by itself
            pass
