"""``assay sbom`` of the test virtualenv vs ``cyclonedx-py environment`` (PyPI cyclonedx-bom) on the same one.

Prints both wall times (median of 3), the ratio, and compares the component sets
(normalised names and versions): assay must find every package cyclonedx-py finds.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
BIN = Path(sys.executable).parent


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "assay.json", Path(tmp) / "cdx.json"
        assay_cmd = [str(BIN / "assay"), "sbom", str(VENV), "--out", str(ours)]
        cdx_cmd = [str(BIN / "cyclonedx-py"), "environment", "--output-file", str(theirs), str(sys.executable)]
        a = statistics.median(_timed(assay_cmd) for _ in range(3))
        c = statistics.median(_timed(cdx_cmd) for _ in range(3))
        mine = {(_norm(x["name"]), x["version"]) for x in json.loads(ours.read_text())["components"]}
        peer = {(_norm(x["name"]), x["version"]) for x in json.loads(theirs.read_text()).get("components", [])}
    missing = peer - mine
    print(f"sbom of {VENV} ({len(peer)} packages per cyclonedx-py, {len(mine)} components per assay):")
    print(f"  cyclonedx-py environment {c:6.2f} s")
    print(f"  assay sbom               {a:6.2f} s   ratio {c / a:5.1f}x faster (target >= 10x)")
    print(f"  packages cyclonedx-py found that assay missed: {len(missing)} {sorted(missing)[:10]}")


if __name__ == "__main__":
    main()
