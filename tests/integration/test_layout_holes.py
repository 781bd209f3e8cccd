"""Hostile inputs to layouts, ``assay run`` and ``verify-layout`` (issue 22.4), through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.crypto import keys
from assay.layout import envelope
from tests.conftest import run_assay

pytestmark = pytest.mark.slow

LAYOUT = """\
expires: {expires}
functionaries:
  dev: {{key: dev.pub}}
steps:
  - name: write
    functionaries: [dev]
    expected_products: [ALLOW *]
"""


def _ok(r):
    assert r.code == 0, r.err
    return r


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    _ok(run_assay("keygen", "--output-prefix", "dev", cwd=tmp_path))
    _ok(run_assay("keygen", "--output-prefix", "owner", cwd=tmp_path))
    return tmp_path


def _sign_doc(d: Path, doc: dict, name: str = "root.layout") -> Path:
    from securesystemslib.signer import CryptoSigner

    signer = CryptoSigner(keys.load_private(d / "owner.key", None))
    (d / name).write_text(json.dumps(envelope.sign_metablock([signer], doc)))
    return d / name


def _doc(d: Path, expires: object) -> dict:
    dev = envelope.key_dict_from_public(keys.load_public(d / "dev.pub"))
    doc = {
        "_type": "layout",
        "expires": expires,
        "readme": "",
        "keys": {dev["keyid"]: dev},
        "steps": [
            {
                "_type": "step",
                "name": "write",
                "pubkeys": [dev["keyid"]],
                "threshold": 1,
                "expected_command": [],
                "expected_materials": [],
                "expected_products": [["ALLOW", "*"]],
            }
        ],
        "inspect": [],
    }
    if expires is None:
        del doc["expires"]
    return doc


BAD_DATES = ["2030-02-30T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-01T25:00:00Z", "2030-01-01T00:00:60Z"]


@pytest.mark.parametrize("expires", BAD_DATES)
@pytest.mark.parametrize("quoted", [True, False])
def test_layout_sign_refuses_impossible_expiry(keyed: Path, expires: str, quoted: bool):
    text = f'"{expires}"' if quoted else expires
    (keyed / "root.yaml").write_text(LAYOUT.format(expires=text))
    r = run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=keyed)
    assert r.code == 2, r.err
    assert ("error[layout-malformed]" if quoted else "error[yaml-invalid]") in r.err, r.err
    assert not (keyed / "root.layout").exists()


@pytest.mark.parametrize("expires", [*BAD_DATES, "2030-01-01 00:00:00Z", "2030-01-01T00:00:00+00:00", 2030])
def test_verify_layout_refuses_impossible_expiry(keyed: Path, expires: object):
    _sign_doc(keyed, _doc(keyed, expires))
    r = run_assay("verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", ".", cwd=keyed)
    assert r.code == 2 and "error[layout-malformed]" in r.err and "internal" not in r.err, r.err
    # adding a signature to such a layout is refused too
    r = run_assay("layout", "sign", "root.layout", "--key", "dev.key", "--out", "again.layout", cwd=keyed)
    assert r.code == 2 and "error[layout-malformed]" in r.err, r.err


def test_layout_without_expires_is_refused_citing_the_specification(keyed: Path):
    _sign_doc(keyed, _doc(keyed, None))
    r = run_assay("verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", ".", cwd=keyed)
    assert r.code == 2 and "error[layout-malformed]" in r.err
    assert "specification requires" in r.err, r.err
    (keyed / "root.yaml").write_text(LAYOUT.format(expires="x").replace("expires: x\n", ""))
    r = run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=keyed)
    assert r.code == 2 and "error[layout-malformed]" in r.err and "specification requires" in r.err, r.err


def test_layout_init_refuses_absurd_lifetimes(tmp_path: Path):
    for days in ("0", "-3", str(10**12)):
        r = run_assay("layout", "init", "--expires-days", days, "--out", f"l{days}.yaml", cwd=tmp_path)
        assert r.code == 2 and "error[usage]" in r.err, r.err


STRICT = """\
expires: "2035-01-01T00:00:00Z"
functionaries:
  dev: {key: dev.pub}
steps:
  - name: write
    functionaries: [dev]
    expected_products: [CREATE app, DISALLOW *]
"""


@pytest.fixture
def chain(keyed: Path) -> Path:
    (keyed / "root.yaml").write_text(STRICT)
    _ok(run_assay("layout", "sign", "root.yaml", "--key", "owner.key", cwd=keyed))
    _ok(
        run_assay(
            "run", "--step", "write", "--key", "dev.key", "--links-dir", "links", "-p", "app",
            "--", "sh", "-c", "echo app > app", cwd=keyed,
        )
    )  # fmt: skip
    (keyed / "out").mkdir()
    (keyed / "out" / "app").write_text("app\n")
    return keyed


def _verify(d: Path, *extra: str):
    return run_assay(
        "verify-layout", "--layout", "root.layout", "--layout-key", "owner.pub", "--links", "links", *extra, cwd=d
    )


@pytest.mark.parametrize(
    "hidden", ["x.pyc", "__pycache__/m.cpython-312.pyc", "evil.link", "notes.link.bak", "backup~", ".git/HEAD"]
)
def test_verify_artifacts_sees_files_recording_would_skip(chain: Path, hidden: str):
    _ok(_verify(chain, "--artifacts", "out"))
    target = chain / "out" / hidden
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("smuggled")
    r = _verify(chain, "--artifacts", "out")
    assert r.code == 1 and "error[artifact-not-produced]" in r.err and hidden in r.err, r.err
    pattern = hidden.split("/")[0] + ("/" if "/" in hidden else "")
    r = _ok(_verify(chain, "--artifacts", "out", "--artifacts-exclude", pattern))
    assert f"skipping {pattern}" in r.err
