"""Memory stays flat when signing and verifying a 5 GB file (sparse, so no disk is used)."""

import base64
import hashlib
import json
import subprocess
import sys

import pytest

from tests.conftest import ASSAY, run_assay

SIZE = 5 * 1024**3
LIMIT_KB = 100 * 1024


def _peak_rss_kb(args: list[str], cwd) -> int:
    probe = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(ASSAY), *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    rc, kb = out.stdout.split()
    assert rc == "0", out.stderr
    return int(kb)


def _zeros_digest(size: int) -> bytes:
    h = hashlib.sha256()
    block = bytes(16 * 1024 * 1024)
    for _ in range(size // len(block)):
        h.update(block)
    return h.digest()


@pytest.mark.slow
def test_five_gigabytes_with_flat_memory(tmp_path):
    big = tmp_path / "big.img"
    with big.open("wb") as fh:
        fh.truncate(SIZE)
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    sign_kb = _peak_rss_kb(["sign-blob", "big.img", "--key", "k.key", "--bundle", "b.json"], tmp_path)
    verify_kb = _peak_rss_kb(["verify-blob", "big.img", "--bundle", "b.json", "--key", "k.pub"], tmp_path)
    digest = json.loads((tmp_path / "b.json").read_text())["messageSignature"]["messageDigest"]["digest"]
    assert base64.b64decode(digest) == _zeros_digest(SIZE)
    print(f"peak RSS: sign-blob {sign_kb // 1024} MiB, verify-blob {verify_kb // 1024} MiB")
    assert sign_kb < LIMIT_KB
    assert verify_kb < LIMIT_KB
