"""The admission webhook over real HTTPS against Debian's docker-registry (signed, unsigned, wrong-identity images)."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonpatch
import pytest

from tests.admission_reviews import review, workload
from tests.conftest import ASSAY, spawn, stop_process
from tests.integration.admission_env import Webhook, World, closed_port, make_world, policy_yaml, write_cert
from tests.integration.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("admission-world"))
    try:
        yield w
    finally:
        w.registry.stop()


@pytest.fixture(scope="module")
def hook(world: World) -> Iterator[Webhook]:
    """Enforce: everything in the test registry signed by k; warn and audit policies for other repos."""
    pdir = world.root / "policies"
    pdir.mkdir(exist_ok=True)
    host = world.registry.host
    key = str(world.root / "k.pub")
    (pdir / "release.yaml").write_text(policy_yaml("release", [f"{host}/team/**"], key))
    (pdir / "warn.yaml").write_text(policy_yaml("warn-only", [f"{host}/warned/**"], key, mode="warn"))
    (pdir / "audit.yaml").write_text(policy_yaml("audit-only", [f"{host}/audited/**"], key, mode="audit"))
    (pdir / "elsewhere.yaml").write_text(policy_yaml("down", ["127.0.0.1:*/down/**"], key))
    _, _, ca = write_cert(world.root / "tls")
    wh = Webhook(world.root, pdir, ca).start()
    try:
        yield wh
    finally:
        wh.stop()


def _patched(obj: dict, resp: dict) -> dict:
    assert resp["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert all(op["op"] == "replace" for op in ops)
    return jsonpatch.apply_patch(copy.deepcopy(obj), ops)


def test_mutate_pins_the_verified_digests_and_validate_admits_them(world: World, hook: Webhook):
    (web, web_d), (api, api_d), (worker, worker_d) = (world.images[n] for n in ("signed", "signed2", "signed3"))
    dep = workload("Deployment", "shop", "prod", {"web": web, "api": api}, init={"migrate": worker})
    mutated = hook.post("mutate", review(dep))
    assert mutated["allowed"] is True, mutated
    pinned = _patched(dep, mutated)
    spec = pinned["spec"]["template"]["spec"]
    host = world.registry.host
    assert [c["image"] for c in spec["containers"]] == [f"{host}/team/web@{web_d}", f"{host}/team/api@{api_d}"]
    assert spec["initContainers"][0]["image"] == f"{host}/team/worker@{worker_d}"
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"  # nothing else touched
    # /validate accepts only digests: the tags are refused, the pinned object admitted, never with a patch
    tags = hook.post("validate", review(dep))
    assert tags["allowed"] is False and tags["status"]["reason"] == "image-not-pinned"
    assert tags["status"]["code"] == 403 and "patch" not in tags
    ok = hook.post("validate", review(pinned))
    assert ok["allowed"] is True and "patch" not in ok and "patchType" not in ok


@pytest.mark.parametrize(
    "kind", ["Pod", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"]
)
def test_every_pod_template_kind_is_checked(world: World, hook: Webhook, kind: str):
    image, digest = world.images["signed"]
    obj = workload(kind, "w", "prod", {"app": image})
    resp = hook.post("mutate", review(obj))
    assert resp["allowed"] is True
    assert digest in json.dumps(_patched(obj, resp))
    bad = hook.post("mutate", review(workload(kind, "w", "prod", {"app": world.images["unsigned"][0]})))
    assert bad["allowed"] is False and bad["status"]["reason"] == "no-signatures"


def test_denials_name_container_image_policy_rule_and_reason(world: World, hook: Webhook):
    unsigned, wrong = world.images["unsigned"][0], world.images["wrong"][0]
    dep = workload("Deployment", "d", "prod", {"ok": world.images["signed"][0], "bad": unsigned, "evil": wrong})
    resp = hook.post("mutate", review(dep))
    assert resp["allowed"] is False and "patch" not in resp
    lines = resp["status"]["message"].splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"container 'bad' (containers[1]) image {unsigned!r}: policy 'release' rule 'signed-by-release-key': no-signatures:"
    )
    assert lines[1].startswith(
        f"container 'evil' (containers[2]) image {wrong!r}: policy 'release' rule 'signed-by-release-key':"
    )
    assert ": threshold-not-met: " in lines[1] and "signature-mismatch" in lines[1]
    assert resp["status"]["reason"] == "no-signatures"


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("team/app:tag:extra", "bad-image-reference"),
        ("Registry.Example/Team/App:v1", "bad-image-reference"),
        ("docker.io/library/nginx:1.27", "no-policy-matched"),
    ],
)
def test_malformed_and_unmatched_images(hook: Webhook, image: str, reason: str):
    resp = hook.post("validate", review(workload("Pod", "p", "prod", {"c": image})))
    assert resp["allowed"] is False and resp["status"]["reason"] == reason
    assert f"container 'c' (containers[0]) image {image!r}" in resp["status"]["message"]


def test_registry_down_and_unauthorised(world: World, hook: Webhook, tmp_path: Path):
    down = f"127.0.0.1:{closed_port()}/down/app:v1"
    resp = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": down})))
    assert resp["allowed"] is False and resp["status"]["reason"] == "registry-unreachable"
    # an immediate retry is not sent to the registry: back-off answers it
    again = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": down})))
    assert again["allowed"] is False and "backing off" in again["status"]["message"]
    assert hook.metric("assay_admission_registry_operations_total", op="resolve", result="backoff") >= 1
    # a registry that answers 401
    from tests.integration.conftest import RegistryProcess

    reg = RegistryProcess(tmp_path / "auth", users={"alice": "s3cret"}).start()
    try:
        image = f"{reg.host}/down/app:v1"
        resp = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": image})))
        assert resp["allowed"] is False and resp["status"]["reason"] == "registry-auth-failed", resp
    finally:
        reg.stop()


def test_warn_and_audit_modes_allow_with_warnings_and_annotations(world: World, hook: Webhook):
    from tests.integration.conftest import push_image

    host = world.registry.host
    push_image(host, "warned/app", "v1", b"warned")
    push_image(host, "audited/app", "v1", b"audited")
    warned = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/warned/app:v1"})))
    assert warned["allowed"] is True and "patch" not in warned  # not verified: not pinned
    assert any("policy 'warn-only'" in w and "no-signatures" in w for w in warned["warnings"])
    audited = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/audited/app:v1"})))
    assert audited["allowed"] is True and "warnings" not in audited
    assert any("no-signatures" in v for v in audited["auditAnnotations"].values())


def test_update_checks_only_changed_images_and_excluded_namespaces(world: World, hook: Webhook):
    signed, unsigned = world.images["signed"][0], world.images["unsigned"][0]
    old = workload("Deployment", "d", "prod", {"legacy": unsigned, "app": signed})
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    resp = hook.post("mutate", review(new, operation="UPDATE", old=old))
    assert resp["allowed"] is True  # the unsigned image did not change
    changed = copy.deepcopy(old)
    changed["spec"]["template"]["spec"]["containers"][1]["image"] = world.images["wrong"][0]
    resp = hook.post("mutate", review(changed, operation="UPDATE", old=old))
    assert (
        resp["allowed"] is False
        and "'app'" in resp["status"]["message"]
        and "'legacy'" not in resp["status"]["message"]
    )
    system = hook.post("validate", review(workload("Pod", "p", "kube-system", {"c": unsigned})))
    assert system["allowed"] is True and system["auditAnnotations"]["excluded-namespace"] == "kube-system"


def test_ephemeral_containers_subresource(world: World, hook: Webhook):
    pod = workload("Pod", "p", "prod", {"app": f"{world.registry.host}/team/web@{world.images['signed'][1]}"})
    debug = copy.deepcopy(pod)
    debug["spec"]["ephemeralContainers"] = [
        {"name": "dbg", "image": world.images["unsigned"][0], "targetContainerName": "app"}
    ]
    resp = hook.post("validate", review(debug, operation="UPDATE", old=pod, sub_resource="ephemeralcontainers"))
    assert resp["allowed"] is False and "container 'dbg' (ephemeralContainers[0])" in resp["status"]["message"]


def test_bad_bodies_answer_400_with_reason_codes(hook: Webhook):
    pod = workload("Pod", "p", "prod", {"c": "x"})
    beta = review(pod)
    beta["apiVersion"] = "admission.k8s.io/v1beta1"
    no_uid = review(pod)
    del no_uid["request"]["uid"]
    cases = [
        (b"{not json", "json-invalid"),
        (json.dumps({"kind": "Pod", "apiVersion": "v1"}).encode(), "not-admission-review"),
        (json.dumps(beta).encode(), "admission-version-unsupported"),
        (json.dumps(no_uid).encode(), "admission-uid-missing"),
        (b"[" * 5000, "json-too-deep"),
    ]
    with hook.client() as c:
        for body, reason in cases:
            for path in ("/validate", "/mutate"):
                r = c.post(path, content=body, headers={"Content-Type": "application/json"})
                assert r.status_code == 400, r.text
                assert r.json()["reason"] == reason and r.json()["code"] == 400
        assert c.get("/validate").status_code == 405
        assert c.get("/nowhere").json()["reason"] == "not-found"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "prod"}, "data": {}}
    cm_review = review(cm)
    resp = hook.post("validate", cm_review)
    assert resp["allowed"] is True and "ConfigMap" in resp["warnings"][0]
    assert f"ConfigMap ({cm_review['request']['uid']}) is not handled" in hook.log()


def test_dry_run_is_never_cached_and_metrics(world: World, hook: Webhook, tmp_path: Path):
    from tests.integration.conftest import push_image

    host = world.registry.host
    digest = push_image(host, "team/dry", "v1", b"dry run layer")
    pod = workload("Pod", "p", "prod", {"c": f"{host}/team/dry@{digest}"})
    before = hook.metric("assay_admission_registry_operations_total", op="verify")
    for _ in range(2):
        assert hook.post("validate", review(pod, dry_run=True))["allowed"] is False
    after_dry = hook.metric("assay_admission_registry_operations_total", op="verify")
    assert after_dry - before == 2  # each dry run verified: nothing was cached
    hook.post("validate", review(pod))
    hook.post("validate", review(pod))
    assert hook.metric("assay_admission_registry_operations_total", op="verify") - after_dry == 1
    assert hook.metric("assay_admission_cache_total", kind="verdict", result="hit") >= 1
    assert hook.metric("assay_admission_decisions_total", webhook="validate", result="denied") >= 4
    assert hook.metric("assay_admission_request_seconds_count", webhook="validate") >= 4


def _ctx(ca: Path | None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_wrong_tls_clients_are_refused(world: World, tmp_path: Path):
    from assay.admission.install import generate_cert

    cert, key, ca = write_cert(tmp_path / "tls")
    for name, tls in (("client", generate_cert("apiserver", "c", client=True)),
                      ("stranger", generate_cert("stranger", "s", client=True))):  # fmt: skip
        (tmp_path / f"{name}-ca.crt").write_bytes(tls.ca_pem)
        (tmp_path / f"{name}.crt").write_bytes(tls.cert_pem)
        (tmp_path / f"{name}.key").write_bytes(tls.key_pem)
    port = free_port()
    url = f"https://localhost:{port}"
    (tmp_path / "p.yaml").write_text(policy_yaml("release", [f"{world.registry.host}/**"], str(world.root / "k.pub")))
    args = [str(ASSAY), "admission", "serve", "--policy", str(tmp_path / "p.yaml"), "--tls-cert", str(cert),
            "--tls-key", str(key), "--port", str(port), "--host", "127.0.0.1", "--insecure",
            "--client-ca", str(tmp_path / "client-ca.crt")]  # fmt: skip
    proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    good = httpx.Client(verify=_ctx(ca, tmp_path / "client.crt", tmp_path / "client.key"), timeout=5)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert good.get(f"{url}/readyz").status_code == 200
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        pod = review(workload("Pod", "p", "prod", {"c": world.images["unsigned"][0]}))
        assert good.post(f"{url}/validate", json=pod).json()["response"]["allowed"] is False
        refused = [
            _ctx(ca),  # no client certificate
            _ctx(ca, tmp_path / "stranger.crt", tmp_path / "stranger.key"),  # signed by another CA
            _ctx(None, tmp_path / "client.crt", tmp_path / "client.key"),  # does not trust the serving cert
        ]
        for ctx in refused:
            with pytest.raises(httpx.HTTPError):
                httpx.post(f"{url}/validate", json=pod, verify=ctx, timeout=5)
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port
            httpx.post(f"http://127.0.0.1:{port}/validate", json=pod, timeout=5)
        assert good.get(f"{url}/healthz").status_code == 200  # still serving after the refusals
    finally:
        good.close()
        stop_process(proc)
