"""SBOMs of images: layers applied in order with whiteouts, from an OCI layout (offline) and a registry."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.conftest import run_assay
from tests.integration.conftest import build_image, tar_layer

SITE = "usr/lib/python3.11/site-packages"


def _meta(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def _layers() -> list[bytes]:
    base = tar_layer(
        {
            "etc/os-release": b"ID=debian\nVERSION_ID=12\n",
            "var/lib/dpkg/status": b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n",
            f"{SITE}/gone-1.0.dist-info/METADATA": _meta("gone", "1.0"),
            f"{SITE}/kept-2.0.dist-info/METADATA": _meta("kept", "2.0"),
            "opt/app/node_modules/hidden/package.json": json.dumps({"name": "hidden", "version": "1.0.0"}).encode(),
        }
    )
    upper = tar_layer(
        {
            f"{SITE}/gone-1.0.dist-info": None,  # whiteout of the directory
            "opt/app/.wh..wh..opq": b"",  # opaque: hides everything below opt/app from lower layers
            "opt/app/node_modules/visible/package.json": json.dumps({"name": "visible", "version": "3.1.0"}).encode(),
            f"{SITE}/added-0.1.dist-info/METADATA": _meta("added", "0.1"),
        }
    )
    return [base, gzip.compress(upper)]


def _names(doc: dict) -> set[tuple[str, str]]:
    return {(c["name"], c["version"]) for c in doc["components"]}


EXPECTED = {("bash", "5.2.15-2+b2"), ("kept", "2.0"), ("added", "0.1"), ("visible", "3.1.0")}


def test_sbom_of_an_oci_layout_honours_whiteouts(tmp_path: Path):
    from assay.oci.layout import Layout

    digest, _ = build_image(Layout(tmp_path / "img", create=True), "", "v1", _layers())
    r = run_assay("sbom", "oci:img:v1", cwd=tmp_path)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert _names(doc) == EXPECTED
    assert doc["metadata"]["component"]["type"] == "container"
    assert doc["metadata"]["component"]["version"] == digest


def test_sbom_of_a_registry_image_attached_and_verified(registry, tmp_path: Path):
    from assay.oci.registry import Registry

    build_image(Registry(registry.host, insecure=True), "team/app", "v1", _layers())
    image = f"{registry.host}/team/app:v1"
    r = run_assay("sbom", image, "--insecure", "--format", "spdx-json", "--out", "bom.spdx.json", cwd=tmp_path)
    assert r.code == 0, r.err
    spdx = json.loads((tmp_path / "bom.spdx.json").read_text())
    assert {(p["name"], p.get("versionInfo")) for p in spdx["packages"][1:]} == EXPECTED
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    attach = run_assay("attach", "sbom", image, "--sbom", "bom.spdx.json", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert attach.code == 0, attach.err
    ok = run_assay(
        "verify-attestation", image, "--type", "https://spdx.dev/Document", "--key", "k.pub", "--insecure", cwd=tmp_path
    )
    assert ok.code == 0, ok.err
