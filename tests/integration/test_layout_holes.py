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


@pytest.fixture
def tree(keyed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A working tree with symbolic links into itself, out of it, and in loops; and a secret outside it."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_text("the outside world")
    (outside / "dir").mkdir()
    (outside / "dir" / "f").write_text("outside file")
    src = keyed / "src"
    src.mkdir()
    (src / "a").write_text("a")
    (src / "alias").symlink_to("a")  # inside the tree: recorded with a's content
    (keyed / "to-secret").symlink_to(outside / "secret")
    (keyed / "to-dir").symlink_to(outside / "dir")
    (keyed / "nested").mkdir()
    (keyed / "nested" / "sneaky").symlink_to("../../" + outside.name + "/secret")
    (keyed / "self").symlink_to("self")
    (keyed / "ring" / "inner").mkdir(parents=True)
    (keyed / "ring" / "inner" / "back").symlink_to("..")
    return keyed, outside


def _run(d: Path, *args: str, step: str = "write"):
    return run_assay("run", "--step", step, "--key", "dev.key", "--legacy", "--links-dir", "links", *args,
                     "--", "true", cwd=d)  # fmt: skip


@pytest.mark.parametrize("flag", ["-m", "-p"])
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("to-secret", "artifact-path-escapes"),
        ("to-dir", "artifact-path-escapes"),
        ("to-dir/f", "artifact-path-escapes"),
        ("nested", "artifact-path-escapes"),
        ("self", "symlink-loop"),
        ("ring", "symlink-loop"),
        ("../outside", "artifact-path-escapes"),
        ("src/../../x", "artifact-path-escapes"),
        (".", "artifact-path-escapes"),
    ],
)
def test_run_never_follows_links_out_of_the_tree(tree: tuple[Path, Path], flag: str, path: str, reason: str):
    d, _ = tree
    r = _run(d, flag, path)
    assert r.code == 2 and f"error[{reason}]" in r.err, (path, r.err)
    assert "outside world" not in r.err and not (d / "links").exists()


def test_run_records_links_inside_the_tree_as_their_target(tree: tuple[Path, Path]):
    d, _ = tree
    _ok(_run(d, "-m", "src", "-p", "src/alias"))
    link = envelope.parse_signed(next((d / "links").glob("write.*.link")).read_bytes(), "x").link("x")
    assert set(link.materials) == {"src/a", "src/alias"} and link.materials["src/a"] == link.materials["src/alias"]
    assert set(link.products) == {"src/alias"}


@pytest.mark.parametrize("step", ["../../evil", "a/b", "..", ".hidden", "a\\\\b", "tab\\there"])
def test_step_names_cannot_leave_the_links_directory(keyed: Path, step: str):
    step = step.replace("\\\\", "\\").replace("\\t", "\t")
    r = _run(keyed, step=step)
    assert r.code == 2 and "error[step-name-invalid]" in r.err, r.err
    assert not list(keyed.parent.glob("evil*")) and not (keyed / "links").exists()
    r = run_assay("record", "start", "--step", step, "--links-dir", "links", cwd=keyed)
    assert r.code == 2 and "error[step-name-invalid]" in r.err
    r = run_assay("record", "stop", "--step", step, "--key", "dev.key", "--links-dir", "links", cwd=keyed)
    assert r.code == 2 and "error[step-name-invalid]" in r.err


@pytest.mark.parametrize(("name", "reason"), [("to-secret", "artifact-path-escapes"), ("self", "symlink-loop")])
def test_verify_artifacts_never_follows_links_out_of_the_directory(chain: Path, tmp_path: Path, name: str, reason: str):
    (tmp_path / "secret").write_text("outside")
    target = tmp_path / "secret" if name == "to-secret" else chain / "out" / name
    (chain / "out" / name).symlink_to(target)
    r = _verify(chain, "--artifacts", "out")
    assert r.code == 2 and f"error[{reason}]" in r.err, r.err
