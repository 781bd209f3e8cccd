"""Group commit on SQLite and PostgreSQL: one batch, one transaction; a failed batch acknowledges none of its entries.

The sequencer is driven directly (a real database, the log's own tables): proposals queued raw are verified with
their batch, refused ones answered with their reason alone; entries and their search keys commit together.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from assay.crypto.signer import KeyFileSigner
from assay.errors import InputError
from assay.log.entries import hashedrekord_proposal
from assay.log.note import LogIdentity
from assay.log.service import LogService, Sequenced, SideWrites
from assay.store.schema import log_entries, log_search
from assay.verify import merkle
from tests.integration.conftest import migrated_engine

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def proposal(data: bytes) -> bytes:
    digest = hashlib.sha256(data).digest()
    return json.dumps(
        hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)
    ).encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request.param, tmp_path)


def service(engine: Engine) -> LogService:
    signer = KeyFileSigner(ec.generate_private_key(ec.SECP256R1()))
    svc = LogService(engine, LogIdentity("test - 1", "test", b"\x01" * 32, signer))
    svc.index_keys = lambda e: {e.artifact_hash} if e.artifact_hash else set()
    return svc


def hold(svc: LogService) -> threading.Event:
    """Keep the sequencer busy so the next appends queue up and go out as one batch."""
    release = threading.Event()
    gate = threading.Event()

    def blocker(_: object) -> set[str]:
        gate.set()
        release.wait(10)
        return set()

    svc.index_keys = blocker
    svc.enqueue(proposal(b"blocker"))
    assert gate.wait(10)
    return release


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_one_batch_commits_entries_and_their_search_keys_together(engine: Engine) -> None:
    svc = service(engine)
    try:
        release = hold(svc)
        futures = [svc.enqueue(proposal(b"e%d" % i)) for i in range(20)]
        svc.index_keys = lambda e: {e.artifact_hash} if e.artifact_hash else set()
        release.set()
        done = [f.result(10) for f in futures]
        assert len({d.head.size for d in done}) == 1, "the 20 entries were sequenced as one batch"
        for d in done:
            r = svc.receipt(d)
            leaf = merkle.leaf_hash(r.entry.body)
            assert merkle.root_from_inclusion_proof(r.entry.index, r.tree_size, leaf, r.proof) == r.root_hash
        with engine.connect() as conn:
            keys = {row.key for row in conn.execute(select(log_search))}
        assert {d.entry.artifact_hash for d in done} <= keys
    finally:
        svc.close()


def test_a_refused_proposal_is_answered_alone(engine: Engine) -> None:
    svc = service(engine)
    try:
        release = hold(svc)
        good = svc.enqueue(proposal(b"good"))
        tampered = json.loads(proposal(b"bad"))
        tampered["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"other").hexdigest()
        bad = svc.enqueue(json.dumps(tampered).encode())
        garbage = svc.enqueue(b"{not json")
        release.set()
        assert isinstance(good.result(10), Sequenced)
        for fut, reason in ((bad, "entry-signature-invalid"), (garbage, None)):
            with pytest.raises(InputError) as exc:
                fut.result(10)
            if reason:
                assert exc.value.reason == reason
        assert count(engine, log_entries) == 2  # the blocker and the good one
    finally:
        svc.close()


def _fail_on_key(engine: Engine, key: str) -> None:
    """A trigger that aborts any transaction inserting this search key (a commit that fails mid-batch)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER fail_batch BEFORE INSERT ON log_search WHEN NEW.key = '{key}' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION fail_batch() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.key = '{key}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER fail_batch BEFORE INSERT ON log_search FOR EACH ROW EXECUTE FUNCTION fail_batch()"
            )


def test_a_failed_batch_acknowledges_none_of_its_entries(engine: Engine) -> None:
    svc = service(engine)
    try:
        svc.enqueue(proposal(b"first")).result(10)
        _fail_on_key(engine, "boom")
        release = hold(svc)
        futures: list[Future[Sequenced]] = [svc.enqueue(proposal(b"doomed %d" % i)) for i in range(5)]
        doomed = "sha256:" + hashlib.sha256(b"doomed 2").hexdigest()
        svc.index_keys = lambda e: {"boom"} if e.artifact_hash == doomed else set()
        release.set()
        for f in futures:
            with pytest.raises(Exception, match="injected failure"):
                f.result(10)
        with engine.connect() as conn:
            stored = {r.artifact_hash for r in conn.execute(select(log_entries.c.artifact_hash))}
            size = conn.execute(text("SELECT MAX(size) FROM log_checkpoints")).scalar_one()
        assert len(stored) == 2 and size == 2  # "first" and the blocker; nothing of the failed batch
        for i in range(5):
            assert "sha256:" + hashlib.sha256(b"doomed %d" % i).hexdigest() not in stored
        svc.index_keys = lambda e: set()
        after = svc.enqueue(proposal(b"after the failure")).result(10)
        assert after.entry.index == 2 and after.created  # no gap, no partial tree; the sequencer kept running
        r = svc.receipt(after)
        assert merkle.root_from_inclusion_proof(2, r.tree_size, merkle.leaf_hash(r.entry.body), r.proof) == r.root_hash
    finally:
        svc.close()


def _side_table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE side_claims (k VARCHAR(40) PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE side_records (k VARCHAR(40) PRIMARY KEY, idx INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO side_claims (k) VALUES ('taken')")


def _side(k: str, fail_record: bool = False) -> SideWrites:
    def claim(conn: Connection) -> None:
        conn.execute(text("INSERT INTO side_claims (k) VALUES (:k)"), {"k": k})

    def record(conn: Connection, index: int) -> None:
        if fail_record:
            raise RuntimeError("record failed")
        conn.execute(text("INSERT INTO side_records (k, idx) VALUES (:k, :i)"), {"k": k, "i": index})

    return SideWrites(claim, record)


def _rows(engine: Engine, sql: str) -> set[tuple[object, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(sql))}


def test_a_failing_claim_drops_its_entry_alone_and_the_rest_commit_with_their_rows(engine: Engine) -> None:
    _side_table(engine)
    svc = service(engine)
    try:
        release = hold(svc)
        names = ["a", "taken", "b", "a"]  # "taken" is already claimed; the second "a" collides inside the batch
        futures = [svc.enqueue(proposal(b"side %d" % i), _side(k)) for i, k in enumerate(names)]
        release.set()
        first, second = futures[0].result(10), futures[2].result(10)
        for dropped in (futures[1], futures[3]):
            with pytest.raises(IntegrityError):
                dropped.result(10)
        assert first.head.size == second.head.size, "the survivors went out in one batch"
        assert _rows(engine, "SELECT k FROM side_claims") == {("taken",), ("a",), ("b",)}
        assert _rows(engine, "SELECT k, idx FROM side_records") == {("a", first.entry.index), ("b", second.entry.index)}
        assert count(engine, log_entries) == 3  # the blocker and the two survivors; the dropped left no entry
    finally:
        svc.close()


def test_a_failing_record_fails_the_whole_batch_and_leaves_no_rows(engine: Engine) -> None:
    _side_table(engine)
    svc = service(engine)
    try:
        svc.enqueue(proposal(b"first")).result(10)
        release = hold(svc)
        futures = [svc.enqueue(proposal(b"rec %d" % i), _side(f"r{i}", fail_record=i == 1)) for i in range(3)]
        release.set()
        for f in futures:
            with pytest.raises(RuntimeError, match="record failed"):
                f.result(10)
        assert _rows(engine, "SELECT k FROM side_claims") == {("taken",)}
        assert _rows(engine, "SELECT k FROM side_records") == set()
        assert count(engine, log_entries) == 2  # "first" and the blocker
        after = svc.enqueue(proposal(b"after"), _side("later")).result(10)
        assert after.entry.index == 2 and _rows(engine, "SELECT k, idx FROM side_records") == {("later", 2)}
    finally:
        svc.close()
