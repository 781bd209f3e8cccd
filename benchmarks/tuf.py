"""TUF repository at scale: ``--targets`` (default 100,000) targets in ``--bins`` (default 256) TAP 15 hash bins.

1. A real ``assay server`` (SQLite): a project whose targets role delegates succinct hash bins; the bulk of the
   target bytes is loaded straight into the table, every bin version is uploaded, checked and published over HTTP.
2. Add ``--add`` (default 1,000) targets and publish: upload each file, then one new signed version per bin it
   lands in (each publish re-signs snapshot and timestamp) — the time a developer's release takes.
3. python-tuf's ngclient: refresh and one target lookup, cold (empty metadata cache) and warm (cache kept, new
   process state), and the metadata bytes a client downloads for one target.
4. The peer, measured in the same run: the same targets in ONE flat targets role, a python-tuf repository on a
   static file server (assay refuses metadata over 2 MiB, so this one is not uploaded to it), the same ngclient
   lookups; ratios are bins ÷ flat.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import statistics
import sys
import tempfile
import time
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

# This file is named like python-tuf's package: take its own directory off the path so ``import tuf`` finds python-tuf.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
from securesystemslib.signer import CryptoSigner  # noqa: E402
from tests.conftest import loopback_http  # noqa: E402
from tests.integration.accesskit import admin_api, new_project, start  # noqa: E402
from tests.integration.tufkit import init_in_process  # noqa: E402
from tuf.api.metadata import (  # noqa: E402
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.ngclient import Updater, UpdaterConfig  # noqa: E402

from assay.tuf import offline  # noqa: E402
from assay.tuf.repository import to_bytes  # noqa: E402


def _target(i: int) -> tuple[str, bytes]:
    return f"pkgs/p{i // 100:05d}/pkg-{i}.tar.gz", f"package {i}\n".encode()


def _bulk_blobs(srv: Any, project: str, items: list[tuple[str, bytes]]) -> None:
    """Target bytes straight into the server's table (uploading 100,000 files over HTTP is not the measurement)."""
    from sqlalchemy import insert

    from assay.store.db import database_url, open_engine
    from assay.store.schema import tuf_blobs

    engine = open_engine(database_url(srv.database, srv.data_dir))
    rows = [{"project": project, "sha256": hashlib.sha256(d).hexdigest(), "length": len(d), "data": d,
             "created": 0} for _, d in items]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(tuf_blobs), rows[i : i + 5000])
    engine.dispose()


def _lookup(base: str, target_base: str, root: bytes, cache: Path, path: str) -> tuple[float, int]:
    """Seconds for one refresh + lookup + download through ngclient, and the metadata bytes in the cache."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "t").mkdir(exist_ok=True)
    before = sum(f.stat().st_size for f in cache.glob("*.json"))
    t0 = time.perf_counter()
    config = UpdaterConfig(targets_max_length=200_000_000)  # the flat role outgrows ngclient's 5 MB default
    up = Updater(metadata_dir=str(cache), metadata_base_url=base, target_base_url=target_base,
                 target_dir=str(cache / "t"), bootstrap=root, config=config)  # fmt: skip
    up.refresh()
    info = up.get_targetinfo(path)
    assert info is not None, path
    up.download_target(info, str(cache / "t" / "out"))
    elapsed = time.perf_counter() - t0
    return elapsed, sum(f.stat().st_size for f in cache.glob("*.json")) - before


def _client_figures(base: str, target_base: str, root: bytes, work: Path, paths: list[str], runs: int) -> dict:
    cold, warm, nbytes = [], [], 0
    for r in range(runs):
        cache = work / f"cold{r}"
        t, nbytes = _lookup(base, target_base, root, cache, paths[r % len(paths)])
        cold.append(t)
        warm.append(_lookup(base, target_base, root, cache, paths[(r + 1) % len(paths)])[0])
    return {"cold": statistics.median(cold), "warm": statistics.median(warm), "bytes": nbytes}


def _flat_repo(where: Path, items: list[tuple[str, bytes]]) -> bytes:
    """A python-tuf repository with every target in one targets role (consistent snapshots); returns root v1."""
    keys = {r: CryptoSigner.generate_ecdsa() for r in ("root", "targets", "snapshot", "timestamp")}
    exp = offline.expiry(30)
    root = Root(expires=exp, consistent_snapshot=True)
    for role, s in keys.items():
        root.add_key(s.public_key, role)
    targets = Targets(expires=exp)
    (where / "targets").mkdir(parents=True)
    for path, data in items:
        tf = TargetFile.from_data(path, data, ["sha256"])
        targets.targets[path] = tf
        d = where / "targets" / Path(path).parent
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{tf.hashes['sha256']}.{Path(path).name}").write_bytes(data)
    docs: list[tuple[str, Metadata[Any], str]] = [
        ("1.root.json", Metadata(root), "root"),
        ("1.targets.json", Metadata(targets), "targets"),
        ("1.snapshot.json", Metadata(Snapshot(expires=exp, meta={"targets.json": MetaFile(1)})), "snapshot"),
        ("timestamp.json", Metadata(Timestamp(expires=exp, snapshot_meta=MetaFile(1))), "timestamp"),
    ]
    for name, md, role in docs:
        md.sign(keys[role])
        (where / name).write_bytes(to_bytes(md))
    return (where / "1.root.json").read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=100_000)
    ap.add_argument("--bins", type=int, default=256)
    ap.add_argument("--add", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    bits = args.bins.bit_length() - 1
    assert 2**bits == args.bins, "--bins must be a power of two"
    tmp = Path(tempfile.mkdtemp(prefix="assay-tuf-bench-"))
    items = [_target(i) for i in range(args.targets)]
    srv = start(tmp, None, "--tuf-tick", "0")
    try:
        admin = admin_api(srv)
        project = new_project(admin)
        admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
        bin_signer = CryptoSigner.generate_ecdsa()
        succinct = SuccinctRoles([bin_signer.public_key.keyid], 1, bits, "bin")
        delegations = Delegations({bin_signer.public_key.keyid: bin_signer.public_key}, succinct_roles=succinct)
        signed = init_in_process(admin, project, delegations)
        assert signed
        _bulk_blobs(srv, project, items)
        bins: dict[str, Metadata[Targets]] = {n: Metadata(Targets(expires=offline.expiry(30)))
                                              for n in succinct.get_roles()}  # fmt: skip
        for path, data in items:
            bins[succinct.get_role_for_target(path)].signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        http = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {admin.bearer}"}, timeout=60)
        api = f"/api/v1/projects/{project}/tuf"
        t0 = time.perf_counter()
        for name, md in bins.items():
            md.sign(bin_signer)
            r = http.put(f"{api}/roles/{name}", content=to_bytes(md))
            assert r.status_code == 201, r.text
        initial = time.perf_counter() - t0
        # 2. a release of --add targets
        new = [_target(args.targets + i) for i in range(args.add)]
        t0 = time.perf_counter()
        touched: set[str] = set()
        for path, data in new:
            assert http.put(f"{api}/blobs", content=data).status_code == 201
            name = succinct.get_role_for_target(path)
            bins[name].signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
            touched.add(name)
        for name in sorted(touched):
            md = bins[name]
            md.signed.version += 1
            md.signatures.clear()
            md.sign(bin_signer)
            r = http.put(f"{api}/roles/{name}", content=to_bytes(md))
            assert r.status_code == 201, r.text
        release = time.perf_counter() - t0
        # 3. ngclient against assay's hash-binned repository
        base = f"{srv.url}/tuf/{project}/"
        sample = [new[i][0] for i in range(0, len(new), max(1, len(new) // args.runs))][: args.runs]
        binned = _client_figures(base, base + "targets/", signed.bytes(signed.root), tmp / "bins", sample, args.runs)
        bin_sizes = [len(to_bytes(md)) for md in bins.values()]
    finally:
        srv.stop()
    # 4. the same targets in one flat role, on a static file server
    flat_dir = tmp / "flat"
    flat_root = _flat_repo(flat_dir, items + new)
    flat_bytes = (flat_dir / "1.targets.json").stat().st_size
    handler = functools.partial(_Quiet, directory=str(flat_dir))
    with loopback_http(handler) as host:  # type: ignore[arg-type]
        fbase = f"http://{host}/"
        flat = _client_figures(fbase, fbase + "targets/", flat_root, tmp / "flatc", sample, args.runs)
    total = args.targets + args.add
    print(f"TUF repository: {total:,} targets in {args.bins} hash bins (median bin {statistics.median(bin_sizes):,.0f} "
          f"bytes); flat targets role {flat_bytes:,} bytes")  # fmt: skip
    print(
        f"  initial publish of {args.bins} bin versions over HTTP: {initial:.1f} s "
        f"({initial / args.bins * 1000:.0f} ms per role version, snapshot+timestamp re-signed each time)"
    )
    print(f"  add {args.add:,} targets and publish: {release:.1f} s ({len(touched)} bin versions, "
          f"{args.add:,} uploads)")  # fmt: skip
    print(f"  {'':<28}{'bins (assay)':>14}{'flat (peer)':>14}{'bins/flat':>11}")
    for label, key, unit in (("refresh+lookup, cold", "cold", "s"), ("refresh+lookup, warm", "warm", "s"),
                             ("metadata bytes, one target", "bytes", "B")):  # fmt: skip
        b, f = binned[key], flat[key]
        fmt = (lambda v: f"{v * 1000:.0f} ms") if unit == "s" else (lambda v: f"{v:,}")
        print(f"  {label:<28}{fmt(b):>14}{fmt(f):>14}{b / f:>11.3f}")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    main()
