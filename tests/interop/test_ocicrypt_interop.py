"""ocicrypt-encrypted images interoperate with Debian's skopeo both ways, on layouts and a registry."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_assay
from tests.integration.conftest import tar_layer

ENC = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([require_tool("openssl"), *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    _openssl("genrsa", "-out", "rsa.pem", "2048", cwd=tmp_path)
    _openssl("rsa", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub", cwd=tmp_path)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem", cwd=tmp_path)
    _openssl("pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub", cwd=tmp_path)
    _openssl("genrsa", "-out", "other.pem", "2048", cwd=tmp_path)
    return tmp_path


def _image(store: object, repo: str = "", tag: str = "v1") -> list[bytes]:
    layers = [gzip.compress(tar_layer({f"f{i}": bytes([i]) * (5000 * i)}), mtime=0) for i in (1, 2)]
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(x)).hexdigest() for x in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": store.push_blob(repo, config.encode()),  # type: ignore[attr-defined]
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": store.push_blob(repo, x),  # type: ignore[attr-defined]
                "size": len(x),
            }
            for x in layers
        ],
    }
    store.put_manifest(repo, tag, json.dumps(manifest).encode(), manifest["mediaType"])  # type: ignore[attr-defined]
    return layers


def _manifest(ref: str) -> dict:
    out = subprocess.run([require_tool("skopeo"), "inspect", "--raw", ref], capture_output=True, check=True)
    return json.loads(out.stdout)


def _layout(tmp_path: Path) -> str:
    from assay.oci.layout import Layout

    _image(Layout(tmp_path / "src", create=True))
    return f"oci:{tmp_path / 'src'}:v1"


def _plain_digests(ref: str) -> list[str]:
    return [x["digest"] for x in _manifest(ref)["layers"]]


def test_assay_encrypts_skopeo_decrypts(keys: Path) -> None:
    skopeo = require_tool("skopeo")
    src = _layout(keys)
    enc = f"oci:{keys / 'enc'}:v1"
    r = run_assay(
        "encrypt", src, enc, "--recipient", f"jwe:{keys / 'rsa.pub'}", "--recipient", f"jwe:{keys / 'ec.pub'}"
    )
    assert r.code == 0, r.err
    m = _manifest(enc)
    assert {x["mediaType"] for x in m["layers"]} == {ENC}
    assert all("org.opencontainers.image.enc.keys.jwe" in x["annotations"] for x in m["layers"])
    for key in ("rsa.pem", "ec.pem"):
        dec = f"oci:{keys / ('dec-' + key)}:v1"
        subprocess.run([skopeo, "copy", "--decryption-key", str(keys / key), enc, dec], check=True, capture_output=True)
        assert _plain_digests(dec) == _plain_digests(src)
    proc = subprocess.run([skopeo, "copy", "--decryption-key", str(keys / "other.pem"), enc, f"oci:{keys / 'x'}:v1"])
    assert proc.returncode != 0


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_skopeo_encrypts_assay_decrypts(keys: Path, key: str) -> None:
    skopeo = require_tool("skopeo")
    src = _layout(keys)
    enc = f"oci:{keys / 'enc'}:v1"
    subprocess.run([skopeo, "copy", "--encryption-key", f"jwe:{keys / (key + '.pub')}", src, enc], check=True)
    assert {x["mediaType"] for x in _manifest(enc)["layers"]} == {ENC}
    dec = f"oci:{keys / 'dec'}:v1"
    r = run_assay("decrypt", enc, dec, "--key", str(keys / f"{key}.pem"))
    assert r.code == 0, r.err
    assert _plain_digests(dec) == _plain_digests(src)
    r = run_assay("decrypt", enc, f"oci:{keys / 'dec2'}:v1", "--key", str(keys / "other.pem"))
    assert r.code == 1 and "error[no-matching-key]" in r.err


def test_rewrap_adds_and_removes_recipients_without_reencrypting(keys: Path) -> None:
    skopeo = require_tool("skopeo")
    src = _layout(keys)
    one = f"oci:{keys / 'enc'}:one"
    assert run_assay("encrypt", src, one, "-r", f"jwe:{keys / 'rsa.pub'}").code == 0
    two = f"oci:{keys / 'enc'}:two"
    r = run_assay(
        "encrypt", one, two, "-r", f"jwe:{keys / 'ec.pub'}", "-r", f"jwe:{keys / 'rsa.pub'}", "--key", str(keys / "rsa.pem"),
        "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["rewrapped"] == 2 and json.loads(r.out)["encrypted"] == 0
    assert [x["digest"] for x in _manifest(two)["layers"]] == [x["digest"] for x in _manifest(one)["layers"]]
    subprocess.run([skopeo, "copy", "--decryption-key", str(keys / "ec.pem"), two, f"oci:{keys / 'd'}:v1"], check=True)
    only_ec = f"oci:{keys / 'enc'}:ec"
    assert run_assay("encrypt", two, only_ec, "-r", f"jwe:{keys / 'ec.pub'}", "--key", str(keys / "ec.pem")).code == 0
    r = run_assay("decrypt", only_ec, f"oci:{keys / 'd2'}:v1", "--key", str(keys / "rsa.pem"))
    assert r.code == 1 and "error[no-matching-key]" in r.err
    r = run_assay("encrypt", one, f"oci:{keys / 'enc'}:x", "-r", f"jwe:{keys / 'ec.pub'}")
    assert r.code == 2 and "error[layer-already-encrypted]" in r.err


def test_corrupt_layer_refused_and_nothing_tagged(keys: Path) -> None:
    src = _layout(keys)
    enc = f"oci:{keys / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "-r", f"jwe:{keys / 'rsa.pub'}", "--layers", "-1").code == 0
    m = _manifest(enc)
    assert [x["mediaType"] for x in m["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip", ENC]
    # flip one bit of the encrypted layer but keep the layout's digest valid: rewrite blob + manifest + index
    from assay.oci.layout import Layout

    store = Layout(keys / "enc")
    layer = m["layers"][1]
    blob = bytearray(store.get_blob("", layer["digest"]))
    blob[3] ^= 1
    layer["digest"] = store.push_blob("", bytes(blob))
    store.put_manifest("", "bad", json.dumps(m).encode(), m["mediaType"])
    r = run_assay("decrypt", f"oci:{keys / 'enc'}:bad", f"oci:{keys / 'out'}:v1", "--key", str(keys / "rsa.pem"))
    assert r.code == 1 and "error[layer-hmac-mismatch]" in r.err
    index = keys / "out" / "index.json"
    assert not index.exists() or json.loads(index.read_text())["manifests"] == []
    plain_layer = _plain_digests(src)[1]
    assert not (keys / "out" / "blobs" / "sha256" / plain_layer.split(":")[1]).exists()
    r = run_assay("encrypt", src, f"oci:{keys / 'e2'}:v1", "-r", "jwe:/nonexistent.pub")
    assert r.code == 2 and "error[file-not-found]" in r.err
    r = run_assay("encrypt", src, f"oci:{keys / 'e2'}:v1", "-r", f"age1{keys}")
    assert r.code == 2 and "error[bad-recipient]" in r.err


def test_registry_round_trip_and_skopeo(registry, keys: Path) -> None:
    skopeo = require_tool("skopeo")
    from assay.oci.registry import Registry

    _image(Registry(registry.host, insecure=True), "app", "v1")
    enc = f"{registry.host}/app:enc"
    r = run_assay("encrypt", f"{registry.host}/app:v1", enc, "-r", f"jwe:{keys / 'ec.pub'}", "--insecure")
    assert r.code == 0, r.err
    dec = f"oci:{keys / 'dec'}:v1"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", "--decryption-key", str(keys / "ec.pem"), f"docker://{enc}", dec],
        check=True,
        capture_output=True,
    )
    r = run_assay("decrypt", enc, f"{registry.host}/app:plain", "--key", str(keys / "ec.pem"), "--insecure")
    assert r.code == 0, r.err
    assert run_assay("decrypt", enc, f"oci:{keys / 'dec2'}:v1", "--key", str(keys / "ec.pem"), "--insecure").code == 0
    assert _plain_digests(f"oci:{keys / 'dec2'}:v1") == _plain_digests(dec)
