"""Group-committed audit rows: concurrent callers share transactions and the chain still holds."""

from __future__ import annotations

import threading
from pathlib import Path

from assay.access.audit import AuditLog, Event, walk
from assay.access.auditgroup import GroupAppender
from assay.store.db import database_url, migrate, open_engine


def test_concurrent_appends_keep_one_intact_chain(tmp_path: Path) -> None:
    engine = open_engine(database_url(None, tmp_path))
    migrate(engine)
    log = AuditLog(engine)
    group = GroupAppender(log)
    barrier = threading.Barrier(8)

    def caller(i: int) -> None:
        barrier.wait()
        for j in range(40):
            group.append(
                [
                    Event(f"actor-{i}", "registry.token", "ok", target=f"{i}-{j}a"),
                    Event(f"actor-{i}", "registry.token", "ok", target=f"{i}-{j}b"),
                ]
            )

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = log.rows(limit=10000)
    assert len(rows) == 8 * 40 * 2
    checked, broken = walk(rows, [])
    assert broken is None and checked == len(rows)
    targets = [r["target"] for r in rows]
    for i in range(8):  # each caller's rows stay together and in its order
        mine = [t for t in targets if t.startswith(f"{i}-")]
        assert mine == [f"{i}-{j}{s}" for j in range(40) for s in "ab"]
        first = targets.index(f"{i}-0a")
        assert targets[first + 1] == f"{i}-0b"
    assert group.groups < 8 * 40, "concurrent callers shared commits"
    engine.dispose()


def test_a_failed_write_reaches_the_caller_and_the_writer_goes_on(tmp_path: Path) -> None:
    engine = open_engine(database_url(None, tmp_path))
    migrate(engine)
    log = AuditLog(engine)
    group = GroupAppender(log)
    bad = Event("a", "registry.token", "ok", token_id="x" * 10_000)  # the column is too long for PostgreSQL only
    real_append = log.append_many
    calls = {"n": 0}

    def failing(events: list[Event]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full")
        return real_append(events)

    log.append_many = failing  # type: ignore[method-assign]
    try:
        group.append([bad])
    except RuntimeError as exc:
        assert str(exc) == "disk full"
    else:
        raise AssertionError("the failure was not reported")
    group.append([Event("a", "registry.token", "ok")])
    assert log.count() == 1
    engine.dispose()
