"""Durability and serialisation: kill -9 under load; two servers sharing PostgreSQL; the monitor."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from assay.formats.checkpoint import parse_checkpoint
from assay.verify import merkle
from tests.conftest import run_assay
from tests.integration.conftest import ServerProcess
from tests.integration.test_log_server import post, proposal


def _consistent(url: str, size: int, root: bytes, final_size: int, final_root: bytes) -> bool:
    proof = httpx.get(url + "/api/v1/log/proof", params={"firstSize": size, "lastSize": final_size}, timeout=30).json()
    return merkle.verify_consistency(size, final_size, root, final_root, [bytes.fromhex(h) for h in proof["hashes"]])


def test_kill_minus_9_loses_no_acknowledged_entry(tmp_path: Path, database):
    srv = ServerProcess(tmp_path / "data", database).start()
    acked: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        n = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                n += 1
                try:
                    r = client.post(srv.url + "/api/v1/log/entries", json=proposal(f"w{worker}-{n}".encode()))
                except httpx.HTTPError:
                    continue
                if r.status_code == 201:
                    with lock:
                        acked.append(r.json())

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
    finally:
        srv.kill()  # SIGKILL mid-load
        stop.set()
        for t in threads:
            t.join()
    assert len(acked) > 20
    srv = ServerProcess(tmp_path / "data", database, port=srv.port).start()
    try:
        info = httpx.get(srv.url + "/api/v1/log").json()
        final_size, final_root = info["treeSize"], bytes.fromhex(info["rootHash"])
        checkpoints = {}
        for doc in acked:
            ((uuid, e),) = doc.items()
            got = httpx.get(srv.url + f"/api/v1/log/entries/{uuid}").json()[uuid]
            assert got["body"] == e["body"] and got["logIndex"] == e["logIndex"]
            p = got["verification"]["inclusionProof"]
            leaf = merkle.leaf_hash(__import__("base64").b64decode(got["body"]))
            assert merkle.root_from_inclusion_proof(
                p["logIndex"], p["treeSize"], leaf, [bytes.fromhex(h) for h in p["hashes"]]
            ) == bytes.fromhex(p["rootHash"])
            old = e["verification"]["inclusionProof"]
            checkpoints[old["treeSize"]] = bytes.fromhex(old["rootHash"])
        for size, root in checkpoints.items():
            assert _consistent(srv.url, size, root, final_size, final_root), (
                f"checkpoint at {size} is not a prefix of the recovered log"
            )
        # and the log keeps working after recovery
        assert post(srv, proposal(b"after-crash")).status_code == 201
    finally:
        srv.stop()


def test_two_servers_on_one_postgres_never_fork(tmp_path: Path, pg_database):
    database = pg_database
    a = ServerProcess(tmp_path / "a", database).start()
    b = ServerProcess(tmp_path / "b", database)
    try:
        # the second process must sign with the same log key: share the key directory
        (tmp_path / "b").mkdir()
        shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
        b.start()
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda i: post(a if i % 2 else b, proposal(f"pg{i}".encode())), range(200)))
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201][:2]
        indexes = sorted(next(iter(r.json().values()))["logIndex"] for r in responses)
        assert indexes == list(range(200))
        info = httpx.get(a.url + "/api/v1/log").json()
        assert info == {**httpx.get(b.url + "/api/v1/log").json(), "treeID": info["treeID"]}
        final = bytes.fromhex(info["rootHash"])
        for r in responses:
            p = next(iter(r.json().values()))["verification"]["inclusionProof"]
            assert _consistent(a.url, p["treeSize"], bytes.fromhex(p["rootHash"]), 200, final)
    finally:
        a.stop()
        b.stop()


def test_monitor_detects_fork_shrink_and_bad_signature(tmp_path: Path):
    a = ServerProcess(tmp_path / "a", None).start()
    try:
        for i in range(5):
            assert post(a, proposal(f"m{i}".encode())).status_code == 201
        state = tmp_path / "mon.json"
        first = run_assay("log", "monitor", "--server", a.url, "--state", str(state), "-o", "json")
        assert first.code == 0, first.err
        assert json.loads(first.out)["size"] == 5
        for i in range(3):
            post(a, proposal(f"n{i}".encode()))
        second = run_assay("log", "monitor", "--server", a.url, "--state", str(state), "-o", "json")
        assert second.code == 0 and json.loads(second.out)["previousSize"] == 5
        saved = state.read_text()
    finally:
        a.stop()
    # A fork: same key, same URL, different history.
    (tmp_path / "fork").mkdir()
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "fork" / "keys")
    shutil.copy(tmp_path / "a" / "tree-id", tmp_path / "fork" / "tree-id")
    fork = ServerProcess(tmp_path / "fork", None, port=a.port).start()
    try:
        for i in range(12):
            post(fork, proposal(f"other{i}".encode()))
        r = run_assay("log", "monitor", "--server", fork.url, "--state", str(state), "-o", "json")
        assert r.code == 1 and json.loads(r.out)["reason"] == "log-fork", r.out + r.err
        assert state.read_text() == saved  # a failed check never moves the state forward
        # A shrink: the state claims a bigger tree than the log has.
        big = json.loads(saved)
        big["size"] = 10_000
        state.write_text(json.dumps(big))
        r = run_assay("log", "monitor", "--server", fork.url, "--state", str(state))
        assert r.code == 1 and "error[log-shrink]" in r.err
    finally:
        fork.stop()
    # A different key: the checkpoint is not signed by the pinned key.
    other = ServerProcess(tmp_path / "other", None, port=a.port).start()
    try:
        state.write_text(saved)
        r = run_assay("log", "monitor", "--server", other.url, "--state", str(state))
        assert r.code == 1 and "error[checkpoint-signature-invalid]" in r.err
    finally:
        other.stop()
    assert parse_checkpoint(json.loads(saved)["checkpoint"]).size == 8


def _children(pid: int) -> list[int]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return sorted(k for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes())


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_workers_on_one_sqlite_agree_and_never_fork(tmp_path: Path):
    """--workers 2 on SQLite: the processes share keys, certificates and one serialised log."""
    srv = ServerProcess(tmp_path / "data", None, workers=2, extra=["--dev"]).start()
    try:
        assert srv.proc is not None
        workers = _children(srv.proc.pid)
        assert len(workers) == 2, f"--workers 2 must run two server processes, found {workers}"
        roots = {httpx.get(srv.url + "/api/v1/trustedRoot").text for _ in range(8)}
        assert len(roots) == 1, "every worker must serve the same trusted root"
        before = {w: _cpu_ticks(w) for w in workers}
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda i: post(srv, proposal(f"w2-{i}".encode())), range(120)))
        busy = [w for w in workers if _cpu_ticks(w) > before[w]]
        assert busy == workers, "both workers must have served appends"
        assert all(r.status_code == 201 for r in responses)
        assert sorted(next(iter(r.json().values()))["logIndex"] for r in responses) == list(range(120))
        info = httpx.get(srv.url + "/api/v1/log").json()
        final = bytes.fromhex(info["rootHash"])
        for r in responses:
            p = next(iter(r.json().values()))["verification"]["inclusionProof"]
            assert _consistent(srv.url, p["treeSize"], bytes.fromhex(p["rootHash"]), 120, final)
    finally:
        srv.stop()
