import hashlib
import io

import pytest

from assay.crypto.digest import CHUNK, hash_stream, parse_digest_ref, sha256_file
from assay.errors import InputError


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_streaming_digest_matches_hashlib(size, tmp_path):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    p = tmp_path / "f"
    p.write_bytes(data)
    assert sha256_file(str(p)) == hashlib.sha256(data).digest()
    seen = []
    assert hash_stream(io.BytesIO(data), seen.append) == hashlib.sha256(data).digest()
    assert sum(seen) == size


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError) as exc:
        sha256_file(str(tmp_path / "nope"))
    assert exc.value.reason == "file-not-found"
    with pytest.raises(InputError) as exc:
        sha256_file(str(tmp_path))
    assert exc.value.reason == "is-a-directory"


def test_digest_references():
    assert parse_digest_ref("file.txt") is None
    assert parse_digest_ref("sha256:" + "ab" * 32) == bytes.fromhex("ab" * 32)
    for bad in ("sha256:abc", "sha256:" + "zz" * 32):
        with pytest.raises(InputError) as exc:
            parse_digest_ref(bad)
        assert exc.value.reason == "bad-digest"


def test_progress_bar_shown_when_asked_and_hashes_correctly(tmp_path, monkeypatch):
    import rich.progress

    created = []
    real = rich.progress.Progress

    def recording(*args, **kwargs):
        bar = real(*args, **kwargs)
        created.append(bar)
        return bar

    monkeypatch.setattr(rich.progress, "Progress", recording)
    data = b"x" * (3 * CHUNK + 5)
    p = tmp_path / "big"
    p.write_bytes(data)
    assert sha256_file(str(p), show_progress=True) == hashlib.sha256(data).digest()
    assert len(created) == 1 and created[0].tasks[0].completed == len(data)


def test_no_progress_bar_below_the_threshold_even_on_a_terminal(tmp_path, monkeypatch):
    import sys

    import rich.progress

    def boom(*args, **kwargs):
        raise AssertionError("a progress bar was created for a small file")

    monkeypatch.setattr(rich.progress, "Progress", boom)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    p = tmp_path / "small"
    p.write_bytes(b"abc")
    assert sha256_file(str(p)) == hashlib.sha256(b"abc").digest()
