"""Profile evaluation rounds: 1,000 image entities x 1 profile against a loopback docker-registry.

Every entity is its own repository with one tag (``latest``); a tenth of them are signed with the profile's key
(the rest fail with ``no-signatures``). The scheduler's round is run in-process on SQLite in a temporary
directory, exactly as the server's leader runs it (tag list, resolve, attachments, evidence store, rule
evaluation, state and history written per entity), minus the lease. Printed: the first (cold) round — which
also writes every first result — and warm rounds (results unchanged: state updates only), with evaluations/s.
Target: >= 100 evaluations/s warm on 2 cores.

    python benchmarks/profiles.py [ENTITIES [WORKERS]]
    python benchmarks/profiles.py --queries [ENTITIES]   # the dashboard reads alone (no registry)
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.conftest import RegistryProcess

QUERIES_ONLY = "--queries" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--queries"]
ENTITIES = int(ARGS[0]) if ARGS else 1000
WORKERS = int(ARGS[1]) if len(ARGS) > 1 else 8  # entities evaluated at once (--profile-workers, default 8)
SIGNED_EVERY = 10
WARM_ROUNDS = 3


def _push_all(host: str, n: int) -> list[str]:
    """``n`` one-layer images, one repository each (blobs mounted from the first), returning their names."""
    import httpx

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"benchmark layer"
    blobs = [(config, "application/vnd.oci.image.config.v1+json"), (layer, "application/vnd.oci.image.layer.v1.tar")]
    desc = [{"mediaType": mt, "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b)} for b, mt in blobs]
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": desc[0],
         "layers": [desc[1]]}
    ).encode()  # fmt: skip
    names = []
    with httpx.Client(base_url=f"http://{host}", timeout=30) as c:
        for i in range(n):
            repo = f"bench/app{i:04d}"
            for (data, _), d in zip(blobs, desc, strict=True):
                if i == 0:
                    loc = c.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
                    c.put(loc + ("&" if "?" in loc else "?") + f"digest={d['digest']}", content=data).raise_for_status()
                else:
                    c.post(f"/v2/{repo}/blobs/uploads/", params={"mount": d["digest"], "from": "bench/app0000"})
            c.put(f"/v2/{repo}/manifests/latest", content=manifest,
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()  # fmt: skip
            names.append(f"{host}/{repo}")
    return names


def main() -> None:
    from assay.crypto import keys
    from assay.evidence.store import EvidenceStore
    from assay.profiles import records
    from assay.profiles.evaluate import Context
    from assay.profiles.model import Entity
    from assay.profiles.parse import parse_profile
    from assay.profiles.scheduler import Options, Scheduler
    from assay.service.blob import public_good_root
    from assay.store.db import migrate, open_engine
    from assay.store.schema import projects

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reg = RegistryProcess(work / "registry").start()
        try:
            t = time.perf_counter()
            names = _push_all(reg.host, ENTITIES)
            print(f"pushed {ENTITIES} images in {time.perf_counter() - t:.1f} s")
            private = keys.generate("ecdsa-p256")
            pem = keys.public_pem(private.public_key()).decode()
            key_file = work / "k.key"
            keys.write_private(key_file, keys.private_pem(private, None))
            _sign(names[::SIGNED_EVERY], str(key_file))
            engine = open_engine(f"sqlite:///{work / 'assay.db'}")
            migrate(engine)
            with engine.begin() as conn:  # the project the entities belong to (the scheduler skips deleted ones)
                conn.execute(projects.insert().values(name="bench", created=0, created_by="bench"))
            for name in names:
                records.add_entity(engine, Entity(0, "bench", "image", name, ("latest",), None, True, 0, "bench"))
            doc = {"apiVersion": "assay.dev/v1", "kind": "Profile", "metadata": {"name": "signed"},
                   "spec": {"interval": "1h", "trust": {"publicGood": True},
                            "rules": [{"name": "signed", "signature": {"authorities": {"keys": [pem]}}}]}}  # fmt: skip
            records.apply_profile(engine, "bench", parse_profile(json.dumps(doc).encode(), 0), "bench")
            ctx = Context(engine, EvidenceStore(engine, public_good_root), public_good_root, public_good_root)
            sched = Scheduler(engine, ctx, Options(tick=0, workers=WORKERS))
            cold = sched.run_round()
            print(f"profiles: {ENTITIES} image entities x 1 profile (docker-registry 2.8 on loopback, SQLite)")
            _show("cold round (first results written)", cold)
            for i in range(WARM_ROUNDS):
                records.mark_due(engine, "bench")
                _show(f"warm round {i + 1} (results unchanged)", sched.run_round())
            from assay.profiles.history import latest, summary

            print(f"  latest: {summary(latest(engine, 'bench'))['counts']}   (target >= 100 evaluations/s warm)")
            _queries(engine)
        finally:
            reg.stop()


HISTORY_ROWS = 100_000
QUERY_RUNS = 200


def _queries(engine: object) -> None:
    """The dashboard's reads (``assay.profiles.query``) with ``HISTORY_ROWS`` history rows: p50/p99 per page."""
    import random
    import statistics

    from assay.profiles import query
    from assay.store.schema import profile_history
    from assay.store.txn import write_transaction

    ids = [e["id"] for e in query.overview(engine, "bench")["entities"]]  # type: ignore[arg-type]
    rows = [
        {"project": "bench", "profile": "signed", "profile_version": 1, "entity_id": ids[i % len(ids)],
         "entity": "e", "target": f"t{i % len(ids)}", "digest": "sha256:" + "0" * 64, "rule": "signed",
         "status": ("success", "failure", "error")[i % 3], "reason": "", "message": "", "checks": "[]",
         "created": 1_700_000_000_000 + i}
        for i in range(HISTORY_ROWS)
    ]  # fmt: skip
    with write_transaction(engine) as conn:  # type: ignore[arg-type]
        conn.execute(profile_history.insert(), rows)
    mid = ids[len(ids) // 2]
    pages = {
        # what the dashboard's pages read: profile summaries counted by the database, entities 100 at a time
        "profiles page (summaries)": lambda: query.profile_summaries(engine, "bench"),  # type: ignore[arg-type]
        "overview, a page of 100": lambda: query.overview(engine, "bench", after=mid, limit=query.PAGE),  # type: ignore[arg-type]
        "profile page, a page of 100": lambda: query.profile_page(
            engine, "bench", "signed", after=mid, limit=query.PAGE
        ),  # type: ignore[arg-type]
        "entity page (timeline of 100)": lambda: query.entity_page(engine, "bench", random.choice(ids)),  # type: ignore[arg-type]
        "timeline, failures, 100": lambda: query.timeline(engine, "bench", status="failure", limit=100),  # type: ignore[arg-type]
        # the API's unpaged forms, for reference (every entity in one answer)
        f"overview, all {len(ids):,} entities": lambda: query.overview(engine, "bench"),  # type: ignore[arg-type]
        f"profile page, all {len(ids):,}": lambda: query.profile_page(engine, "bench", "signed"),  # type: ignore[arg-type]
    }
    print(
        f"  dashboard reads with {HISTORY_ROWS:,} more history rows (p50 / p99 of {QUERY_RUNS}, target p99 <= 150 ms):"
    )
    for label, fn in pages.items():
        times = []
        for _ in range(QUERY_RUNS if "all" not in label else QUERY_RUNS // 4):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        print(f"    {label:32s} {statistics.median(times) * 1000:7.1f} ms  {p99 * 1000:7.1f} ms")


def _sign(names: list[str], key_file: str) -> None:
    """Sign images in-process with the key (one bundle each, attached as a referrer and in cosign's layout)."""
    import contextlib
    import io

    from assay.oci.target import RegistryAuth
    from assay.service.image import sign_image

    with contextlib.redirect_stderr(io.StringIO()):  # "mutable tag" warnings
        for name in names:
            sign_image(name + ":latest", key=key_file, token=None, server=None, auth=RegistryAuth(insecure=True))


def _show(label: str, s: object) -> None:
    rate = s.evaluations / s.seconds if s.seconds else 0.0  # type: ignore[attr-defined]
    print(f"  {label:38s} {s.seconds:7.2f} s   {rate:7.1f} evaluations/s   outcomes {s.outcomes}")  # type: ignore[attr-defined]


def queries_only() -> None:
    """``--queries``: the dashboard reads alone, on a store filled directly (no registry, no evaluation round)."""
    from assay.crypto import keys
    from assay.profiles import records
    from assay.profiles.model import Entity
    from assay.profiles.parse import parse_profile
    from assay.store.db import migrate, open_engine
    from assay.store.schema import profile_state, projects

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'assay.db'}")
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(projects.insert().values(name="bench", created=0, created_by="bench"))
        for i in range(ENTITIES):
            records.add_entity(
                engine, Entity(0, "bench", "image", f"127.0.0.1:5000/r{i}", ("latest",), None, True, 0, "b")
            )
        pem = keys.public_pem(keys.generate("ecdsa-p256").public_key()).decode()
        doc = {"apiVersion": "assay.dev/v1", "kind": "Profile", "metadata": {"name": "signed"},
               "spec": {"interval": "1h", "rules": [{"name": "signed", "signature": {"authorities": {"keys": [pem]}}}]}}  # fmt: skip
        records.apply_profile(engine, "bench", parse_profile(json.dumps(doc).encode(), 0), "bench")
        ids = [e.id for e in records.list_entities(engine, "bench")]
        with engine.begin() as conn:
            conn.execute(profile_state.insert(), [
                {"project": "bench", "profile": "signed", "entity_id": i, "target": f"r{i}:latest", "rule": "signed",
                 "profile_version": 1, "digest": "sha256:" + "0" * 64, "status": ("success", "failure")[i % 10 != 0],
                 "reason": "", "message": "", "since": 0, "evaluated": 0}
                for i in ids
            ])  # fmt: skip
        print(f"profiles: dashboard reads, {ENTITIES:,} entities x 1 profile (SQLite, store filled directly)")
        _queries(engine)


if __name__ == "__main__":
    if QUERIES_ONLY:
        queries_only()
    else:
        main()
