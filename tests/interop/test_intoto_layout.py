"""Interoperability with the in-toto reference implementation (in-toto 3.x CLIs), and a differential test.

Documented differences from in-toto-verify (asserted below where they show):
- a link in the links directory for a step the layout does not have is ignored by both (assay says so in a
  note); but a file named as a layout step's link (``STEP.…``) that is signed for an unknown step is bad input
  for assay (exit 2, ``link-for-unknown-step``).
- assay reads every ``*.link`` / ``*.sigstore.json`` file and identifies the signer by signature, so a
  link may have any file name; two files by the same functionary that disagree fail
  (``functionary-links-conflict``).
- inspections run only with ``--run-inspections``; without it a layout with inspections is bad input
  (exit 2, ``inspections-not-enabled``) where in-toto-verify runs them unasked.
- an ``expected_command`` that is empty is not compared (in-toto-verify warns that any command differs).
- a link counts for the step named inside it (signed); in-toto-verify takes the step from the file name.
- layouts with keyless functionaries (``keytype: sigstore-oidc``) and links in Sigstore bundles verify only
  under assay.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.crypto import keys
from assay.layout import envelope
from assay.layout.model import Link
from tests.conftest import require_tool, run_assay

LAYOUT = """\
expires: "{expires}"
functionaries:
  alice: {{key: keys/alice.pub}}
  bob: {{key: keys/bob.pub}}
  carol: {{key: keys/carol.pub}}
steps:
  - name: write-code
    functionaries: [alice]
    expected_products:
      - CREATE src/*
      - DISALLOW *
  - name: build
    functionaries: [bob, carol]
    threshold: {threshold}
    expected_materials:
      - MATCH src/* WITH PRODUCTS FROM write-code
      - DISALLOW *
    expected_products:
      - CREATE app.tar.gz
      - ALLOW src/*
      - DISALLOW *
"""


@dataclass
class Chain:
    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def layout(self, *, expires: str = "2035-01-01T00:00:00Z", threshold: int = 1) -> Path:
        src = self.root / "root.yaml"
        src.write_text(LAYOUT.format(expires=expires, threshold=threshold))
        r = run_assay("layout", "sign", str(src), "--key", str(self.keys / "owner.key"), cwd=self.root)
        assert r.code == 0, r.err
        return self.root / "root.layout"

    def verdicts(self, layout: Path, links: Path) -> tuple[int, int, str]:
        """(assay exit code, in-toto-verify exit code, assay stderr)."""
        a = run_assay(
            "verify-layout",
            "--layout",
            str(layout),
            "--layout-key",
            str(self.keys / "owner.pub"),
            "--links",
            str(links),
        )
        ref = subprocess.run(
            [
                require_tool("in-toto-verify"),
                "-l",
                str(layout),
                "--verification-keys",
                str(self.keys / "owner.pub"),
                "--link-dir",
                str(links),
            ],
            capture_output=True,
            timeout=120,
        )
        return a.code, ref.returncode, a.err


def _keygen(directory: Path) -> None:
    directory.mkdir()
    for name, kind in (("owner", "ecdsa-p256"), ("alice", "ecdsa-p256"), ("bob", "ed25519"), ("carol", "rsa-3072")):
        r = run_assay("keygen", "--type", kind, "--output-prefix", str(directory / name))
        assert r.code == 0, r.err
    r = run_assay("keygen", "--output-prefix", str(directory / "mallory"))
    assert r.code == 0


def _in_toto_run(work: Path, step: str, key: Path, args: list[str], cmd: list[str]) -> None:
    tool = require_tool("in-toto-run")
    r = subprocess.run([tool, "-n", step, "--signing-key", str(key), *args, "--", *cmd], cwd=work, capture_output=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """Keys and a supply chain recorded by in-toto-run (write-code by alice, build by bob and by carol)."""
    require_tool("in-toto-run")
    require_tool("in-toto-verify")
    root = tmp_path_factory.mktemp("chain")
    _keygen(root / "keys")
    chain = Chain(root)
    work = root / "work"
    work.mkdir()
    k = chain.keys
    _in_toto_run(
        work, "write-code", k / "alice.key", ["-p", "src"], ["sh", "-c", "mkdir src && echo 'int main;' > src/a.c"]
    )
    _in_toto_run(
        work,
        "build",
        k / "bob.key",
        ["-m", "src", "-p", "src", "app.tar.gz"],
        ["tar", "--mtime=@0", "--sort=name", "--owner=0", "--group=0", "-cf", "app.tar.gz", "src"],
    )
    _in_toto_run(
        work,
        "build",
        k / "carol.key",
        ["-m", "src", "-p", "src", "app.tar.gz"],
        ["tar", "--mtime=@0", "--sort=name", "--owner=0", "--group=0", "-cf", "app.tar.gz", "src"],
    )
    return chain


def _links(base: Chain, tmp_path: Path) -> Path:
    d = tmp_path / "links"
    d.mkdir()
    for f in (base.root / "work").glob("*.link"):
        shutil.copy(f, d / f.name)
    return d


def _sign_link(base: Chain, who: str, link: Link, directory: Path, name_as: str | None = None) -> Path:
    from securesystemslib.signer import CryptoSigner

    priv = keys.load_private(base.keys / f"{who}.key", None)
    signer = CryptoSigner(priv)
    doc = envelope.sign_metablock([signer], link.to_dict())
    prefix = envelope.key_dict_from_public(keys.load_public(base.keys / f"{name_as or who}.pub"))["keyid"][:8]
    path = directory / f"{link.name}.{prefix}.link"
    path.write_text(json.dumps(doc))
    return path


def _read(path: Path) -> Link:
    return envelope.parse_signed(path.read_bytes(), path.name).link(path.name)


def _keyid8(base: Chain, who: str) -> str:
    return envelope.key_dict_from_public(keys.load_public(base.keys / f"{who}.pub"))["keyid"][:8]


def test_reference_links_verify_under_assay(base: Chain, tmp_path: Path):
    layout = base.layout(threshold=2)
    a, ref, err = base.verdicts(layout, _links(base, tmp_path))
    assert (a, ref) == (0, 0), err


def test_reference_dsse_links_verify_under_assay(base: Chain, tmp_path: Path):
    work = tmp_path / "w"
    work.mkdir()
    k = base.keys
    _in_toto_run(
        work, "write-code", k / "alice.key", ["--use-dsse", "-p", "src"], ["sh", "-c", "mkdir src && echo x > src/a.c"]
    )
    _in_toto_run(
        work,
        "build",
        k / "bob.key",
        ["--use-dsse", "-m", "src", "-p", "src", "app.tar.gz"],
        ["tar", "-cf", "app.tar.gz", "src"],
    )
    a, ref, err = base.verdicts(base.layout(), work)
    assert (a, ref) == (0, 0), err


@pytest.mark.parametrize("form", ["--legacy", "--dsse"])
def test_assay_links_verify_under_in_toto(base: Chain, tmp_path: Path, form: str):
    work = tmp_path / "w"
    work.mkdir()
    k = base.keys
    r = run_assay(
        "run",
        "--step",
        "write-code",
        "--key",
        str(k / "alice.key"),
        form,
        "-p",
        "src",
        "--",
        "sh",
        "-c",
        "mkdir src && echo x > src/a.c",
        cwd=work,
    )
    assert r.code == 0, r.err
    r = run_assay(
        "run",
        "--step",
        "build",
        "--key",
        str(k / "carol.key"),
        form,
        "-m",
        "src",
        "-p",
        "src",
        "-p",
        "app.tar.gz",
        "--",
        "tar",
        "-cf",
        "app.tar.gz",
        "src",
        cwd=work,
    )
    assert r.code == 0, r.err
    a, ref, err = base.verdicts(base.layout(), work)
    assert (a, ref) == (0, 0), err
    # the statement form of the same step records the same artifacts
    r = run_assay(
        "run",
        "--step",
        "build",
        "--key",
        str(k / "carol.key"),
        "-m",
        "src",
        "-p",
        "src",
        "-p",
        "app.tar.gz",
        "--links-dir",
        "bundles",
        "--",
        "true",
        cwd=work,
    )
    assert r.code == 0, r.err
    bundle = next((work / "bundles").glob("build.*.link.sigstore.json"))
    legacy = next(work.glob("build.*.link"))
    assert _read(bundle).products == _read(legacy).products and _read(bundle).materials == _read(legacy).materials


def _tamper_changed_product(base: Chain, links: Path) -> None:
    path = links / f"write-code.{_keyid8(base, 'alice')}.link"
    link = _read(path)
    link.products["src/a.c"] = {"sha256": "0" * 64}
    _sign_link(base, "alice", link, links)


def _tamper_extra_artifact(base: Chain, links: Path) -> None:
    for who in ("bob", "carol"):
        path = links / f"build.{_keyid8(base, who)}.link"
        link = _read(path)
        link.products["backdoor.sh"] = {"sha256": "1" * 64}
        _sign_link(base, who, link, links)


def _tamper_missing_link(base: Chain, links: Path) -> None:
    (links / f"write-code.{_keyid8(base, 'alice')}.link").unlink()


def _tamper_wrong_functionary(base: Chain, links: Path) -> None:
    path = links / f"write-code.{_keyid8(base, 'alice')}.link"
    _sign_link(base, "mallory", _read(path), links, name_as="alice")


def _tamper_one_builder(base: Chain, links: Path) -> None:
    (links / f"build.{_keyid8(base, 'carol')}.link").unlink()


def _tamper_builders_disagree(base: Chain, links: Path) -> None:
    path = links / f"build.{_keyid8(base, 'carol')}.link"
    link = _read(path)
    link.products["app.tar.gz"] = {"sha256": "2" * 64}
    _sign_link(base, "carol", link, links)


SCENARIOS = {
    "untampered": (None, {}, 0),
    "changed-product": (_tamper_changed_product, {}, 1),
    "extra-artifact": (_tamper_extra_artifact, {}, 1),
    "missing-link": (_tamper_missing_link, {}, 1),
    "wrong-functionary": (_tamper_wrong_functionary, {}, 1),
    "expired-layout": (None, {"expires": "2020-01-01T00:00:00Z"}, 1),
    "threshold-not-met": (_tamper_one_builder, {"threshold": 2}, 1),
    "threshold-one-of-two": (_tamper_one_builder, {"threshold": 1}, 0),
    "builders-disagree": (_tamper_builders_disagree, {"threshold": 2}, 1),
}
REASONS = {
    "changed-product": "disallowed-artifact",
    "extra-artifact": "disallowed-artifact",
    "missing-link": "link-missing",
    "wrong-functionary": "link-signer-not-authorised",
    "expired-layout": "layout-expired",
    "threshold-not-met": "threshold-not-met",
    "builders-disagree": "threshold-links-disagree",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_differential_tampered_chains(base: Chain, tmp_path: Path, name: str):
    tamper, layout_args, expected = SCENARIOS[name]
    links = _links(base, tmp_path)
    if tamper is not None:
        tamper(base, links)
    a, ref, err = base.verdicts(base.layout(**layout_args), links)
    assert (a, ref) == (expected, expected), err
    if name in REASONS:
        assert f"error[{REASONS[name]}]" in err


def test_link_for_unknown_step_ignored_like_in_toto_verify(base: Chain, tmp_path: Path):
    """A links directory holding the reference tool's link for a step the layout does not name verifies."""
    links = _links(base, tmp_path)
    work = tmp_path / "deploy"
    work.mkdir()
    _in_toto_run(work, "deploy", base.keys / "alice.key", ["-p", "."], ["sh", "-c", "echo pushed > receipt"])
    for f in work.glob("deploy.*.link"):
        shutil.copy(f, links / f.name)
    a, ref, err = base.verdicts(base.layout(), links)
    assert (a, ref) == (0, 0), err
    assert "'deploy', which the layout does not name; ignored" in err


def test_difference_unknown_step_filed_as_layout_step(base: Chain, tmp_path: Path):
    links = _links(base, tmp_path)
    signed = _sign_link(base, "alice", Link("deploy", [], {}, {}), links)
    signed.rename(links / f"write-code.{_keyid8(base, 'alice')}.deploy.link")
    a, ref, err = base.verdicts(base.layout(), links)
    assert (a, ref) == (2, 0) and "error[link-for-unknown-step]" in err


SUBLAYOUT = """\
expires: "2035-01-01T00:00:00Z"
functionaries:
  alice: {key: keys/alice.pub}
steps:
  - name: compile
    functionaries: [alice]
    expected_materials: [ALLOW src/*]
    expected_products: [CREATE app.tar.gz, ALLOW src/*, DISALLOW *]
"""


@pytest.mark.parametrize("tamper", [False, True])
def test_sublayout_under_both(base: Chain, tmp_path: Path, tamper: bool):
    """bob delegates the build step to a sublayout he signs; alice's links sit in build.BOB8/."""
    links = _links(base, tmp_path)
    for f in links.glob("build.*.link"):
        f.unlink()
    bob8 = _keyid8(base, "bob")
    (base.root / f"sub-{tmp_path.name}.yaml").write_text(SUBLAYOUT)
    r = run_assay(
        "layout", "sign", f"sub-{tmp_path.name}.yaml", "--key", str(base.keys / "bob.key"),
        "--out", str(links / f"build.{bob8}.link"), cwd=base.root,
    )  # fmt: skip
    assert r.code == 0, r.err
    sub = links / f"build.{bob8}"
    sub.mkdir()
    original = _read(next((base.root / "work").glob(f"build.{bob8}.link")))
    products = dict(original.products)
    if tamper:
        products["backdoor.sh"] = {"sha256": "3" * 64}
    _sign_link(base, "alice", Link("compile", ["make"], original.materials, products), sub)
    a, ref, err = base.verdicts(base.layout(), links)
    expected = 1 if tamper else 0
    assert (a, ref) == (expected, expected), err
