"""Leases on SQLite and PostgreSQL: take, renew, refuse, expire, release; exactly one holder under contention."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from assay.store import lease
from tests.integration.conftest import migrated_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request.param, tmp_path)


def test_a_free_lease_is_taken_and_others_are_refused(engine: Engine) -> None:
    assert lease.acquire(engine, "job", "a", 30)
    assert lease.holder_of(engine, "job") == "a"
    assert not lease.acquire(engine, "job", "b", 30)
    assert lease.holder_of(engine, "job") == "a"
    assert lease.acquire(engine, "other-job", "b", 30)  # leases are per name


def test_the_holder_renews_and_keeps_it_past_the_first_ttl(engine: Engine) -> None:
    assert lease.acquire(engine, "job", "a", 0.6)
    time.sleep(0.4)
    assert lease.acquire(engine, "job", "a", 0.6)  # renewed before expiry
    time.sleep(0.4)  # past the first TTL, within the renewed one
    assert not lease.acquire(engine, "job", "b", 0.6)
    assert lease.holder_of(engine, "job") == "a"


def test_an_expired_lease_is_taken_over(engine: Engine) -> None:
    assert lease.acquire(engine, "job", "a", 0.3)
    time.sleep(0.5)
    assert lease.holder_of(engine, "job") is None
    assert lease.acquire(engine, "job", "b", 30)
    assert lease.holder_of(engine, "job") == "b"
    assert not lease.acquire(engine, "job", "a", 30)  # the old holder does not get it back


def test_release_frees_it_only_for_the_holder(engine: Engine) -> None:
    assert lease.acquire(engine, "job", "a", 30)
    assert not lease.release(engine, "job", "b")
    assert lease.holder_of(engine, "job") == "a"
    assert lease.release(engine, "job", "a")
    assert lease.holder_of(engine, "job") is None
    assert not lease.release(engine, "job", "a")
    assert lease.acquire(engine, "job", "b", 30)


@pytest.mark.parametrize("expired_first", [False, True])
def test_threads_racing_for_a_lease_get_exactly_one_holder(engine: Engine, expired_first: bool) -> None:
    if expired_first:  # the race is over an existing, expired row (UPDATE path), not a missing one (INSERT path)
        assert lease.acquire(engine, "job", "old", 0.05)
        time.sleep(0.2)
    n = 8
    barrier = threading.Barrier(n)
    won: list[str] = []
    errors: list[BaseException] = []

    def contend(me: str) -> None:
        try:
            barrier.wait()
            if lease.acquire(engine, "job", me, 30):
                won.append(me)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(won) == 1, won
    assert lease.holder_of(engine, "job") == won[0]
