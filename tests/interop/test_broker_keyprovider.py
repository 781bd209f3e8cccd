"""skopeo through ``assay broker keyprovider`` (ocicrypt's key-provider protocol, ``cmd``): images
encrypted for a broker key decrypt only where the broker's signed policy allows, both ways with assay."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ASSAY, require, run_assay
from tests.integration.accesskit import admin_api, new_project, session
from tests.integration.conftest import ServerProcess, dev_token
from tests.interop.test_ocicrypt_interop import ENC, _layout, _manifest, _plain_digests

AUD = "assay-broker"
WORKLOAD = "node@example.com"


def _setup(srv: ServerProcess, w: Path) -> tuple[str, str, dict[str, str]]:
    """A project with key ``images`` and a signed policy for the workload; (spec, platform token, env)."""
    admin = admin_api(srv)
    project = new_project(admin)
    assert run_assay("keygen", "--output-prefix", "writer", cwd=w).code == 0
    admin.ok("PUT", f"/api/v1/projects/{project}/trust", {"keys": [(w / "writer.pub").read_text()]})
    platform = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "n"})["token"]
    env = {"ASSAY_TOKEN": session(srv, "admin@example.com"), "ASSAY_IDENTITY_TOKEN": ""}
    args = ("--server", srv.url, "--project", project, "--name", "images")
    assert run_assay("broker", "key", "create", *args, env=env).code == 0
    rule = {"name": "nodes", "issuer": srv.url + "/dev/oidc", "subject": WORKLOAD, "audience": AUD}
    (w / "policy.json").write_text(json.dumps({"rules": [rule]}))
    r = run_assay("broker", "policy", "set", *args, "-f", "policy.json", "--signer", "writer.key", cwd=w, env=env)
    assert r.code == 0, r.err
    return f"{srv.url}/{project}/images", platform, env


def _provider_env(srv: ServerProcess, w: Path, platform: str, token: str) -> dict[str, str]:
    (w / "evidence.jwt").write_text(token)
    conf = {"key-providers": {"assay": {"cmd": {"path": str(ASSAY), "args": [
        "broker", "keyprovider", "--broker", srv.url, "--identity-token", f"@{w / 'evidence.jwt'}"]}}}}  # fmt: skip
    (w / "ocicrypt.conf").write_text(json.dumps(conf))
    return {**os.environ, "OCICRYPT_KEYPROVIDER_CONFIG": str(w / "ocicrypt.conf"), "ASSAY_TOKEN": platform}


def _skopeo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_skopeo_with_keyprovider(), "copy", *args], capture_output=True, text=True, env=env)


def _protocol(env: dict[str, str], request: dict[str, object]) -> subprocess.CompletedProcess[bytes]:
    conf = json.loads(Path(env["OCICRYPT_KEYPROVIDER_CONFIG"]).read_text())["key-providers"]["assay"]["cmd"]
    return subprocess.run([conf["path"], *conf["args"]], input=json.dumps(request).encode(), capture_output=True,
                          env=env)  # fmt: skip


def test_the_keyprovider_protocol_wraps_and_unwraps_as_ocicrypt_calls_it(
    dev_server: ServerProcess, tmp_path: Path
) -> None:
    """The exact JSON ocicrypt sends on stdin (Go byte slices as base64), both operations, and a refusal."""
    import base64

    srv, w = dev_server, tmp_path
    spec, platform, _ = _setup(srv, w)
    good = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience=AUD))
    opts = b'{"symkey":"AAAA","digest":"sha256:00","cipheroptions":{"nonce":"BBBB"}}'
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    wrap = {"op": "keywrap", "keywrapparams": {"ec": {"Parameters": {"assay": [b64(spec.encode())]},
            "DecryptConfig": {"Parameters": {}}}, "optsdata": b64(opts)}}  # fmt: skip
    r = _protocol(good, wrap)
    assert r.returncode == 0, r.stderr
    annotation = base64.b64decode(json.loads(r.stdout)["keywrapresults"]["annotation"])
    assert json.loads(annotation)["broker"] == spec
    unwrap = {"op": "keyunwrap", "keyunwrapparams": {"dc": {"Parameters": {"assay": [b64(b"x")]}},
              "annotation": b64(annotation)}}  # fmt: skip
    r = _protocol(good, unwrap)
    assert r.returncode == 0, r.stderr
    assert base64.b64decode(json.loads(r.stdout)["keyunwrapresults"]["optsdata"]) == opts
    bad = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience="elsewhere"))
    r = _protocol(bad, unwrap)
    assert r.returncode == 1 and b"error[policy-audience]" in r.stderr and not r.stdout
    r = _protocol(good, {"op": "keydelete"})
    assert r.returncode == 2 and b"error[bad-keyprovider-request]" in r.stderr


# Debian 12's skopeo (1.9.3, ocicrypt 1.0.3) has no key providers; `make test-install` fetches Debian 13's (1.18)
# with the libraries it links into .cache/ (scripts/fetch-skopeo-keyprovider.sh). ASSAY_SKOPEO_KEYPROVIDER overrides.
FETCHED = Path(__file__).resolve().parents[2] / ".cache" / "skopeo-keyprovider" / "skopeo"


def _skopeo_with_keyprovider() -> str:
    """A skopeo built with ocicrypt's key-provider support (skips without one; fails under CI=true)."""
    given = os.environ.get("ASSAY_SKOPEO_KEYPROVIDER")
    if given:
        return given
    if FETCHED.exists():
        return str(FETCHED)
    system = shutil.which("skopeo")
    if system is not None and b"OCICRYPT_KEYPROVIDER_CONFIG" in Path(system).read_bytes():
        return system
    require(False, "a skopeo with ocicrypt key-provider support (scripts/fetch-skopeo-keyprovider.sh)")
    raise AssertionError("unreachable")


def test_assay_encrypts_and_decrypts_images_through_the_broker(dev_server: ServerProcess, tmp_path: Path) -> None:
    srv, w = dev_server, tmp_path
    spec, platform, _ = _setup(srv, w)
    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    r = run_assay("encrypt", src, enc, "--recipient", f"broker:{spec}", env={"ASSAY_TOKEN": platform})
    assert r.code == 0, r.err
    layers = _manifest(enc)["layers"]
    assert all(x["mediaType"] == ENC for x in layers)
    assert all("org.opencontainers.image.enc.keys.provider.assay" in x["annotations"] for x in layers)
    assert not any("org.opencontainers.image.enc.keys.jwe" in x["annotations"] for x in layers)
    ev = dev_token(srv, email=WORKLOAD, audience=AUD)
    r = run_assay("decrypt", enc, f"oci:{w / 'dec'}:v1", "--broker", srv.url, "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 0, r.err
    assert _plain_digests(f"oci:{w / 'dec'}:v1") == _plain_digests(src)
    # a platform the policy does not allow is refused naming the check; nothing reaches the destination
    other = dev_token(srv, email="other@example.com", audience=AUD)
    r = run_assay("decrypt", enc, f"oci:{w / 'r2'}:v1", "--broker", srv.url, "--identity-token", other,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 1 and "error[policy-subject]" in r.err, r.err
    index = w / "r2" / "index.json"
    assert not index.exists() or not json.loads(index.read_text()).get("manifests")
    # the token is never shown to a broker the platform was not pointed at
    r = run_assay("decrypt", enc, f"oci:{w / 'r3'}:v1", "--broker", "http://127.0.0.1:9", "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 2 and "error[broker-not-pinned]" in r.err, r.err


def test_skopeo_decrypts_through_the_broker_and_is_refused_by_its_policy(
    dev_server: ServerProcess, tmp_path: Path
) -> None:
    srv, w = dev_server, tmp_path
    spec, platform, _ = _setup(srv, w)
    src = _layout(w)
    good = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience=AUD))
    enc = f"oci:{w / 'enc'}:v1"
    r = run_assay("encrypt", src, enc, "--recipient", f"broker:{spec}", env={"ASSAY_TOKEN": platform})
    assert r.code == 0, r.err
    r = _skopeo(good, "--decryption-key", f"provider:assay:{srv.url}", enc, f"oci:{w / 'dec'}:v1")
    assert r.returncode == 0, r.stderr
    assert _plain_digests(f"oci:{w / 'dec'}:v1") == _plain_digests(src)
    bad = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience="elsewhere"))
    r = _skopeo(bad, "--decryption-key", f"provider:assay:{srv.url}", enc, f"oci:{w / 'refused'}:v1")
    assert r.returncode != 0
    assert "policy-audience" in r.stderr, r.stderr
    index = w / "refused" / "index.json"  # no image was written where the unwrap was refused
    assert not index.exists() or not json.loads(index.read_text()).get("manifests"), index.read_text()


def test_skopeo_encrypts_for_the_broker(dev_server: ServerProcess, tmp_path: Path) -> None:
    srv, w = dev_server, tmp_path
    spec, platform, _ = _setup(srv, w)
    src = _layout(w)
    good = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience=AUD))
    enc = f"oci:{w / 'enc'}:v1"
    r = _skopeo(good, "--encryption-key", f"provider:assay:{spec}", src, enc)
    assert r.returncode == 0, r.stderr
    assert all("org.opencontainers.image.enc.keys.provider.assay" in x["annotations"] for x in _manifest(enc)["layers"])
    ev = dev_token(srv, email=WORKLOAD, audience=AUD)
    r = run_assay("decrypt", enc, f"oci:{w / 'dec'}:v1", "--broker", srv.url, "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 0, r.err
    assert _plain_digests(f"oci:{w / 'dec'}:v1") == _plain_digests(src)


def test_broker_rewrap_moves_an_image_to_the_new_key_version(dev_server: ServerProcess, tmp_path: Path) -> None:
    srv, w = dev_server, tmp_path
    spec, platform, admin_env = _setup(srv, w)
    src = _layout(w)
    enc = f"oci:{w / 'enc'}:v1"
    assert run_assay("encrypt", src, enc, "--recipient", f"broker:{spec}", env={"ASSAY_TOKEN": platform}).code == 0
    project = spec.split("/")[-2]
    args = ("--server", srv.url, "--project", project, "--name", "images")
    assert run_assay("broker", "key", "create", *args, env=admin_env).code == 0  # version 2
    moved = f"oci:{w / 'moved'}:v1"
    r = run_assay("broker", "rewrap", *args, enc, "--out", moved, env=admin_env)
    assert r.code == 0 and "2 layers re-wrapped" in r.out, r.err
    before, after = _manifest(enc)["layers"], _manifest(moved)["layers"]
    assert [x["digest"] for x in before] == [x["digest"] for x in after]  # the encrypted blobs are reused
    key = "org.opencontainers.image.enc.keys.provider.assay"
    assert all(a["annotations"][key] != b["annotations"][key] for a, b in zip(after, before, strict=True))
    ev = dev_token(srv, email=WORKLOAD, audience=AUD)
    r = run_assay("decrypt", moved, f"oci:{w / 'dec'}:v1", "--broker", srv.url, "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 0, r.err
    assert _plain_digests(f"oci:{w / 'dec'}:v1") == _plain_digests(src)
    import httpx

    rels = httpx.get(f"{srv.url}/api/v1/projects/{project}/keys/images/releases",
                     headers={"Authorization": f"Bearer {platform}"}, timeout=10).json()["releases"]  # fmt: skip
    assert {x["statement"]["keyVersion"] for x in rels if x["decision"] == "granted"} == {2}
    r = run_assay("broker", "rewrap", *args, src, "--out", f"oci:{w / 'plain2'}:v1", env=admin_env)
    assert r.code == 0 and "0 layers re-wrapped" in r.out, r.err
