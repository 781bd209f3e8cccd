"""A million fuzz inputs across assay's parsers: crashes found (target 0) and inputs/s.

Every input goes to one parser (bundle, DSSE, trusted root, checkpoint, Rekor body, in-toto statement,
policy, CEL, SBOM documents and lock files, OCI manifests and layouts, checksums, OSV); the parser must
return or raise ``AssayError``. Anything else is a crash: it is printed and its input written to
``--crashes`` (default ``fuzz-crashes/``), ready to copy under ``tests/fuzz/regressions/<target>/``.

Engines: ``loop`` (the default) runs the project's structure-aware mutator from the valid seeds, about
2,500 inputs/s on two busy cores, so a million inputs take minutes; ``atheris`` (libFuzzer, coverage-guided
over instrumented ``assay`` modules, with the same mutator as its custom mutator and libFuzzer's byte
mutations mixed in) explores deeper but ran about 100 inputs/s here, so it suits long runs with a smaller
``--inputs``. ``auto`` picks atheris when it is installed. Work is split over ``--workers`` processes. The peer figure printed beside assay's rate is
the stdlib ``json.loads`` on the same mutants in the same run, to show what a parse costs on this machine.

    python benchmarks/fuzz.py                 # 1,000,000 inputs, 2 workers
    python benchmarks/fuzz.py --inputs 20000  # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _record(crash_dir: Path, name: str, data: bytes, exc: BaseException) -> dict[str, str]:
    """Write a crashing input as ``<crash_dir>/<target>/<sha>`` and describe it."""
    folder = crash_dir / name.replace(":", "__")
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    (folder / digest).write_bytes(data)
    cause = exc.__cause__ or exc
    tb = cause.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename.split('/src/')[-1]}:{tb.tb_lineno}" if tb is not None else "?"
    return {"target": name, "error": f"{type(cause).__name__}: {cause}"[:200], "where": where, "file": str(folder)}


def loop_worker(index: int, inputs: int, seed: int, crash_dir: Path, out: Path) -> None:
    """The plain engine: ``inputs`` mutants, round-robin over the targets."""
    from tests.fuzz.mutate import mutate
    from tests.fuzz.targets import Crash, check, targets

    table = list(targets().values())
    rng = random.Random(seed * 1000 + index)
    crashes: list[dict[str, str]] = []
    json_time = 0.0
    start = time.perf_counter()
    for i in range(inputs):
        target = table[i % len(table)]
        data = mutate(rng.choice(target.seeds), rng)
        try:
            check(target, data)
        except Crash as exc:
            crashes.append(_record(crash_dir, target.name, data, exc))
        if i % 16 == 0:  # the peer: stdlib json on a sample of the same mutants
            t0 = time.perf_counter()
            try:
                json.loads(data)
            except (ValueError, RecursionError):
                pass
            json_time += (time.perf_counter() - t0) * 16
    elapsed = time.perf_counter() - start
    out.write_text(json.dumps({"inputs": inputs, "seconds": elapsed, "json_seconds": json_time, "crashes": crashes}))


ATHERIS_WORKER = r"""
import json, random, sys, time
from pathlib import Path
sys.path[:0] = [{root!r}, {root!r} + "/src"]
import atheris
with atheris.instrument_imports(include=["assay"]):
    import assay.formats.bundle, assay.formats.trustroot, assay.formats.rekor, assay.formats.checkpoint
    import assay.formats.intoto, assay.formats.checksums, assay.policy.loader, assay.oci.manifest
    import assay.oci.layout, assay.vuln.scan, assay.vuln.osv, assay.sbom.catalog
from tests.fuzz.mutate import mutate
from tests.fuzz.targets import Crash, check, targets
sys.path.insert(0, {bench!r})
from fuzz import _record

TABLE = list(targets().values())
RUNS, OUT, CRASHES = {runs}, Path({out!r}), Path({crashes!r})
state = {{"n": 0, "crashes": [], "start": time.perf_counter()}}


def flush():
    OUT.write_text(json.dumps({{"inputs": state["n"], "seconds": time.perf_counter() - state["start"],
                                "json_seconds": 0.0, "crashes": state["crashes"]}}))


def one(data):
    state["n"] += 1
    if data:
        target = TABLE[data[0] % len(TABLE)]
        try:
            check(target, bytes(data[1:]))
        except Crash as exc:
            state["crashes"].append(_record(CRASHES, target.name, bytes(data[1:]), exc))
    if state["n"] % 1000 == 0 or state["n"] >= RUNS:
        flush()


def mutator(data, max_size, seed):
    rng = random.Random(seed)
    if not data or rng.random() < 0.05:
        t = rng.randrange(len(TABLE))
        payload = rng.choice(TABLE[t].seeds)
    else:
        t, payload = data[0] % len(TABLE), bytes(data[1:])
    if rng.random() < 0.25 and payload:
        payload = atheris.Mutate(payload, max(1, max_size - 1))
    else:
        payload = mutate(payload or rng.choice(TABLE[t].seeds), rng)
    return bytes([t]) + payload[: max_size - 1]


atheris.Setup(["fuzz", "-runs={runs}", "-seed={seed}", "-max_len=400000", "-rss_limit_mb=4096"], one,
              custom_mutator=mutator)
atheris.Fuzz()
"""


def atheris_worker(index: int, inputs: int, seed: int, crash_dir: Path, out: Path) -> subprocess.Popen[bytes]:
    """Start one libFuzzer process (it exits when its runs are done)."""
    code = ATHERIS_WORKER.format(
        root=str(ROOT),
        bench=str(ROOT / "benchmarks"),
        runs=inputs,
        out=str(out),
        crashes=str(crash_dir),
        seed=seed * 1000 + index + 1,
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("auto", "atheris", "loop"), default="loop")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "loop"
    share = [args.inputs // args.workers + (1 if i < args.inputs % args.workers else 0) for i in range(args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"worker-{i}.json" for i in range(args.workers)]
        start = time.perf_counter()
        if engine == "atheris":
            procs = [atheris_worker(i, n, args.seed, args.crashes, outs[i]) for i, n in enumerate(share)]
            for p in procs:
                p.wait()
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            workers = [
                ctx.Process(target=loop_worker, args=(i, n, args.seed, args.crashes, outs[i]))
                for i, n in enumerate(share)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        wall = time.perf_counter() - start
        results = [json.loads(o.read_text()) for o in outs if o.exists()]
    total = sum(r["inputs"] for r in results)
    crashes = [c for r in results for c in r["crashes"]]
    print(f"engine: {engine}, workers: {args.workers}, seed: {args.seed}")
    print(f"inputs run: {total:,} in {wall:.1f} s wall")
    print(f"assay parsers: {total / wall:,.0f} inputs/s")
    json_seconds = sum(r["json_seconds"] for r in results)
    if json_seconds:
        per_input_json = json_seconds / total
        print(
            f"peer (stdlib json.loads on the same mutants): {1 / per_input_json:,.0f} inputs/s per core; "
            f"assay/peer cost ratio {(wall * args.workers / total) / per_input_json:.1f}x"
        )
    unique = {(c["target"], c["where"], c["error"].split(":")[0]) for c in crashes}
    print(f"crashes found: {len(crashes)} ({len(unique)} distinct)")
    for target, where, kind in sorted(unique):
        example = next(
            c for c in crashes if (c["target"], c["where"], c["error"].split(":")[0]) == (target, where, kind)
        )
        print(f"  {target}: {example['error']} at {where} — inputs in {example['file']}")
    if total < args.inputs:
        print(f"warning: only {total:,} of {args.inputs:,} inputs ran (a worker stopped early)")
    return 1 if crashes or total < args.inputs else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
