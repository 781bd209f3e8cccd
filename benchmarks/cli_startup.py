"""CLI start-up: ``assay --version`` and ``assay verify-blob`` vs ``sigstore --version``, in one run.

Target: assay at most half of sigstore-python's time. Medians over 15 runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import BIN, time_command

RUNS = 15


def main() -> None:
    sigstore = BIN / "sigstore"
    assay = BIN / "assay"
    with tempfile.TemporaryDirectory() as d:
        Path(d, "a.txt").write_bytes(b"payload\n")
        subprocess.run([str(assay), "keygen", "--output-prefix", "k"], cwd=d, capture_output=True, check=True)
        subprocess.run([str(assay), "sign-blob", "a.txt", "--key", "k.key"], cwd=d, capture_output=True, check=True)
        t_sig = time_command([str(sigstore), "--version"], RUNS)
        t_ver = time_command([str(assay), "--version"], RUNS)
        t_vb = time_command([str(assay), "verify-blob", "a.txt", "--key", "k.pub"], RUNS, cwd=Path(d))
    print(f"sigstore --version      : {t_sig * 1000:7.1f} ms")
    print(f"assay --version         : {t_ver * 1000:7.1f} ms  ratio {t_ver / t_sig:.2f}")
    print(f"assay verify-blob (key) : {t_vb * 1000:7.1f} ms  ratio {t_vb / t_sig:.2f}")
    print("target: ratio <= 0.5")


if __name__ == "__main__":
    main()
