"""``assay encrypt --platform``: of a multi-platform index only the named platforms' layers are encrypted."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

from tests.conftest import require_tool, run_assay
from tests.integration.conftest import tar_layer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _index(root: Path) -> None:
    from assay.oci.layout import Layout

    store = Layout(root, create=True)
    children = []
    for arch in ("amd64", "arm64"):
        layer = gzip.compress(tar_layer({f"bin-{arch}": arch.encode() * 4000}), mtime=0)
        diff = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": store.push_blob("", config.encode()), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": store.push_blob("", layer), "size": len(layer)}],
        }).encode()  # fmt: skip
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        store.put_manifest("", digest, manifest, OCI_MANIFEST)
        children.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                         "platform": {"os": "linux", "architecture": arch}})  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    store.put_manifest("", "v1", index, OCI_INDEX)


def _layers(layout: Path, arch: str) -> list[dict]:
    from assay.oci.layout import Layout

    store = Layout(layout)
    index = json.loads(store.get_manifest("", "v1")[0])
    child = next(m for m in index["manifests"] if m["platform"]["architecture"] == arch)
    return list(json.loads(store.get_manifest("", child["digest"])[0])["layers"])


def test_only_the_named_platform_is_encrypted(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    subprocess.run([openssl, "genrsa", "-out", "k.pem", "2048"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([openssl, "rsa", "-in", "k.pem", "-pubout", "-out", "k.pub"], cwd=tmp_path, check=True,
                   capture_output=True)  # fmt: skip
    _index(tmp_path / "src")
    src, enc = f"oci:{tmp_path / 'src'}:v1", f"oci:{tmp_path / 'enc'}:v1"
    r = run_assay("encrypt", src, enc, "--recipient", f"jwe:{tmp_path / 'k.pub'}", "--platform", "linux/arm64")
    assert r.code == 0, r.err
    assert _layers(tmp_path / "enc", "amd64") == _layers(tmp_path / "src", "amd64")
    arm = _layers(tmp_path / "enc", "arm64")
    assert [x["mediaType"] for x in arm] == ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted"]
    r = run_assay("decrypt", enc, f"oci:{tmp_path / 'dec'}:v1", "--key", str(tmp_path / "k.pem"))
    assert r.code == 0, r.err
    for arch in ("amd64", "arm64"):
        assert _layers(tmp_path / "dec", arch) == _layers(tmp_path / "src", arch)
    r = run_assay("encrypt", src, f"oci:{tmp_path / 'x'}:v1", "--recipient", "broker:not-a-url")
    assert r.code == 2 and "error[bad-recipient]" in r.err
