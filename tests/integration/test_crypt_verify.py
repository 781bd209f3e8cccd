"""``assay verify --decrypted-digest``: a signed encrypted image is verified, then decrypted at the pinned digest
with nothing written, and its decrypted manifest must have the expected digest (the one ``assay decrypt`` and
``skopeo copy --decryption-key`` write)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Run, require_tool, run_assay
from tests.integration.conftest import ServerProcess, dev_token
from tests.integration.test_crypt_platform import _index
from tests.interop.test_ocicrypt_interop import _image, _layout, _manifest, _plain_digests

HMAC_ANNOTATION = "org.opencontainers.image.enc.pubopts"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([require_tool("openssl"), *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def w(tmp_path: Path) -> Path:
    """A working directory with JWE keys (rsa, other) and a signing key pair k.key/k.pub."""
    _openssl("genrsa", "-out", "rsa.pem", "2048", cwd=tmp_path)
    _openssl("rsa", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub", cwd=tmp_path)
    _openssl("genrsa", "-out", "other.pem", "2048", cwd=tmp_path)
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    return tmp_path


def _decrypt_digest(src: str, dst: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    r = run_assay("decrypt", src, dst, *args, "--json", cwd=cwd, env=env)
    assert r.code == 0, r.err
    return str(json.loads(r.out)["digest"])


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _verify(image: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    return run_assay("verify", image, "--key", "k.pub", *args, cwd=cwd, env=env)


def test_signed_encrypted_layout_verifies_its_decrypted_digest(w: Path) -> None:
    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "-r", f"jwe:{w / 'rsa.pub'}").code == 0
    assert run_assay("sign", enc, "--key", "k.key", cwd=w).code == 0
    decrypted = _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--key", "rsa.pem", cwd=w)
    before = _files(w)

    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", "-o", "json", cwd=w)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["verified"] is True and out["decryptedDigest"] == decrypted
    step = next(s for s in out["steps"] if s["step"] == "decrypted-digest")
    assert "2 encrypted layer(s) decrypted" in step["detail"]
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", cwd=w)
    assert r.code == 0 and "Verified OK" in r.out and "decrypted-digest" in r.err, r.err
    assert _files(w) == before  # digest only: no plaintext layer (nor anything else) was written

    wrong = "sha256:" + "ab" * 32
    r = _verify(enc, "--decrypted-digest", wrong, "--decryption-key", "rsa.pem", cwd=w)
    assert r.code == 1 and "error[decrypted-digest-mismatch]" in r.err, r.err
    assert wrong in r.err and decrypted in r.err
    r = _verify(enc, "--decrypted-digest", wrong, "--decryption-key", "rsa.pem", "-o", "json", cwd=w)
    assert r.code == 1 and json.loads(r.out)["reason"] == "decrypted-digest-mismatch"
    # the encrypted manifest's own digest is not its decrypted digest
    enc_digest = (
        "sha256:"
        + hashlib.sha256(
            subprocess.run([require_tool("skopeo"), "inspect", "--raw", enc], capture_output=True, check=True).stdout
        ).hexdigest()
    )
    r = _verify(enc, "--decrypted-digest", enc_digest, "--decryption-key", "rsa.pem", cwd=w)
    assert r.code == 1 and "error[decrypted-digest-mismatch]" in r.err

    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "other.pem", cwd=w)
    assert r.code == 1 and "error[no-matching-key]" in r.err, r.err
    r = _verify(enc, "--decrypted-digest", decrypted, cwd=w)
    assert r.code == 2 and "error[no-key]" in r.err, r.err
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "k.pub", cwd=w)
    assert r.code == 2 and "error[bad-key]" in r.err, r.err
    for bad in (decrypted[:-1], decrypted.upper(), "sha512:" + "00" * 64, decrypted.removeprefix("sha256:")):
        r = _verify(enc, "--decrypted-digest", bad, "--decryption-key", "rsa.pem", cwd=w)
        assert r.code == 2 and "error[bad-digest]" in r.err, (bad, r.err)
    r = _verify(enc, "--decryption-key", "rsa.pem", cwd=w)
    assert r.code == 2 and "error[usage]" in r.err
    assert _files(w) == before


def test_signature_is_verified_before_anything_is_decrypted(w: Path) -> None:
    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "-r", f"jwe:{w / 'rsa.pub'}").code == 0
    decrypted = _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--key", "rsa.pem", cwd=w)
    # unsigned: the signature check refuses first, even with a key that could not decrypt it
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "other.pem", cwd=w)
    assert r.code == 1 and "error[no-signatures]" in r.err, r.err
    # signed by someone else
    assert run_assay("keygen", "--output-prefix", "x", cwd=w).code == 0
    assert run_assay("sign", enc, "--key", "x.key", cwd=w).code == 0
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", cwd=w)
    assert r.code == 1 and "error[decrypted-digest" not in r.err and "error[" in r.err, r.err
    assert run_assay("sign", enc, "--key", "k.key", cwd=w).code == 0
    assert _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", cwd=w).code == 0


def _retag(layout: Path, manifest: dict, tag: str) -> str:
    from assay.oci.layout import Layout

    data = json.dumps(manifest).encode()
    Layout(layout).put_manifest("", tag, data, manifest["mediaType"])
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_layer_failing_its_hmac_is_refused_with_no_plaintext_output(w: Path) -> None:
    from assay.oci.layout import Layout

    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "-r", f"jwe:{w / 'rsa.pub'}", "--layers", "-1").code == 0
    decrypted = _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--key", "rsa.pem", cwd=w)
    m = _manifest(enc)
    store = Layout(w / "enc")
    # 1. one ciphertext bit flipped (the blob's digest is made to match, so only the HMAC can catch it)
    flipped = json.loads(json.dumps(m))
    blob = bytearray(store.get_blob("", flipped["layers"][1]["digest"]))
    blob[3] ^= 1
    flipped["layers"][1]["digest"] = store.push_blob("", bytes(blob))
    _retag(w / "enc", flipped, "flipped")
    # 2. the HMAC in the layer's public options replaced
    import base64

    forged = json.loads(json.dumps(m))
    ann = forged["layers"][1]["annotations"]
    pub = json.loads(base64.b64decode(ann[HMAC_ANNOTATION]))
    pub["hmac"] = base64.b64encode(b"\x00" * 32).decode()
    ann[HMAC_ANNOTATION] = base64.b64encode(json.dumps(pub).encode()).decode()
    _retag(w / "enc", forged, "forged")
    plain_layer = _plain_digests(src)[1].split(":")[1]
    for tag in ("flipped", "forged"):
        image = f"oci:{w / 'enc'}:{tag}"
        assert run_assay("sign", image, "--key", "k.key", cwd=w).code == 0
        before = _files(w)
        r = _verify(image, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", "-o", "json", cwd=w)
        assert r.code == 1 and "error[layer-hmac-mismatch]" in r.err, (tag, r.err)
        assert json.loads(r.out)["reason"] == "layer-hmac-mismatch"
        assert _files(w) == before  # nothing written: the plaintext never left the decryptor
        assert not (w / "enc" / "blobs" / "sha256" / plain_layer).exists()


def test_registry_image_and_an_image_with_no_encrypted_layers(registry, w: Path) -> None:
    from assay.oci.registry import Registry

    host = registry.host
    _image(Registry(host, insecure=True), "app", "v1")
    enc = f"{host}/app:enc"
    assert run_assay("encrypt", f"{host}/app:v1", enc, "-r", f"jwe:{w / 'rsa.pub'}", "--insecure").code == 0
    assert run_assay("sign", enc, "--key", "k.key", "--insecure", cwd=w).code == 0
    decrypted = _decrypt_digest(enc, f"{host}/app:plain", "--key", "rsa.pem", "--insecure", cwd=w)
    assert _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--key", "rsa.pem", "--insecure", cwd=w) == decrypted
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", "--insecure", "-o", "json", cwd=w)
    assert r.code == 0 and json.loads(r.out)["decryptedDigest"] == decrypted, r.err
    r = _verify(enc, "--decrypted-digest", "sha256:" + "0" * 64, "--decryption-key", "rsa.pem", "--insecure", cwd=w)
    assert r.code == 1 and "error[decrypted-digest-mismatch]" in r.err

    # an image with no encrypted layers "decrypts" to itself: its own digest, and no key is needed
    plain = f"{host}/app:v1"
    assert run_assay("sign", plain, "--key", "k.key", "--insecure", cwd=w).code == 0
    own = _decrypt_digest(plain, f"oci:{w / 'same'}:v1", "--key", "rsa.pem", "--insecure", cwd=w)
    r = _verify(plain, "--decrypted-digest", own, "--insecure", "-o", "json", cwd=w)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["decryptedDigest"] == own
    assert own in next(n for n in out["notes"] if n.startswith("verified ")), out  # the image's own digest
    r = _verify(plain, "--decrypted-digest", own, "--insecure", cwd=w)
    assert r.code == 0 and "no encrypted layers" in r.err and "the image itself" in r.err, r.err
    r = _verify(plain, "--decrypted-digest", decrypted, "--insecure", cwd=w)
    assert r.code == 1 and "error[decrypted-digest-mismatch]" in r.err


def test_the_decrypted_digest_is_the_one_skopeo_writes(w: Path) -> None:
    skopeo = require_tool("skopeo")
    src = _layout(w)
    assert run_assay("encrypt", src, f"oci:{w / 'enc'}:v1", "-r", f"jwe:{w / 'rsa.pub'}").code == 0
    subprocess.run([skopeo, "copy", "--encryption-key", f"jwe:{w / 'rsa.pub'}", src, f"oci:{w / 'skenc'}:v1"],
                   check=True, capture_output=True)  # fmt: skip
    for name, enc in (("assay", f"oci:{w / 'enc'}:v1"), ("skopeo", f"oci:{w / 'skenc'}:v1")):
        out = f"oci:{w / ('sk-' + name)}:v1"
        subprocess.run([skopeo, "copy", "--decryption-key", str(w / "rsa.pem"), enc, out], check=True,
                       capture_output=True)  # fmt: skip
        raw = subprocess.run([skopeo, "inspect", "--raw", out], check=True, capture_output=True).stdout
        by_skopeo = "sha256:" + hashlib.sha256(raw).hexdigest()
        assert _decrypt_digest(enc, f"oci:{w / ('dec-' + name)}:v1", "--key", "rsa.pem", cwd=w) == by_skopeo, name
        assert run_assay("sign", enc, "--key", "k.key", cwd=w).code == 0
        r = _verify(enc, "--decrypted-digest", by_skopeo, "--decryption-key", "rsa.pem", cwd=w)
        assert r.code == 0, (name, r.err)


def test_an_encrypted_index_verifies_the_decrypted_index_digest(w: Path) -> None:
    _index(w / "src")
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", f"oci:{w / 'src'}:v1", enc, "-r", f"jwe:{w / 'rsa.pub'}", "--platform",
                     "linux/arm64").code == 0  # fmt: skip
    assert run_assay("sign", enc, "--key", "k.key", cwd=w).code == 0
    decrypted = _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--key", "rsa.pem", cwd=w)
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", "-o", "json", cwd=w)
    assert r.code == 0 and json.loads(r.out)["decryptedDigest"] == decrypted, r.err
    # the untouched amd64 manifest kept its bytes (and digest) through encrypt and decrypt
    from assay.oci.layout import Layout

    def amd64(layout: str) -> str:
        index = json.loads(Layout(w / layout).get_manifest("", "v1")[0])
        return str(next(m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == "amd64"))

    assert amd64("src") == amd64("enc") == amd64("dec")
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "other.pem", cwd=w)
    assert r.code == 1 and "error[no-matching-key]" in r.err


@pytest.mark.parametrize("database", [None])  # the broker's store is not what is tested here: SQLite only
def test_through_the_broker(dev_server: ServerProcess, w: Path) -> None:
    from tests.interop.test_broker_keyprovider import AUD, WORKLOAD, _setup

    srv = dev_server
    spec, platform, _ = _setup(srv, w)
    env = {"ASSAY_TOKEN": platform}
    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "--recipient", f"broker:{spec}", env=env).code == 0
    assert run_assay("sign", enc, "--key", "k.key", cwd=w).code == 0
    ev = dev_token(srv, email=WORKLOAD, audience=AUD)
    decrypted = _decrypt_digest(enc, f"oci:{w / 'dec'}:v1", "--broker", srv.url, "--identity-token", ev, cwd=w,
                                env=env)  # fmt: skip
    args = ("--decrypted-digest", decrypted, "--broker", srv.url)
    r = _verify(enc, *args, "--identity-token", ev, "-o", "json", cwd=w, env=env)
    assert r.code == 0 and json.loads(r.out)["decryptedDigest"] == decrypted, r.err
    other = dev_token(srv, email="other@example.com", audience=AUD)
    r = _verify(enc, *args, "--identity-token", other, cwd=w, env=env)
    assert r.code == 1 and "error[policy-subject]" in r.err, r.err
    r = _verify(enc, "--decrypted-digest", decrypted, "--broker", "http://127.0.0.1:9", "--identity-token", ev,
                cwd=w, env=env)  # fmt: skip
    assert r.code == 2 and "error[broker-not-pinned]" in r.err, r.err
    r = _verify(enc, "--decrypted-digest", decrypted, "--decryption-key", "rsa.pem", cwd=w, env=env)
    assert r.code == 2 and "error[no-jwe-recipients]" in r.err, r.err
