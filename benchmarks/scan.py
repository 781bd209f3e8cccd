"""Scan of a 2,000-component SBOM against an OSV index of 50,000 records (synthetic, generated here).

Prints the import time and the scan wall time of ``assay scan SBOM --db DIR -o json``
(median of 3; target <= 1 s after import) and the number of findings.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RECORDS = 50_000
COMPONENTS = 2_000


def main() -> None:
    rnd = random.Random(7)
    ecos = [("PyPI", "pypi"), ("npm", "npm"), ("Go", "golang")]
    names = [f"pkg{i}" for i in range(20_000)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recs = []
        for i in range(RECORDS):
            eco, _ = ecos[i % 3]
            name = names[rnd.randrange(len(names))]
            lo = rnd.randrange(0, 5)
            recs.append(
                {
                    "id": f"BENCH-{i}",
                    "modified": "2026-01-01T00:00:00Z",
                    "affected": [
                        {
                            "package": {"ecosystem": eco, "name": name},
                            "ranges": [
                                {
                                    "type": "ECOSYSTEM",
                                    "events": [{"introduced": f"{lo}.0.0"}, {"fixed": f"{lo + 1}.2.0"}],
                                }
                            ],
                        }
                    ],
                    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                }
            )
        (work / "osv.json").write_text(json.dumps(recs))
        comps = []
        for i in range(COMPONENTS):
            eco, kind = ecos[i % 3]
            name = names[rnd.randrange(len(names))]
            comps.append({"type": "library", "bom-ref": f"c{i}", "name": name, "version": f"{rnd.randrange(0, 6)}.1.0",
                          "purl": f"pkg:{kind}/{name}@{rnd.randrange(0, 6)}.1.0"})  # fmt: skip
        bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": comps}
        (work / "bom.json").write_text(json.dumps(bom))
        t = time.perf_counter()
        subprocess.run([str(BIN / "assay"), "vulndb", "import", "osv.json", "--db", "db"], cwd=work, check=True,
                       capture_output=True)  # fmt: skip
        imported = time.perf_counter() - t
        runs = []
        out = b""
        for _ in range(3):
            t = time.perf_counter()
            out = subprocess.run([str(BIN / "assay"), "scan", "bom.json", "--db", "db", "-o", "json"], cwd=work,
                                 check=True, capture_output=True).stdout  # fmt: skip
            runs.append(time.perf_counter() - t)
    findings = len(json.loads(out)["findings"])
    print(f"scan: {COMPONENTS} components vs {RECORDS} OSV records")
    print(f"  import          {imported:6.2f} s")
    print(f"  scan (process)  {statistics.median(runs):6.2f} s   (target <= 1 s)   findings: {findings}")


if __name__ == "__main__":
    main()
