"""The shared sigstore-conformance bundle-verification cases, through the real runner."""

import re
import subprocess
import sys

from tests.conftest import ASSAY, CONFORMANCE, require


def test_runner_accepts_and_rejects_every_case():
    runner = CONFORMANCE / "run-bundle-verify"
    require(runner.exists(), "../shared/conformance")
    cases = [p for p in (CONFORMANCE / "bundle-verify").iterdir() if p.is_dir()]
    proc = subprocess.run(
        [sys.executable, str(runner), "--", str(ASSAY), "conformance"], capture_output=True, text=True, timeout=1200
    )
    last = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert m, proc.stdout
    assert (int(m.group(1)), int(m.group(2))) == (2 * len(cases), 0), proc.stdout
