"""One recording run hashes each unchanged file once, and never reuses a digest a change could have outdated."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from assay.service import artifacts


def _old_tree(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    for i in range(10):
        (tmp_path / "src" / f"f{i}.c").write_bytes(b"int x = %d;\n" % i)
    time.sleep(artifacts.RACY_NS / 1e9 + 0.2)  # older than the racy window when hashed
    return tmp_path


def test_unchanged_files_keep_their_digest_from_the_materials(tmp_path: Path) -> None:
    d = _old_tree(tmp_path)
    cache = artifacts.DigestCache()
    materials = artifacts.record(["."], base_path=str(d), cache=cache)
    path = str(d / "src" / "f3.c")
    assert cache.get(path, os.stat(path)) == materials["src/f3.c"]["sha256"]
    assert artifacts.record(["."], base_path=str(d), cache=cache) == materials


def test_a_rewrite_keeping_size_and_mtime_is_hashed_again(tmp_path: Path) -> None:
    d = _old_tree(tmp_path)
    cache = artifacts.DigestCache()
    materials = artifacts.record(["."], base_path=str(d), cache=cache)
    f = d / "src" / "f3.c"
    st = f.stat()
    f.write_bytes(b"int x = 9;\n")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime; the ctime cannot be set back
    products = artifacts.record(["."], base_path=str(d), cache=cache)
    assert products["src/f3.c"]["sha256"] == hashlib.sha256(b"int x = 9;\n").hexdigest()
    assert products["src/f3.c"] != materials["src/f3.c"]
    assert {p: v for p, v in products.items() if p != "src/f3.c"} == {
        p: v for p, v in materials.items() if p != "src/f3.c"
    }


def test_a_file_replaced_by_another_is_hashed_again(tmp_path: Path) -> None:
    d = _old_tree(tmp_path)
    cache = artifacts.DigestCache()
    artifacts.record(["."], base_path=str(d), cache=cache)
    (d / "new.c").write_bytes(b"int x = 7;\n")
    os.replace(d / "new.c", d / "src" / "f1.c")
    products = artifacts.record(["."], base_path=str(d), cache=cache)
    assert products["src/f1.c"]["sha256"] == hashlib.sha256(b"int x = 7;\n").hexdigest()


def test_a_file_changed_just_before_hashing_is_not_remembered(tmp_path: Path) -> None:
    f = tmp_path / "fresh.c"
    f.write_bytes(b"int y;\n")
    cache = artifacts.DigestCache()
    artifacts.record(["."], base_path=str(tmp_path), cache=cache)
    assert cache.get(str(f), f.stat()) is None
