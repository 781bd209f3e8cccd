"""The dashboard's read API over a real SQLite store: overview, profile and entity pages, the timeline, and
history rows written on change only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.profiles import history, query, records
from assay.profiles.history import Outcome
from assay.profiles.model import Entity
from assay.profiles.parse import parse_profile
from assay.store.db import migrate, open_engine

RULE = {"name": "signed", "signature": {"authorities": {"keyless": [{"issuer": "https://i", "subject": "s"}]}}}
DOC = {"apiVersion": "assay.dev/v1", "kind": "Profile", "metadata": {"name": "release"}, "spec": {"rules": [RULE]}}


def test_pages_and_timeline(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    e = records.add_entity(engine, Entity(0, "p", "image", "127.0.0.1:5000/team/app", ("latest",), None, True, 1, "me"))
    records.apply_profile(engine, "p", parse_profile(json.dumps(DOC).encode(), 0), "me")
    assert query.overview(engine, "p")["profiles"][0]["status"] == "pending"
    t = "127.0.0.1:5000/team/app:latest"
    fail = Outcome(t, "sha256:" + "a" * 64, "signed", "failure", "no-signatures", "nothing attached")
    first = history.record(engine, "p", "release", 1, e, [fail], 1000)
    assert [tr.previous for tr in first] == [None]  # a first failure alerts
    assert history.record(engine, "p", "release", 1, e, [fail], 2000) == []  # unchanged: no alert, no row
    ok = Outcome(t, "sha256:" + "b" * 64, "signed", "success", "", "", [{"what": "key", "expected": "k", "found": "k"}])
    back = history.record(engine, "p", "release", 1, e, [ok], 3000)
    assert [(tr.outcome.status, tr.previous) for tr in back] == [("success", "failure")]
    over = query.overview(engine, "p")
    assert over["profiles"][0]["status"] == "success" and over["entities"][0]["status"] == "success"
    page = query.entity_page(engine, "p", e.id)
    assert page["digests"] == ["sha256:" + "b" * 64, "sha256:" + "a" * 64]
    assert [r["status"] for r in page["timeline"]] == ["success", "failure"]
    assert page["timeline"][0]["checks"] == [{"what": "key", "expected": "k", "found": "k"}]
    prof = query.profile_page(engine, "p", "release")
    assert prof["version"] == 1 and prof["entities"][0]["rows"][0]["since"] == 3000
    rows, nxt = query.timeline(engine, "p", status="failure", limit=1)
    assert len(rows) == 1 and nxt is None
    rows, nxt = query.timeline(engine, "p", limit=1)
    assert len(rows) == 1 and nxt is not None
    assert query.timeline(engine, "p", before=nxt)[0][0]["status"] == "failure"
    with pytest.raises(LookupError):
        query.entity_page(engine, "p", 999)
    with pytest.raises(LookupError):
        query.profile_page(engine, "p", "nope")


def test_the_scheduler_evaluates_live_projects_only(tmp_path: Path) -> None:
    from sqlalchemy import update

    from assay.evidence.store import EvidenceStore
    from assay.profiles.evaluate import Context
    from assay.profiles.scheduler import Options, Scheduler
    from assay.service.blob import public_good_root
    from assay.store.schema import projects
    from assay.store.txn import write_transaction

    engine = open_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    with write_transaction(engine) as conn:
        for name in ("live", "gone"):
            conn.execute(projects.insert().values(name=name, created=0, created_by="me"))
    profile = parse_profile(json.dumps(DOC).encode(), 0)
    for name in ("live", "gone"):
        records.add_entity(engine, Entity(0, name, "evidence-subject", "sha256:" + "c" * 64, (), None, False, 1, "me"))
        records.apply_profile(engine, name, profile, "me")
    with write_transaction(engine) as conn:
        conn.execute(update(projects).where(projects.c.name == "gone").values(deleted=5))
    ctx = Context(engine, EvidenceStore(engine, public_good_root), public_good_root, public_good_root)
    stats = Scheduler(engine, ctx, Options(tick=0)).run_round()
    assert (stats.profiles, stats.evaluations) == (1, 1)
    (row,) = history.latest(engine, "live")
    assert row["status"] == "failure" and row["target"] == "sha256:" + "c" * 64, row
    assert history.latest(engine, "gone") == []
    # evaluated now: not due again until its interval has passed
    assert Scheduler(engine, ctx, Options(tick=0)).run_round().profiles == 0


def test_pages_of_entities_and_counted_summaries(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    records.apply_profile(engine, "p", parse_profile(json.dumps(DOC).encode(), 0), "me")
    made = [
        records.add_entity(
            engine, Entity(0, "p", "image", f"127.0.0.1:5000/team/app{i}", ("latest",), None, True, 1, "me")
        )
        for i in range(7)
    ]
    for i, e in enumerate(made):
        status = "failure" if i % 3 == 0 else "success"
        out = Outcome(
            f"t{i}", "sha256:" + "a" * 64, "signed", status, "no-signatures" if status == "failure" else "", ""
        )
        history.record(engine, "p", "release", 1, e, [out], 1000 + i)
    every = query.overview(engine, "p")
    assert every["entityCount"] == 7 and every["nextEntity"] is None and len(every["entities"]) == 7
    assert (
        every["profiles"][0]["counts"] == {"failure": 3, "success": 4} and every["profiles"][0]["status"] == "failure"
    )
    assert query.profile_summaries(engine, "p") == every["profiles"]
    seen, after = [], 0
    while True:  # pages of 3 cover every entity once, in id order, with the same statuses as the whole list
        page = query.overview(engine, "p", after=after, limit=3)
        assert page["entityCount"] == 7 and len(page["entities"]) <= 3
        seen += [(e["id"], e["status"]) for e in page["entities"]]
        if page["nextEntity"] is None:
            break
        after = page["nextEntity"]
    assert seen == [(e["id"], e["status"]) for e in every["entities"]]
    prof = query.profile_page(engine, "p", "release", after=made[2].id, limit=2)
    assert [e["id"] for e in prof["entities"]] == [made[3].id, made[4].id] and prof["nextEntity"] == made[4].id
    assert [r["status"] for e in prof["entities"] for r in e["rows"]] == ["failure", "success"]
    assert prof["counts"] == {"failure": 3, "success": 4}  # the profile's summary is over every entity, not the page
    assert query.profile_page(engine, "p", "release", after=made[-1].id, limit=2)["entities"] == []
