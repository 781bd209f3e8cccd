"""One pass, several digests: assay's sha256+sha512 stream vs ``sha256sum`` then ``sha512sum``, in one run.

npm provenance names a sha512 subject and other statements a sha256 one, so
``attestation verify`` may need both digests of a file: assay reads it once and
updates both hashes per chunk. The peer is what a shell script does: two tools,
two reads. Prints both times and the ratio.
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
from assay.crypto.digest import digest_file

SIZE = int(os.environ.get("BENCH_HASH_BYTES", 512 * 1024**2))


def _best(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    sha256sum, sha512sum = shutil.which("sha256sum"), shutil.which("sha512sum")
    assert sha256sum and sha512sum, "coreutils sha256sum and sha512sum are needed"
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        path = Path(d) / "big.bin"
        block = os.urandom(8 * 1024 * 1024)
        with path.open("wb") as fh:
            for _ in range(max(1, SIZE // len(block))):
                fh.write(block)
        for tool in (sha256sum, sha512sum):  # warm the page cache
            subprocess.run([tool, str(path)], capture_output=True, check=True)

        def peer() -> None:
            for tool in (sha256sum, sha512sum):
                subprocess.run([tool, str(path)], capture_output=True, check=True)

        t_peer = _best(peer)
        t_ours = _best(lambda: digest_file(str(path), ["sha256", "sha512"], show_progress=False))
        mib = path.stat().st_size / 1024**2
        print(f"file: {mib:.0f} MiB")
        print(f"sha256sum + sha512sum (two reads): {t_peer:6.2f} s")
        print(f"assay sha256+sha512 (one read)   : {t_ours:6.2f} s")
        print(f"ratio peer/assay time: {t_peer / t_ours:.2f} (above 1: assay is faster)")


if __name__ == "__main__":
    main()
