"""Signing and verifying images in a real registry (Debian docker-registry 2.8, no referrers API)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import loopback_http, run_assay
from tests.integration.conftest import dev_token, push_image


def test_sign_and_verify_with_a_key(registry, tmp_path: Path):
    digest = push_image(registry.host, "team/app", "v1", b"layer one")
    image = f"{registry.host}/team/app:v1"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    r = run_assay("sign", image, "--key", "k.key", "--insecure", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "mutable tag" in r.err and digest in r.out
    # docker-registry 2.8 has no referrers API: the tag-schema fallback index lists the bundle
    index = httpx.get(
        f"http://{registry.host}/v2/team/app/manifests/sha256-{digest.split(':')[1]}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    ).json()
    assert index["manifests"][0]["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    ok = run_assay("verify", image, "--key", "k.pub", "--insecure", "-o", "json", cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["verified"] is True
    assert (
        run_assay("verify", f"{registry.host}/team/app@{digest}", "--key", "k.pub", "--insecure", cwd=tmp_path).code
        == 0
    )
    # a second signature is added to the same index, not replacing the first
    assert run_assay("keygen", "--output-prefix", "k2", cwd=tmp_path).code == 0
    assert (
        run_assay("sign", f"{registry.host}/team/app@{digest}", "--key", "k2.key", "--insecure", cwd=tmp_path).code == 0
    )
    assert run_assay("verify", image, "--key", "k2.pub", "--insecure", cwd=tmp_path).code == 0
    assert run_assay("verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path).code == 0


def test_rejections(registry, tmp_path: Path):
    push_image(registry.host, "team/app", "v1", b"original")
    image = f"{registry.host}/team/app:v1"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("keygen", "--output-prefix", "other", cwd=tmp_path).code == 0
    assert run_assay("sign", image, "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    wrong = run_assay("verify", image, "--key", "other.pub", "--insecure", "-o", "json", cwd=tmp_path)
    assert wrong.code == 1 and json.loads(wrong.out)["reason"] == "signature-mismatch"
    # the tag moves to a new (unsigned) image: verification of the tag now fails
    push_image(registry.host, "team/app", "v1", b"replaced by an attacker")
    moved = run_assay("verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert moved.code == 1 and "error[no-signatures]" in moved.err
    missing = run_assay("verify", f"{registry.host}/team/nothing:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert missing.code == 2 and "error[image-not-found]" in missing.err
    bad = run_assay("verify", "Not/A/Valid:ref:x", "--key", "k.pub", cwd=tmp_path)
    assert bad.code == 2 and "error[bad-image-reference]" in bad.err
    remote = run_assay("verify", "registry.example.com/app:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert remote.code == 2 and "error[insecure-not-loopback]" in remote.err


def test_keyless_image_signature(registry, dev_server, tmp_path: Path):
    digest = push_image(registry.host, "ci/app", "main", b"built by CI")
    image = f"{registry.host}/ci/app@{digest}"
    token = dev_token(dev_server, "github", repository="acme/app", ref="refs/heads/main")
    r = run_assay("sign", image, "--identity-token", token, "--server", dev_server.url, "--insecure", cwd=tmp_path)
    assert r.code == 0, r.err
    wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
    base = [
        "verify",
        image,
        "--insecure",
        "--server",
        dev_server.url,
        "--certificate-identity",
        wf,
        "--certificate-oidc-issuer",
        dev_server.url + "/dev/oidc/github",
    ]
    ok = run_assay(*base, "--certificate-extension", "sourceRepositoryRef=refs/heads/main", cwd=tmp_path)
    assert ok.code == 0, ok.err
    bad = run_assay(*base, "--certificate-extension", "sourceRepositoryRef=refs/heads/evil", cwd=tmp_path)
    assert bad.code == 1 and "extension-mismatch" in bad.err


def test_attest_verify_attestation_and_tree(registry, tmp_path: Path):
    digest = push_image(registry.host, "team/svc", "1.0", b"svc layer")
    image = f"{registry.host}/team/svc:1.0"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    (tmp_path / "prov.json").write_text(
        json.dumps({"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "b"}}})
    )
    assert run_assay("sign", image, "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    r = run_assay(
        "attest",
        image,
        "--predicate",
        "prov.json",
        "--type",
        "slsaprovenance1",
        "--key",
        "k.key",
        "--insecure",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    ok = run_assay(
        "verify-attestation",
        image,
        "--type",
        "slsaprovenance1",
        "--key",
        "k.pub",
        "--insecure",
        "-o",
        "json",
        cwd=tmp_path,
    )
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["statement"]["predicateType"] == "https://slsa.dev/provenance/v1"
    none = run_assay("verify-attestation", image, "--type", "spdxjson", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert none.code == 1 and "predicate-type-mismatch" in none.err
    # the image signature and the attestation are told apart
    assert run_assay("verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path).code == 0
    t = run_assay("tree", image, "--insecure", cwd=tmp_path)
    assert t.code == 0, t.err
    doc = json.loads(t.out)
    assert doc["image"].endswith(digest)
    kinds = sorted((a["layout"], a["kind"], a.get("predicateType")) for a in doc["attached"])
    slsa = "https://slsa.dev/provenance/v1"
    assert kinds == [
        ("att", "attestation", slsa),
        ("referrer", "attestation", slsa),
        ("referrer", "signature", None),
        ("sig", "signature", None),
    ]


def _delete_fallback_index(host: str, repo: str, digest: str) -> None:
    tag = "sha256-" + digest.split(":")[1]
    r = httpx.head(
        f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.index.v1+json"}
    )
    idx_digest = r.headers["Docker-Content-Digest"]
    httpx.delete(f"http://{host}/v2/{repo}/manifests/{idx_digest}").raise_for_status()


def test_cosign_tag_layout_written_and_read(registry, server, tmp_path: Path):
    digest = push_image(registry.host, "team/lib", "2.0", b"lib layer")
    image = f"{registry.host}/team/lib:2.0"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    r = run_assay("sign", image, "--key", "k.key", "--insecure", "--server", server.url, cwd=tmp_path)
    assert r.code == 0, r.err
    sig = httpx.get(
        f"http://{registry.host}/v2/team/lib/manifests/sha256-{digest.split(':')[1]}.sig",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    layer = sig["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert {"dev.cosignproject.cosign/signature", "dev.sigstore.cosign/bundle"} <= set(layer["annotations"])
    payload = json.loads(httpx.get(f"http://{registry.host}/v2/team/lib/blobs/{layer['digest']}").content)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    # with the referrer gone, the cosign layout alone still verifies (its tlog entry too)
    _delete_fallback_index(registry.host, "team/lib", digest)
    ok = run_assay("verify", image, "--key", "k.pub", "--insecure", "--server", server.url, "-o", "json", cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["tlog"], "the cosign Rekor bundle annotation was checked"


def test_cosign_layer_for_another_image_is_ignored(registry, tmp_path: Path):
    signed = push_image(registry.host, "team/x", "a", b"signed image")
    other = push_image(registry.host, "team/x", "b", b"other image")
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("sign", f"{registry.host}/team/x:a", "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    # copy the signed image's .sig manifest onto the other image's .sig tag (a replay)
    src = httpx.get(
        f"http://{registry.host}/v2/team/x/manifests/sha256-{signed.split(':')[1]}.sig",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    httpx.put(
        f"http://{registry.host}/v2/team/x/manifests/sha256-{other.split(':')[1]}.sig",
        content=src.content,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()
    r = run_assay("verify", f"{registry.host}/team/x:b", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 1 and "error[payload-digest-mismatch]" in r.err


def test_tag_listing(registry):
    from assay.oci.registry import Registry

    for i in range(7):
        push_image(registry.host, "team/many", f"t{i}", f"layer {i}".encode())
    assert sorted(Registry(registry.host, insecure=True).list_tags("team/many", page_size=3)) == sorted(
        f"t{i}" for i in range(7)
    )


def test_tag_listing_follows_link_pagination():
    """docker-registry 2.8 ignores ?n= for tags, so a minimal loopback server plays a paginating registry."""
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlparse

    from assay.oci.registry import Registry

    all_tags = [f"v{i}" for i in range(8)]
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            q = parse_qs(urlparse(self.path).query)
            n, last = int(q.get("n", ["100"])[0]), q.get("last", [None])[0]
            start = all_tags.index(last) + 1 if last else 0
            page = all_tags[start : start + n]
            body = json.dumps({"name": "r", "tags": page}).encode()
            self.send_response(200)
            if start + n < len(all_tags):
                self.send_header("Link", f'</v2/r/tags/list?n={n}&last={page[-1]}>; rel="next"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with loopback_http(Handler) as host:
        tags = Registry(host, insecure=True).list_tags("r", page_size=3)
    assert tags == all_tags
    assert len(seen) == 3  # 3 + 3 + 2, reached through the Link headers
