"""SBOM catalogers on a fixture tree; output validated by cyclonedx-python-lib (strict 1.6) and spdx-tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.sbom_fixture import write


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root)
    return root


def _catalog(root: Path) -> dict[tuple[str, str], list]:
    from assay.sbom import generate

    comps, _ = generate.catalog(str(root))
    out: dict[tuple[str, str], list] = {}
    for c in comps:
        out.setdefault((c.ecosystem, c.name), []).append(c)
    return out


def test_every_ecosystem_is_catalogued(tree: Path):
    found = _catalog(tree)
    one = {k: v[0] for k, v in found.items()}
    # python: installed (license expression, classifier, egg-info) and the lock files
    assert one[("pypi", "Requests")].purl == "pkg:pypi/requests@2.32.3"
    assert one[("pypi", "Requests")].licenses == ["Apache-2.0"]
    assert one[("pypi", "urllib3")].licenses == ["MIT License"]
    assert one[("pypi", "Requests")].depends_on == [one[("pypi", "urllib3")].ref]  # the 'socks' extra is not
    assert one[("pypi", "legacy_pkg")].version == "0.9"
    assert one[("pypi", "flask")].hashes == {"sha256": "a" * 64}
    assert one[("pypi", "jinja2")].version == "3.1.4"
    assert ("pypi", "requests") not in found or found[("pypi", "requests")][0].found_in != "app/requirements.txt"
    assert one[("pypi", "click")].depends_on == [one[("pypi", "colorama")].ref]
    assert one[("pypi", "anyio")].depends_on == [one[("pypi", "idna")].ref]
    assert {one[("pypi", "six")].version, one[("pypi", "pytest")].version} == {"1.16.0", "8.2.0"}
    # npm: lock file with nested and scoped packages (and a link skipped), installed package.json
    utils = sorted((c.version, c.found_in) for c in found[("npm", "@scope/util")])
    assert utils == [
        ("1.0.1", "web/node_modules/@scope/util/package.json"),
        ("1.0.1", "web/package-lock.json"),
        ("2.0.0", "web/package-lock.json"),
    ]
    lock_pad = next(c for c in found[("npm", "left-pad")] if c.found_in == "web/package-lock.json")
    nested = next(c for c in found[("npm", "@scope/util")] if c.version == "2.0.0")
    assert lock_pad.depends_on == [nested.ref], "node resolution picks the nested copy"
    assert nested.purl == "pkg:npm/%40scope/util@2.0.0"
    assert ("npm", "linked") not in found
    installed_pad = next(c for c in found[("npm", "left-pad")] if c.found_in.endswith("package.json"))
    assert installed_pad.depends_on == [
        next(c for c in found[("npm", "@scope/util")] if c.found_in.endswith("package.json")).ref
    ]
    # debian: status (deinstalled skipped), status.d, copyright licenses, distro qualifier
    libc = one[("deb", "libc6")]
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12"
    assert one[("apk", "musl")].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"  # os-release is not Alpine
    assert libc.licenses == ["LGPL-2.1+"]
    assert libc.depends_on == [one[("deb", "libgcc-s1")].ref]
    assert "upstream=gcc-12" in one[("deb", "libgcc-s1")].purl
    assert ("deb", "removed-pkg") not in found
    assert one[("deb", "tzdata")].found_in == "var/lib/dpkg/status.d/tzdata"
    # alpine: provides resolve so: dependencies
    assert one[("apk", "busybox")].depends_on == [one[("apk", "musl")].ref]
    assert one[("apk", "musl")].licenses == ["MIT"]
    # go: main module, replaced dependency, stdlib
    assert one[("golang", "example.com/tool")].version == "v1.2.3"
    assert one[("golang", "github.com/new/mod")].version == "v1.1.0"
    assert ("golang", "github.com/old/mod") not in found
    assert one[("golang", "stdlib")].version == "1.22.4"
    assert one[("golang", "golang.org/x/text")].purl == "pkg:golang/golang.org/x/text@v0.3.7"


def test_real_go_binary_build_info(tmp_path: Path):
    binary = shutil.which("skopeo") or shutil.which("docker-registry")
    if binary is None:
        pytest.skip("no Debian Go binary (skopeo/docker-registry) installed")
    shutil.copy(binary, tmp_path / "bin")
    found = _catalog(tmp_path)
    assert found[("golang", "stdlib")][0].version.startswith("1.")


def test_outputs_validate(tree: Path, tmp_path: Path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    r = run_assay("sbom", str(tree), "--out", str(tmp_path / "bom.cdx.json"))
    assert r.code == 0, r.err
    cdx = (tmp_path / "bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx) is None
    doc = json.loads(cdx)
    assert len(doc["components"]) >= 25
    deps = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
    requests = next(c["bom-ref"] for c in doc["components"] if c["name"] == "Requests")
    assert len(deps[requests]) == 1
    r = run_assay("sbom", str(tree), "--format", "spdx-json", "--out", str(tmp_path / "bom.spdx.json"))
    assert r.code == 0, r.err
    assert validate_full_spdx_document(parse_file(str(tmp_path / "bom.spdx.json"))) == []
    spdx = json.loads((tmp_path / "bom.spdx.json").read_text())
    assert {"DESCRIBES", "CONTAINS", "DEPENDS_ON"} <= {r["relationshipType"] for r in spdx["relationships"]}
    # a broken CycloneDX document is caught by the same validator (the check can fail)
    broken = json.loads(cdx)
    broken["components"][0]["type"] = "not-a-type"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(broken)) is not None


def test_bad_targets(tmp_path: Path):
    r = run_assay("sbom", "oci:" + str(tmp_path / "none"))
    assert r.code == 2 and "error[image-not-found]" in r.err
    r = run_assay("sbom", str(tmp_path), "--format", "xml")
    assert r.code == 2


def test_layer_names_keep_leading_dots():
    """``./.wh.NAME`` at the top of a layer is a whiteout of ``NAME``; dot-files keep their dot."""
    import io
    import tarfile

    from assay.sbom.source import MemoryTree

    def layer(entries: dict[str, bytes]) -> io.BytesIO:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        return buf

    tree = MemoryTree()
    tree.apply_layer(layer({"./gone": b"x", "./.profile": b"p", "/abs/file": b"a"}), lambda p: True)
    tree.apply_layer(layer({"./.wh.gone": b""}), lambda p: True)
    assert sorted(tree.paths()) == [".profile", "abs/file"]
