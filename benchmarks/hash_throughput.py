"""Streaming SHA-256: assay's digest vs ``sha256sum`` on the same 2 GB file, in one run.

Prints both throughputs and the ratio (target >= 0.9), then the peak RSS of
``assay verify-blob`` on that file (target < 100 MB). The file is written with
real (non-zero) data so neither tool benefits from a sparse file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import BIN, peak_rss_mib
from assay.crypto.digest import sha256_file

SIZE = int(os.environ.get("BENCH_HASH_BYTES", 2 * 1024**3))


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        path = Path(d) / "big.bin"
        block = os.urandom(8 * 1024 * 1024)
        with path.open("wb") as fh:
            for _ in range(SIZE // len(block)):
                fh.write(block)
        sha = shutil.which("sha256sum")
        assert sha, "sha256sum is needed"
        for _ in range(2):  # warm the page cache for both
            subprocess.run([sha, str(path)], capture_output=True, check=True)
        runs = 3
        t_ref = min(
            _time(lambda: subprocess.run([sha, str(path)], capture_output=True, check=True)) for _ in range(runs)
        )
        t_ours = min(_time(lambda: sha256_file(str(path), show_progress=False)) for _ in range(runs))
        gib = SIZE / 1024**3
        print(f"file: {gib:.2f} GiB")
        print(f"sha256sum     : {gib / t_ref:6.2f} GiB/s")
        print(f"assay digest  : {gib / t_ours:6.2f} GiB/s")
        print(f"ratio assay/sha256sum throughput: {t_ref / t_ours:.2f} (target >= 0.9)")
        subprocess.run([str(BIN / "assay"), "keygen", "--output-prefix", "k"], cwd=d, capture_output=True, check=True)
        subprocess.run(
            [str(BIN / "assay"), "sign-blob", "big.bin", "--key", "k.key"], cwd=d, capture_output=True, check=True
        )
        rss = peak_rss_mib([str(BIN / "assay"), "verify-blob", "big.bin", "--key", "k.pub"], cwd=Path(d))
        print(f"peak RSS of assay verify-blob on the file: {rss:.1f} MiB (target < 100 MB)")


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
