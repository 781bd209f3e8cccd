"""Debian's skopeo through ``assay broker keyprovider`` (ocicrypt's key-provider protocol, ``cmd``): images
encrypted for a broker key decrypt only where the broker's signed policy allows, both ways with assay."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ASSAY, require_tool, run_assay
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
    return subprocess.run([require_tool("skopeo"), "copy", *args], capture_output=True, text=True, env=env)


def test_skopeo_through_the_broker_both_ways_and_a_refusal(dev_server: ServerProcess, tmp_path: Path) -> None:
    srv, w = dev_server, tmp_path
    spec, platform, _ = _setup(srv, w)
    src = _layout(w)
    good = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience=AUD))
    enc = f"oci:{w / 'enc'}:v1"
    r = _skopeo(good, "--encryption-key", f"provider:assay:{spec}", src, enc)
    assert r.returncode == 0, r.stderr
    layers = _manifest(enc)["layers"]
    assert all(x["mediaType"] == ENC for x in layers)
    assert all("org.opencontainers.image.enc.keys.provider.assay" in x["annotations"] for x in layers)
    # assay decrypts skopeo's broker-wrapped layers through the broker
    ev = dev_token(srv, email=WORKLOAD, audience=AUD)
    r = run_assay("decrypt", enc, f"oci:{w / 'dec'}:v1", "--broker", srv.url, "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 0, r.err
    assert _plain_digests(f"oci:{w / 'dec'}:v1") == _plain_digests(src)
    # skopeo decrypts through the provider
    r = _skopeo(good, "--decryption-key", f"provider:assay:{srv.url}", enc, f"oci:{w / 'dec2'}:v1")
    assert r.returncode == 0, r.stderr
    assert _plain_digests(f"oci:{w / 'dec2'}:v1") == _plain_digests(src)
    # assay encrypts for the broker; skopeo decrypts it through the provider
    r = run_assay("encrypt", src, f"oci:{w / 'aenc'}:v1", "--recipient", f"broker:{spec}",
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 0, r.err
    r = _skopeo(good, "--decryption-key", f"provider:assay:{srv.url}", f"oci:{w / 'aenc'}:v1", f"oci:{w / 'dec3'}:v1")
    assert r.returncode == 0, r.stderr
    assert _plain_digests(f"oci:{w / 'dec3'}:v1") == _plain_digests(src)
    # a platform the policy does not allow: skopeo's copy fails with the broker's reason, nothing decrypted
    bad = _provider_env(srv, w, platform, dev_token(srv, email=WORKLOAD, audience="elsewhere"))
    r = _skopeo(bad, "--decryption-key", f"provider:assay:{srv.url}", enc, f"oci:{w / 'refused'}:v1")
    assert r.returncode != 0
    assert "policy-audience" in r.stderr, r.stderr
    assert not (w / "refused" / "index.json").exists() or not json.loads((w / "refused" / "index.json").read_text())[
        "manifests"
    ]
    # assay's own decrypt refuses the same way, and never shows the token to a broker it was not pointed at
    r = run_assay("decrypt", enc, f"oci:{w / 'r2'}:v1", "--broker", srv.url, "--identity-token",
                  dev_token(srv, email="other@example.com", audience=AUD), env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 1 and "error[policy-subject]" in r.err, r.err
    r = run_assay("decrypt", enc, f"oci:{w / 'r3'}:v1", "--broker", "http://127.0.0.1:9", "--identity-token", ev,
                  env={"ASSAY_TOKEN": platform})  # fmt: skip
    assert r.code == 2 and "error[broker-not-pinned]" in r.err, r.err
