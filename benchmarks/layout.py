"""in-toto supply chains: ``assay verify-layout`` vs ``in-toto-verify``, and ``assay run`` vs ``in-toto-run``.

1. A 5-step layout over N artifacts per step (default 10,000): the same legacy links (Metablocks) are
   verified by both tools in this run (target: assay >= 5x faster).
2. Recording trees of files: a small one (1 MiB in 50 files, where start-up is the cost) and a large one
   (default 200 MiB in 5,000 files; ``--size-mib 2048 --files 50000`` for the full-size run):
   ``assay run -p .`` vs ``in-toto-run -p .``, and the peak RSS of each on the large tree
   (target: assay >= 2x faster on the small tree, flat memory).

Both tools run on the same trees, in turn within every round (the order rotated), and the ratio printed is
that of the medians: the machine is shared, so the load drifts, and only figures from one run compare.
Both run from compiled bytecode, as installed packages do (``PYTHONDONTWRITEBYTECODE`` in a development
shell would otherwise charge assay's start-up with recompiling every module).

Profile notes (cProfile and ``python -X importtime``, 2-core machine under load; issue 23 item 3):

- ``assay run`` on a small tree was start-up: Typer builds a pydantic TypeAdapter per parameter on every
  start (importing pydantic and Typer was ~60% of the imports), the signing credentials came with the
  whole verification pipeline (``service.blob`` -> ``verify.pipeline``: rfc3161, asn1crypto, x509), and
  pathspec was imported for the four default excludes. Now ``cli/fastpath.py`` parses the plain forms of
  ``run`` and ``verify-layout`` without Typer (anything else still goes to Typer), ``service/credentials.py``
  signs without importing verification, name-only excludes are matched per path component, small trees are
  hashed on one thread, and bundle/DSSE/securesystemslib modules load only where used. What is left is
  Python itself, ``typing``/``dataclasses``, ``subprocess`` and cryptography's import, which in-toto-run pays too.
- ``assay run`` on a large tree is hashing (a thread pool; hashlib releases the GIL) and reading the page
  cache; on a shared 2-core machine the pool gains what the second core gives. A step's unchanged
  materials are no longer hashed a second time as products (``artifacts.DigestCache``: same path, device,
  inode, size, mtime and ctime, and never for a file changed within 2 s of its hashing).
- ``assay verify-layout`` spent its time in Typer/pydantic start-up, ``json.loads`` of each 2 MiB link plus
  a depth walk and a surrogate scan, a float walk before canonicalising, parsing the layout a second time
  as YAML (PyYAML) just to find rule line numbers, sorting every rule's consumed paths for a text report
  that only counts them, and a per-digest regex. Now: orjson when its value is provably ``json.loads``'
  (the depth walk also proves the document float-free, so canonicalising skips its float walk; orjson's
  escapes are written back raw instead of falling back to securesystemslib's encoder), a token scan for the
  rule locations, consumed paths sorted only for JSON output, digests checked by deletion, PEM keys loaded
  once. Rule evaluation (dict comparisons of 10,000 digests per MATCH/MODIFY) and orjson's parse remain.

Figures (ratio of medians in-toto/assay, this benchmark, same run for both tools, 2 cores under load 6-10):
before (commit 3479b7b): verify 4.46x (0.727 s vs 3.246 s), run small 0.49x (0.374 s vs 0.184 s),
run large 0.98x (2.50 s vs 2.45 s); after: verify 5.85x (0.533 s vs 3.121 s), run small 1.85x
(0.174 s vs 0.322 s; 2.06x in a 15-round rerun), run large 1.63x (0.666 s vs 1.084 s). ``assay run`` on the
small tree is now within ~40 ms of importing cryptography, subprocess, typing and dataclasses alone.

Usage: python benchmarks/layout.py [--artifacts 10000] [--size-mib 200] [--files 5000] [--small-files 50] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner

import assay as assay_pkg
from _util import BIN, bytecode_env, peak_rss_mib, time_interleaved
from assay.crypto import keys
from assay.layout import envelope
from assay.layout.model import Link

STEPS = 5


def _write_key(d: Path, name: str) -> CryptoSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    keys.write_private(d / f"{name}.key", keys.private_pem(key, None))
    (d / f"{name}.pub").write_bytes(keys.public_pem(key.public_key()))
    return CryptoSigner(key)


def _supply_chain(d: Path, n: int) -> None:
    """A signed 5-step layout and one legacy link per step, each step over ``n`` artifacts."""
    owner = _write_key(d, "owner")
    workers = [_write_key(d, f"f{i}") for i in range(STEPS)]
    steps = []
    for i, w in enumerate(workers):
        mats = [] if i == 0 else [["MATCH", "*", "WITH", "PRODUCTS", "FROM", f"step{i - 1}"], ["DISALLOW", "*"]]
        prods = [["CREATE", "*"], ["DISALLOW", "*"]] if i == 0 else [["MODIFY", "*"], ["DISALLOW", "*"]]
        steps.append(
            {
                "_type": "step",
                "name": f"step{i}",
                "pubkeys": [w.public_key.keyid],
                "threshold": 1,
                "expected_command": [],
                "expected_materials": mats,
                "expected_products": prods,
            }
        )
    layout = {
        "_type": "layout",
        "expires": "2035-01-01T00:00:00Z",
        "readme": "",
        "keys": {w.public_key.keyid: envelope.key_dict(w.public_key) for w in workers},
        "steps": steps,
        "inspect": [],
    }
    (d / "root.layout").write_text(json.dumps(envelope.sign_metablock([owner], layout), indent=1, sort_keys=True))
    links = d / "links"
    links.mkdir()
    prev: dict[str, dict[str, str]] = {}
    for i, w in enumerate(workers):
        products = {f"src/dir{j % 100}/file{j}.c": {"sha256": f"{i:02x}{j:062x}"} for j in range(n)}
        link = Link(f"step{i}", ["build", str(i)], prev, products, {"return-value": 0, "stdout": "", "stderr": ""})
        doc = envelope.sign_metablock([w], link.to_dict())
        (links / f"step{i}.{w.public_key.keyid[:8]}.link").write_text(json.dumps(doc, indent=1, sort_keys=True))
        prev = products


def _tree(d: Path, size_mib: int, files: int) -> None:
    per = max(1, size_mib * 1024 * 1024 // files)
    block = os.urandom(min(per, 4 * 1024 * 1024))
    for j in range(files):
        sub = d / f"dir{j % 200}"
        sub.mkdir(exist_ok=True)
        with (sub / f"f{j}.bin").open("wb") as fh:
            left = per
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(j.to_bytes(8, "big") + chunk[8:] if left == per else chunk)
                left -= len(chunk)


def _report(title: str, names: tuple[str, str], times: list[list[float]], target: float) -> float:
    ours, ref = (statistics.median(t) for t in times)
    print(title)
    print(f"  {names[0]:<20}: {ours:7.3f} s  (min {min(times[0]):.3f})")
    print(f"  {names[1]:<20}: {ref:7.3f} s  (min {min(times[1]):.3f})")
    print(f"  ratio of medians    : {ref / ours:7.2f}x (target >= {target:g}x)")
    return ref / ours


def _run_commands(assay: str, run_ref: str, d: Path, out: Path) -> tuple[list[str], list[str]]:
    ours = [assay, "run", "--step", "s", "--key", str(d / "owner.key"), "--legacy", "--links-dir", str(out)]
    ref = [run_ref, "-n", "s", "--signing-key", str(d / "owner.key")]
    return [*ours, "-p", ".", "--", "true"], [*ref, "-p", ".", "--", "true"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", type=int, default=10_000)
    ap.add_argument("--size-mib", type=int, default=200)
    ap.add_argument("--files", type=int, default=5_000)
    ap.add_argument("--small-files", type=int, default=50)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    verify_ref = shutil.which("in-toto-verify", path=str(BIN)) or shutil.which("in-toto-verify")
    run_ref = shutil.which("in-toto-run", path=str(BIN)) or shutil.which("in-toto-run")
    assert verify_ref and run_ref, "in-toto (pip install in-toto) is the peer measured here"
    assay = str(BIN / "assay")
    env = bytecode_env(Path(assay_pkg.__file__).parent)  # both tools start from bytecode, as installed
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        d = Path(tmp)
        _supply_chain(d, args.artifacts)
        ours_cmd = [assay, "verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", "links"]
        ref_cmd = [verify_ref, "-l", "root.layout", "--verification-keys", "owner.pub", "--link-dir", "links"]
        for cmd in (ours_cmd, ref_cmd):  # both must accept the chain before timing means anything
            subprocess.run(cmd, cwd=d, env=env, check=True, capture_output=True)
        ratios = {}
        ratios["verify"] = _report(
            f"verify: {STEPS} steps x {args.artifacts} artifacts, legacy links, both tools in turn, {args.runs} rounds",
            ("assay verify-layout", "in-toto-verify"),
            time_interleaved([ours_cmd, ref_cmd], args.runs, cwd=d, env=env),
            5,
        )
        for label, size, files in (("small", 1, args.small_files), ("large", args.size_mib, args.files)):
            tree = d / f"tree-{label}"
            tree.mkdir()
            _tree(tree, size, files)
            ours_run, ref_run = _run_commands(assay, run_ref, d, d / f"links-{label}")
            for cmd in (ours_run, ref_run):  # warms the page cache; both must succeed
                subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
            times = time_interleaved([ours_run, ref_run], args.runs, cwd=tree, env=env)
            ratios[label] = _report(
                f"run ({label} tree): hashing {size} MiB in {files} files, both tools in turn, {args.runs} rounds",
                ("assay run", "in-toto-run"),
                times,
                2,
            )
            if label == "large":
                for f in tree.glob("*.link"):
                    f.unlink()
                rss_ours = peak_rss_mib(ours_run, cwd=tree)
                rss_ref = peak_rss_mib(ref_run, cwd=tree)
                print(f"  peak RSS            : assay {rss_ours:.1f} MiB, in-toto-run {rss_ref:.1f} MiB")
        print("ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
