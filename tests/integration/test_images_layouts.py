"""Images: cosign .sig/.att layouts (key and keyless), multi-arch, uploads, credentials, SBOM, copy, OCI layouts."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import loopback_http, require_tool, run_assay
from tests.integration.conftest import build_image, build_index, dev_token, push_image, tar_layer

ACCEPT_MANIFEST = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def _registry(host: str, **kw):
    from assay.oci.registry import Registry

    return Registry(host, insecure=True, **kw)


def _delete_tag(host: str, repo: str, tag: str, accept: str) -> None:
    r = httpx.head(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
    httpx.delete(f"http://{host}/v2/{repo}/manifests/{r.headers['Docker-Content-Digest']}").raise_for_status()


def _drop_referrers(host: str, repo: str, digest: str) -> None:
    _delete_tag(host, repo, "sha256-" + digest.split(":")[1], "application/vnd.oci.image.index.v1+json")


def test_keyless_signature_in_cosign_layout(registry, dev_server, tmp_path: Path):
    digest = push_image(registry.host, "ci/app", "main", b"built by CI")
    image = f"{registry.host}/ci/app@{digest}"
    token = dev_token(dev_server, "github", repository="acme/app", ref="refs/heads/main")
    r = run_assay("sign", image, "--identity-token", token, "--server", dev_server.url, "--insecure", cwd=tmp_path)
    assert r.code == 0, r.err
    sig = httpx.get(
        f"http://{registry.host}/v2/ci/app/manifests/sha256-{digest.split(':')[1]}.sig", headers=ACCEPT_MANIFEST
    ).json()
    ann = sig["layers"][0]["annotations"]
    assert ann["dev.sigstore.cosign/certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "SignedEntryTimestamp" in json.loads(ann["dev.sigstore.cosign/bundle"])
    _drop_referrers(registry.host, "ci/app", digest)  # only the cosign layout is left
    wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
    args = ["verify", image, "--insecure", "--server", dev_server.url, "--certificate-oidc-issuer"]
    ok = run_assay(*args, dev_server.url + "/dev/oidc/github", "--certificate-identity", wf, "-o", "json", cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert "(sig;" in ok.err or json.loads(ok.out)["verified"] is True
    other = run_assay(*args, dev_server.url + "/dev/oidc/github", "--certificate-identity", wf + "x", cwd=tmp_path)
    assert other.code == 1 and "identity-mismatch" in other.err


def test_attestation_in_cosign_att_layout(registry, tmp_path: Path):
    digest = push_image(registry.host, "team/att", "1", b"attested")
    image = f"{registry.host}/team/att:1"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    (tmp_path / "p.json").write_text(json.dumps({"buildDefinition": {}, "runDetails": {"builder": {"id": "b"}}}))
    r = run_assay(
        "attest",
        image,
        "--predicate",
        "p.json",
        "--type",
        "slsaprovenance1",
        "--key",
        "k.key",
        "--insecure",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    att = httpx.get(
        f"http://{registry.host}/v2/team/att/manifests/sha256-{digest.split(':')[1]}.att", headers=ACCEPT_MANIFEST
    ).json()
    layer = att["layers"][0]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert layer["annotations"]["predicateType"] == "https://slsa.dev/provenance/v1"
    envelope = json.loads(httpx.get(f"http://{registry.host}/v2/team/att/blobs/{layer['digest']}").content)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
    _drop_referrers(registry.host, "team/att", digest)
    ok = run_assay(
        "verify-attestation", image, "--type", "slsaprovenance1", "--key", "k.pub", "--insecure", cwd=tmp_path
    )
    assert ok.code == 0, ok.err
    assert "(att;" in ok.err


def test_multi_arch_recursive(registry, tmp_path: Path):
    reg = _registry(registry.host)
    index, children = build_index(reg, "team/multi", "v1", [("linux", "amd64"), ("linux", "arm64")])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    plain = run_assay("sign", f"{registry.host}/team/multi:v1", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert plain.code == 0 and "(1 manifest(s)" in plain.out
    child = f"{registry.host}/team/multi@{children[0]}"
    unsigned = run_assay("verify", child, "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert unsigned.code == 1 and "no-signatures" in unsigned.err
    r = run_assay("sign", f"{registry.host}/team/multi:v1", "--key", "k.key", "--recursive", "--insecure", cwd=tmp_path)
    assert r.code == 0 and "(3 manifest(s)" in r.out, r.err
    for d in [index, *children]:
        assert (
            run_assay("verify", f"{registry.host}/team/multi@{d}", "--key", "k.pub", "--insecure", cwd=tmp_path).code
            == 0
        )


def test_chunked_upload_and_cross_repository_mount(registry):
    reg = _registry(registry.host, chunk_size=4096)
    data = bytes(range(256)) * 70  # 17,920 bytes: five chunks
    digest = reg.push_blob("team/a", data)
    assert reg.get_blob("team/a", digest) == data
    assert not reg.blob_exists("team/b", digest)
    assert reg.mount_blob("team/b", digest, "team/a") is True
    assert reg.get_blob("team/b", digest) == data
    # a blob that is not in the source repository cannot be mounted: the caller uploads instead
    assert reg.mount_blob("team/c", "sha256:" + "0" * 64, "team/a") is False


def test_credentials_from_docker_config_and_bad_credentials(auth_registry, tmp_path: Path, monkeypatch):
    host = auth_registry.host
    anon = httpx.get(f"http://{host}/v2/")
    assert anon.status_code == 401
    reg = _registry(host, username="alice", password="s3cret")
    digest, _ = build_image(reg, "private/app", "v1", [tar_layer({"etc/os-release": b"ID=test\n"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"auths": {host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}})
    )
    env = {"DOCKER_CONFIG": str(config)}
    image = f"{host}/private/app:v1"
    assert run_assay("sign", image, "--key", "k.key", "--insecure", cwd=tmp_path, env=env).code == 0
    ok = run_assay("verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path, env=env)
    assert ok.code == 0, ok.err
    flags = run_assay(
        "verify", image, "--key", "k.pub", "--insecure", "--registry-username", "alice", "--registry-password", "s3cret",
        cwd=tmp_path, env={"DOCKER_CONFIG": str(tmp_path)},
    )  # fmt: skip
    assert flags.code == 0, flags.err
    bad = run_assay(
        "verify",
        image,
        "--key",
        "k.pub",
        "--insecure",
        "--registry-username",
        "alice",
        "--registry-password",
        "wrong",
        cwd=tmp_path,
    )
    assert bad.code == 3 and "error[registry-auth-failed]" in bad.err
    none = run_assay(
        "verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path, env={"DOCKER_CONFIG": str(tmp_path)}
    )
    assert none.code == 3 and "error[registry-auth-failed]" in none.err and "anonymously" in none.err
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": "!!!"}}}))
    malformed = run_assay("verify", image, "--key", "k.pub", "--insecure", cwd=tmp_path, env=env)
    assert malformed.code == 2 and "error[docker-config-malformed]" in malformed.err
    assert digest


def test_attach_sbom(registry, tmp_path: Path):
    push_image(registry.host, "team/sbom", "1", b"with an sbom")
    image = f"{registry.host}/team/sbom:1"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    (tmp_path / "bom.json").write_text(
        json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []})
    )
    r = run_assay("attach", "sbom", image, "--sbom", "bom.json", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "https://cyclonedx.org/bom" in r.out
    ok = run_assay(
        "verify-attestation", image, "--type", "https://cyclonedx.org/bom", "--key", "k.pub", "--insecure", cwd=tmp_path
    )
    assert ok.code == 0, ok.err
    (tmp_path / "not.json").write_text('{"hello": "world"}')
    bad = run_assay("attach", "sbom", image, "--sbom", "not.json", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert bad.code == 2 and "error[sbom-unrecognised]" in bad.err


def test_copy_promotes_only_verified_images(registry, auth_registry, tmp_path: Path):
    reg = _registry(registry.host)
    digest, _ = build_image(reg, "low/app", "v1", [tar_layer({"app": b"x" * 5000}), tar_layer({"lib": b"y"})])
    unsigned, _ = build_image(reg, "low/evil", "v1", [tar_layer({"app": b"evil"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("sign", f"{registry.host}/low/app:v1", "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    (tmp_path / "p.json").write_text("{}")
    assert (
        run_assay(
            "attest", f"{registry.host}/low/app:v1", "--predicate", "p.json", "--type", "https://example.com/t",
            "--key", "k.key", "--insecure", cwd=tmp_path,
        ).code
        == 0
    )  # fmt: skip
    # same registry, other repository: blobs are mounted, not uploaded
    r = run_assay(
        "copy", f"{registry.host}/low/app:v1", f"{registry.host}/high/app:v1", "--key", "k.pub", "--insecure",
        "-o", "json", cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["digest"] == digest and doc["mounted"] >= 3
    copied = f"{registry.host}/high/app:v1"
    assert run_assay("verify", copied, "--key", "k.pub", "--insecure", cwd=tmp_path).code == 0
    assert (
        run_assay(
            "verify-attestation",
            copied,
            "--type",
            "https://example.com/t",
            "--key",
            "k.pub",
            "--insecure",
            cwd=tmp_path,
        ).code
        == 0
    )
    # another registry (with credentials): blobs are uploaded
    env_cfg = tmp_path / "dc"
    env_cfg.mkdir()
    (env_cfg / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"username": "alice", "password": "s3cret"}}})
    )
    env = {"DOCKER_CONFIG": str(env_cfg)}
    other = f"{auth_registry.host}/prod/app:v1"
    r2 = run_assay("copy", copied, other, "--key", "k.pub", "--insecure", "-o", "json", cwd=tmp_path, env=env)
    assert r2.code == 0, r2.err
    assert json.loads(r2.out)["blobs"] >= 3
    assert run_assay("verify", other, "--key", "k.pub", "--insecure", cwd=tmp_path, env=env).code == 0
    # an unsigned image is refused and nothing is tagged in the destination
    bad = run_assay(
        "copy", f"{registry.host}/low/evil:v1", f"{registry.host}/high/evil:v1", "--key", "k.pub", "--insecure",
        cwd=tmp_path,
    )  # fmt: skip
    assert bad.code == 1 and "error[no-signatures]" in bad.err
    assert httpx.get(f"http://{registry.host}/v2/high/evil/tags/list").status_code == 404
    assert unsigned
    # signed with another key: refused too
    assert run_assay("keygen", "--output-prefix", "o", cwd=tmp_path).code == 0
    wrong = run_assay(
        "copy", f"{registry.host}/low/app:v1", f"{registry.host}/high/other:v1", "--key", "o.pub", "--insecure",
        cwd=tmp_path,
    )  # fmt: skip
    assert wrong.code == 1 and "signature-mismatch" in wrong.err
    assert httpx.get(f"http://{registry.host}/v2/high/other/tags/list").status_code == 404


def test_oci_layout_offline_and_skopeo_interop(registry, tmp_path: Path):
    from assay.oci.layout import Layout

    skopeo = require_tool("skopeo")
    layout = tmp_path / "layout"
    store = Layout(layout, create=True)
    digest, _ = build_image(store, "", "v1", [tar_layer({"usr/bin/tool": b"#!/bin/sh\n"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    # every command works on the layout, offline
    assert run_assay("sign", "oci:layout:v1", "--key", "k.key", cwd=tmp_path).code == 0
    (tmp_path / "bom.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}))
    assert run_assay("attach", "sbom", "oci:layout:v1", "--sbom", "bom.json", "--key", "k.key", cwd=tmp_path).code == 0
    assert run_assay("verify", "oci:layout:v1", "--key", "k.pub", cwd=tmp_path).code == 0
    assert run_assay("verify", f"oci:layout@{digest}", "--key", "k.pub", cwd=tmp_path).code == 0
    sbom_type = "https://cyclonedx.org/bom"
    assert (
        run_assay("verify-attestation", "oci:layout:v1", "--type", sbom_type, "--key", "k.pub", cwd=tmp_path).code == 0
    )
    t = json.loads(run_assay("tree", "oci:layout:v1", cwd=tmp_path).out)
    assert {a["layout"] for a in t["attached"]} == {"referrer", "sig", "att"}
    # skopeo (another client) reads the layout assay wrote and pushes the image to the registry
    subprocess.run(
        [
            skopeo,
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:v1",
            f"docker://{registry.host}/from/skopeo:v1",
        ],
        check=True,
        capture_output=True,
    )
    pushed = _registry(registry.host).resolve("from/skopeo", "v1")
    assert pushed[0] == digest, "skopeo kept the manifest byte for byte"
    # copy the signed layout into the registry with assay, then back out to a new layout
    r = run_assay(
        "copy", "oci:layout:v1", f"{registry.host}/from/assay:v1", "--key", "k.pub", "--insecure", cwd=tmp_path
    )
    assert r.code == 0, r.err
    assert run_assay("verify", f"{registry.host}/from/assay:v1", "--key", "k.pub", "--insecure", cwd=tmp_path).code == 0
    back = run_assay(
        "copy", f"{registry.host}/from/assay:v1", "oci:out:v1", "--key", "k.pub", "--insecure", cwd=tmp_path
    )
    assert back.code == 0, back.err
    assert run_assay("verify", "oci:out:v1", "--key", "k.pub", cwd=tmp_path).code == 0
    # skopeo reads what assay wrote into the new layout
    inspect = subprocess.run(
        [skopeo, "inspect", "--raw", f"oci:{tmp_path / 'out'}:v1"], capture_output=True, check=True
    )
    assert json.loads(inspect.stdout)["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    missing = run_assay("verify", "oci:nowhere:v1", "--key", "k.pub", cwd=tmp_path)
    assert missing.code == 2 and "error[image-not-found]" in missing.err


# ---- faults: a loopback proxy in front of the real registry ---------------------------------


class FaultyProxy:
    """Forwards to the registry, corrupting responses according to ``mode``."""

    def __init__(self, upstream: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.upstream = upstream
        self.mode = ""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                resp = httpx.request(self.command, f"http://{proxy.upstream}{self.path}", headers=headers, content=body)
                content = resp.content
                ctype = resp.headers.get("Content-Type", "")
                is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
                is_manifest = "/manifests/" in self.path and self.command == "GET" and resp.status_code == 200
                if proxy.mode == "manifest-tamper" and is_manifest and "/manifests/sha256:" in self.path:
                    content = content.replace(b'"schemaVersion"', b' "schemaVersion"', 1)
                if proxy.mode == "blob-tamper" and is_blob and resp.status_code == 200:
                    content = content[:-1] + bytes([content[-1] ^ 1])
                if proxy.mode == "unknown-media-type" and is_manifest:
                    ctype = "application/vnd.example.unknown+json"
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "content-type", "transfer-encoding", "connection"):
                        self.send_header(k, v.replace(proxy.upstream, self.headers["Host"]))
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if proxy.mode == "drop" and is_blob and resp.status_code == 200:
                    self.wfile.write(content[: len(content) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(registry):
    p = FaultyProxy(registry.host)
    try:
        yield p
    finally:
        p.close()


def test_registry_faults_are_rejected_with_reasons(registry, proxy, tmp_path: Path):
    reg = _registry(registry.host)
    digest, _ = build_image(reg, "team/f", "v1", [tar_layer({"f": b"fault " * 1000})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("sign", f"{registry.host}/team/f:v1", "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    via = f"{proxy.host}/team/f"
    assert run_assay("verify", f"{via}:v1", "--key", "k.pub", "--insecure", cwd=tmp_path).code == 0

    proxy.mode = "manifest-tamper"
    r = run_assay("verify", f"{via}@{digest}", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 1 and "error[manifest-digest-mismatch]" in r.err

    proxy.mode = "unknown-media-type"
    r = run_assay("verify", f"{via}:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 2 and "error[unsupported-media-type]" in r.err

    proxy.mode = "blob-tamper"
    r = run_assay("verify", f"{via}:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 1 and "error[blob-digest-mismatch]" in r.err
    c = run_assay("copy", f"{via}:v1", f"{registry.host}/dst/f:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert c.code == 1 and "blob-digest-mismatch" in c.err
    assert httpx.get(f"http://{registry.host}/v2/dst/f/tags/list").status_code == 404

    proxy.mode = "drop"
    r = run_assay("verify", f"{via}:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 3 and "error[blob-incomplete]" in r.err
    c = run_assay("copy", f"{via}:v1", f"{registry.host}/dst/g:v1", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert c.code == 3 and "error[blob-incomplete]" in c.err
    assert httpx.get(f"http://{registry.host}/v2/dst/g/tags/list").status_code == 404


def test_referrer_whose_subject_is_another_image(registry, tmp_path: Path):
    reg = _registry(registry.host)
    a, _ = build_image(reg, "team/r", "a", [tar_layer({"a": b"a"})])
    b, _ = build_image(reg, "team/r", "b", [tar_layer({"b": b"b"})])
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    assert run_assay("sign", f"{registry.host}/team/r:b", "--key", "k.key", "--insecure", cwd=tmp_path).code == 0
    # list b's referrer (and only it) under a's fallback index; drop b's cosign signature for a clean case
    index = reg.get_manifest("team/r", "sha256-" + b.split(":")[1])[0]
    reg.put_manifest("team/r", "sha256-" + a.split(":")[1], index, "application/vnd.oci.image.index.v1+json")
    r = run_assay("verify", f"{registry.host}/team/r:a", "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert r.code == 1 and "error[referrer-subject-mismatch]" in r.err


def test_bearer_token_auth_from_the_challenge(tmp_path: Path):
    """A loopback registry that demands a bearer token: the client follows WWW-Authenticate to the realm,
    authenticates there with the docker config's credentials and retries with the token."""
    import hashlib
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlparse

    from assay.oci.registry import Registry

    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 0}, "layers": []}).encode()  # fmt: skip
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/token":
                q = parse_qs(url.query)
                seen["scope"], seen["service"] = q["scope"][0], q["service"][0]
                ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"bob:pw").decode()
                body = json.dumps({"token": "tok-123"}).encode() if ok else b"{}"
                self.send_response(200 if ok else 401)
            elif self.headers.get("Authorization") == "Bearer tok-123":
                body = manifest
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            else:
                body = b""
                self.send_response(401)
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="test-registry"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with loopback_http(Handler) as host:
        (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"username": "bob", "password": "pw"}}}))
        from assay.oci.auth import docker_credentials

        creds = docker_credentials(host, tmp_path / "config.json")
        digest, media_type, _ = Registry(host, insecure=True, username=creds[0], password=creds[1]).resolve(
            "team/app", "v1"
        )
        assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest() and media_type.endswith("manifest.v1+json")
        assert seen == {"scope": "repository:team/app:pull", "service": "test-registry"}
        from assay.errors import EnvironmentFailure

        with pytest.raises(EnvironmentFailure) as info:
            Registry(host, insecure=True, username="bob", password="wrong").resolve("team/app", "v1")
        assert info.value.reason == "registry-auth-failed"
