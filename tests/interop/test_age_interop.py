"""age files interoperate with Debian's ``age`` both ways, and the CLI refuses bad input with reason codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_assay


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, str]:
    keygen = require_tool("age-keygen")
    ident = tmp_path / "id.txt"
    proc = subprocess.run([keygen, "-o", str(ident)], capture_output=True, text=True, check=True)
    return ident, proc.stderr.split("Public key:")[1].strip()


@pytest.mark.parametrize("size", [0, 65536, 300_001])
def test_assay_encrypts_age_decrypts(tmp_path: Path, keys: tuple[Path, str], size: int) -> None:
    age_bin = require_tool("age")
    ident, recipient = keys
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(size))
    r = run_assay("encrypt-blob", str(plain), "--recipient", recipient, "--out", str(tmp_path / "f.age"))
    assert r.code == 0, r.err
    out = subprocess.run([age_bin, "-d", "-i", str(ident), str(tmp_path / "f.age")], capture_output=True, check=True)
    assert out.stdout == plain.read_bytes()


@pytest.mark.parametrize("size", [0, 65536 * 2, 200_003])
def test_age_encrypts_assay_decrypts(tmp_path: Path, keys: tuple[Path, str], size: int) -> None:
    age_bin = require_tool("age")
    ident, recipient = keys
    other = age_keygen_recipient(tmp_path)
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(size))
    enc = tmp_path / "f.age"
    subprocess.run([age_bin, "-r", other, "-r", recipient, "-o", str(enc), str(plain)], check=True)
    r = run_assay("decrypt-blob", str(enc), "--identity", str(ident), "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()


def age_keygen_recipient(tmp_path: Path) -> str:
    proc = subprocess.run([require_tool("age-keygen")], capture_output=True, text=True, check=True)
    return next(ln.split(": ")[1] for ln in proc.stdout.splitlines() if ln.startswith("# public key"))


def _no_partial(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out.") for p in tmp_path.iterdir())


def test_corrupt_age_file_leaves_no_plaintext(tmp_path: Path, keys: tuple[Path, str]) -> None:
    age_bin = require_tool("age")
    ident, recipient = keys
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(5 * 65536))
    enc = tmp_path / "f.age"
    subprocess.run([age_bin, "-r", recipient, "-o", str(enc), str(plain)], check=True)
    blob = bytearray(enc.read_bytes())
    blob[-100] ^= 0x40  # the last chunk: four good chunks were already written to the temporary file
    enc.write_bytes(bytes(blob))
    r = run_assay("decrypt-blob", str(enc), "--identity", str(ident), "--out", str(tmp_path / "out"))
    assert r.code == 1 and "error[ciphertext-corrupt]" in r.err
    _no_partial(tmp_path)
    enc.write_bytes(bytes(blob[: len(blob) - (len(blob) - blob.index(b"\n---")) // 2]))
    r = run_assay("decrypt-blob", str(enc), "--identity", str(ident), "--out", str(tmp_path / "out"))
    assert r.code == 1 and ("error[ciphertext-corrupt]" in r.err or "error[truncated-file]" in r.err)
    _no_partial(tmp_path)


def test_truncated_at_chunk_boundary(tmp_path: Path, keys: tuple[Path, str]) -> None:
    age_bin = require_tool("age")
    ident, recipient = keys
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(3 * 65536 + 5))
    enc = tmp_path / "f.age"
    subprocess.run([age_bin, "-r", recipient, "-o", str(enc), str(plain)], check=True)
    enc.write_bytes(enc.read_bytes()[: -(5 + 16)])
    r = run_assay("decrypt-blob", str(enc), "--identity", str(ident), "--out", str(tmp_path / "out"))
    assert r.code == 1 and "error[truncated-file]" in r.err, r.err
    _no_partial(tmp_path)


def test_bad_recipient_and_wrong_identity(tmp_path: Path, keys: tuple[Path, str]) -> None:
    _ident, recipient = keys
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    r = run_assay("encrypt-blob", str(plain), "--recipient", "age1garbage", "--out", str(tmp_path / "f.age"))
    assert r.code == 2 and "error[bad-recipient]" in r.err
    assert not (tmp_path / "f.age").exists()
    other = tmp_path / "other.txt"
    subprocess.run([require_tool("age-keygen"), "-o", str(other)], capture_output=True, check=True)
    assert run_assay("encrypt-blob", str(plain), "-r", recipient, "--out", str(tmp_path / "f.age")).code == 0
    r = run_assay("decrypt-blob", str(tmp_path / "f.age"), "-i", str(other), "--out", str(tmp_path / "out"))
    assert r.code == 1 and "error[no-matching-identity]" in r.err
    _no_partial(tmp_path)
