"""Admission under load and change: shared Redis cache, coalescing, timeouts and fail-open, namespaces,
policy reload, the offline ``admission test`` and the ``install`` manifests."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.admission_reviews import review, workload
from tests.conftest import loopback_http, require_tool, run_assay, spawn, stop_process
from tests.integration.admission_env import Webhook, World, make_world, policy_yaml, write_cert
from tests.integration.conftest import free_port, push_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("admission-ops"))
    try:
        yield w
    finally:
        w.registry.stop()


def _redis_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis on 6379, or a redis-server started for these tests."""
    if _redis_up(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = require_tool("redis-server")
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    proc = spawn(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(d)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _redis_up(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


def _hook(
    world: World, tmp: Path, policies: dict[str, str], args: list[str] | None = None, ready: bool = True
) -> Webhook:
    pdir = tmp / "policies"
    pdir.mkdir(parents=True, exist_ok=True)
    for name, text in policies.items():
        (pdir / name).write_text(text)
    _, _, ca = write_cert(tmp / "tls")
    hook = Webhook(tmp, pdir, ca, args or [])
    _HOOKS.append(hook)
    return hook.start(ready=ready)


_HOOKS: list[Webhook] = []


@pytest.fixture(autouse=True)
def _stop_hooks() -> Iterator[None]:
    """Every webhook ``_hook`` started stops when its test ends, even when the test fails before its finally."""
    yield
    while _HOOKS:
        _HOOKS.pop().stop()


def test_replicas_share_the_redis_cache(world: World, tmp_path: Path, redis_url: str):
    key = str(world.root / "k.pub")
    pol = {"p.yaml": policy_yaml("release", [f"{world.registry.host}/**"], key)}
    a = _hook(world, tmp_path / "a", pol, ["--cache", redis_url])
    b = _hook(world, tmp_path / "b", pol, ["--cache", redis_url])
    try:
        digest = push_image(world.registry.host, "shared/app", "v1", f"shared {tmp_path}".encode())
        assert (
            run_assay(
                "sign", f"{world.registry.host}/shared/app:v1", "--key", "k.key", "--insecure", cwd=world.root
            ).code
            == 0
        )
        pod = workload("Pod", "p", "prod", {"c": f"{world.registry.host}/shared/app:v1"})
        first = a.post("mutate", review(pod))
        assert first["allowed"] is True and digest in base64.b64decode(first["patch"]).decode()
        assert a.metric("assay_admission_registry_operations_total", op="verify") == 1
        assert a.metric("assay_admission_registry_operations_total", op="resolve") == 1
        second = b.post("mutate", review(pod))
        assert second["allowed"] is True and second["patch"] == first["patch"]
        # B answered from what A stored: no registry call at all
        assert b.metric("assay_admission_registry_operations_total") == 0
        assert b.metric("assay_admission_cache_total", kind="verdict", result="hit") == 1
        assert b.metric("assay_admission_cache_total", kind="tag", result="hit") == 1
    finally:
        a.stop()
        b.stop()


def test_concurrent_identical_requests_verify_once(world: World, tmp_path: Path):
    key = str(world.root / "k.pub")
    hook = _hook(world, tmp_path, {"p.yaml": policy_yaml("release", [f"{world.registry.host}/**"], key)})
    try:
        image, digest = world.images["signed"]
        pod = workload("Pod", "p", "prod", {"c": image.replace(":v1", "@" + digest)})
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: hook.post("validate", review(pod)), range(32)))
        assert all(a["allowed"] for a in answers)
        assert hook.metric("assay_admission_registry_operations_total", op="verify") == 1
        hits = hook.metric("assay_admission_cache_total", kind="verdict", result="hit")
        assert hits + hook.metric("assay_admission_coalesced_total") == 31
    finally:
        hook.stop()


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(4)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_timeouts_fail_closed_unless_fail_open(world: World, tmp_path: Path):
    key = str(world.root / "k.pub")
    policies = {
        "closed.yaml": policy_yaml("closed", ["127.0.0.1:*/slow/**"], key),
        "open.yaml": policy_yaml("open", ["127.0.0.1:*/slowopen/**"], key, extra_spec="  failurePolicy: fail-open\n"),
    }
    hook = _hook(world, tmp_path, policies, ["--timeout", "1"])
    try:
        with loopback_http(_Slow) as host:
            started = time.monotonic()
            closed = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/slow/app:v1"})))
            assert time.monotonic() - started < 3
            assert closed["allowed"] is False and closed["status"]["reason"] == "verification-timeout"
            opened = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/slowopen/app:v1"})))
            assert opened["allowed"] is True and "patch" not in opened
            assert "verification-timeout" in opened["warnings"][0] and "fail-open" in opened["warnings"][0]
    finally:
        hook.stop()


def test_namespaces_by_name_and_label_and_allow_unmatched(world: World, tmp_path: Path):
    key = str(world.root / "k.pub")
    host = world.registry.host
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {env: prod}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lab\n  labels: {env: dev}\n"
    )
    policies = {
        "teams.yaml": policy_yaml("teams", [f"{host}/team/**"], key, extra_match="    namespaces: ['team-*']\n"),
        "prod.yaml": policy_yaml(
            "prod", [f"{host}/team/**"], key, extra_match="    namespaceSelector:\n      matchLabels: {env: prod}\n"
        ),
        "sandbox.yaml": policy_yaml(
            "sandbox", [f"{host}/team/**"], key, mode="allow-unmatched", extra_match="    namespaces: [sandbox]\n"
        ),
    }
    hook = _hook(
        world, tmp_path, policies, ["--namespace-labels", str(tmp_path / "ns.yaml"), "--exclude-namespace", "infra-*"]
    )
    try:
        signed, unsigned = world.images["signed"][0], world.images["unsigned"][0]
        elsewhere = "docker.io/library/busybox:1.36"
        for ns in ("team-a", "shop"):
            assert hook.post("mutate", review(workload("Pod", "p", ns, {"c": signed})))["allowed"] is True
            denied = hook.post("mutate", review(workload("Pod", "p", ns, {"c": unsigned})))
            assert denied["allowed"] is False and denied["status"]["reason"] == "no-signatures"
        for ns in ("lab", "default"):  # no policy covers these namespaces: fail closed
            resp = hook.post("mutate", review(workload("Pod", "p", ns, {"c": signed})))
            assert resp["allowed"] is False and resp["status"]["reason"] == "no-policy-matched"
        sandbox = hook.post("mutate", review(workload("Pod", "p", "sandbox", {"c": elsewhere, "d": unsigned})))
        assert sandbox["allowed"] is False and "'d'" in sandbox["status"]["message"]  # matched images still enforced
        sandbox = hook.post("mutate", review(workload("Pod", "p", "sandbox", {"c": elsewhere})))
        assert sandbox["allowed"] is True and "allow-unmatched" in sandbox["warnings"][0]
        infra = hook.post("validate", review(workload("Pod", "p", "infra-1", {"c": unsigned})))
        assert infra["allowed"] is True  # --exclude-namespace replaces the default
        system = hook.post("validate", review(workload("Pod", "p", "kube-system", {"c": unsigned})))
        assert system["allowed"] is False
    finally:
        hook.stop()


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as an editor or a ConfigMap update does: whole, by rename."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_bad_policy_keeps_server_unready_and_reload_keeps_the_last_good_set(world: World, tmp_path: Path):
    key = str(world.root / "k.pub")
    good = policy_yaml("release", [f"{world.registry.host}/**"], key)
    hook = _hook(world, tmp_path, {"p.yaml": good.replace("keys:", "kees:")}, ["--reload-interval", "0.2"], ready=False)
    try:
        with hook.client() as c:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["reason"] == "policy-unknown-key"
            pod = review(workload("Pod", "p", "prod", {"c": world.images["signed"][0]}))
            refused = c.post("/mutate", json=pod).json()["response"]
            assert refused["allowed"] is False and refused["status"]["reason"] == "policies-not-loaded"
            _replace(hook.policy / "p.yaml", good)
            _wait(lambda: c.get("/readyz").status_code == 200)
            assert c.post("/mutate", json=pod).json()["response"]["allowed"] is True
            _replace(hook.policy / "p.yaml", "not: [valid")  # whole, so the watcher never reads it half-written
            _wait(lambda: "lastReloadError" in c.get("/readyz").json())
            r = c.get("/readyz")
            assert r.status_code == 200 and r.json()["lastReloadError"]["reason"] == "policy-malformed"
            assert (
                c.post("/mutate", json=review(workload("Pod", "p", "prod", {"c": world.images["signed"][0]}))).json()[
                    "response"
                ]["allowed"]
                is True
            )  # still serving the last good set
    finally:
        hook.stop()


def _wait(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_offline_test_decides_manifests_and_pins_digests(world: World, tmp_path: Path):
    import yaml

    host = world.registry.host
    (tmp_path / "p.yaml").write_text(policy_yaml("release", [f"{host}/team/**"], str(world.root / "k.pub")))
    (web, web_d), (api, api_d) = world.images["signed"], world.images["signed2"]
    dep = workload("Deployment", "shop", "prod", {"web": web, "api": api})
    pods = {"apiVersion": "v1", "kind": "List", "items": [workload("Pod", "p", "prod", {"c": api})]}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    helm = "---\n# Source: shop/templates/deployment.yaml\n" + yaml.safe_dump(dep)
    helm += "---\n# Source: shop/templates/pods.yaml\n" + yaml.safe_dump(pods) + "---\n" + yaml.safe_dump(cm)
    # helm template … | assay admission test --policy p.yaml /dev/stdin --pin-digests out.yaml
    r = run_assay("admission", "test", "--policy", "p.yaml", "/dev/stdin", "--insecure", "--pin-digests", "out.yaml",
                  cwd=tmp_path, stdin=helm.encode())  # fmt: skip
    assert r.code == 0, r.out + r.err
    assert "ALLOW Deployment/shop (prod)" in r.out and f"-> {host}/team/web@{web_d}" in r.out
    out = list(yaml.safe_load_all((tmp_path / "out.yaml").read_text()))
    assert [d["kind"] for d in out] == ["Deployment", "List", "ConfigMap"]
    assert [c["image"] for c in out[0]["spec"]["template"]["spec"]["containers"]] == [
        f"{host}/team/web@{web_d}",
        f"{host}/team/api@{api_d}",
    ]
    assert out[1]["items"][0]["spec"]["containers"][0]["image"] == f"{host}/team/api@{api_d}"
    assert out[2] == cm
    # an unsigned image: exit 1, the same reason as the webhook, JSON output
    bad = workload("Deployment", "bad", "prod", {"web": world.images["unsigned"][0]})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = run_assay("admission", "test", "--policy", "p.yaml", "bad.yaml", "--insecure", "-o", "json", cwd=tmp_path)
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert doc["allowed"] is False and doc["workloads"][0]["containers"][0]["reasons"] == ["no-signatures"]
    r = run_assay("admission", "test", "--policy", "p.yaml", "missing.yaml", cwd=tmp_path)
    assert r.code == 2 and "error[file-not-found]" in r.err
    (tmp_path / "junk.yaml").write_text("- just\n- a list\n")
    r = run_assay("admission", "test", "--policy", "p.yaml", "junk.yaml", cwd=tmp_path)
    assert r.code == 2 and "error[manifest-invalid]" in r.err


def test_install_manifests_validate_offline(world: World, tmp_path: Path):
    import yaml
    from cryptography import x509

    beside = Path(sys.executable).parent / "kubernetes-validate"  # the venv's, when its bin is not on PATH
    tool = str(beside) if beside.exists() else require_tool("kubernetes-validate")
    (tmp_path / "p.yaml").write_text(policy_yaml("release", ["registry.example/**"], "k.pub"))
    (tmp_path / "k.pub").write_text((world.root / "k.pub").read_text())
    r = run_assay("admission", "install", "--namespace", "assay-system", "--service", "assay-admission",
                  "--generate-cert", "--policy", "p.yaml", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    (tmp_path / "install.yaml").write_text(r.out)
    v = subprocess.run([tool, "--strict", "--quiet", str(tmp_path / "install.yaml")], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(r.out)}
    assert set(docs) == {"Namespace", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
                         "Deployment", "Service", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}  # fmt: skip
    assert docs["ClusterRole"]["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]
    pod_spec = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert (
        "kubernetes"
        == pod_spec["containers"][0]["args"][pod_spec["containers"][0]["args"].index("--namespace-labels") + 1]
    )
    assert set(docs["ConfigMap"]["data"]) == {"p.yaml", "k.pub"}
    served = x509.load_pem_x509_certificate(base64.b64decode(docs["Secret"]["data"]["tls.crt"]))
    assert "assay-admission.assay-system.svc" in [
        n.value for n in served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ]
    for kind, path in (("ValidatingWebhookConfiguration", "/validate"), ("MutatingWebhookConfiguration", "/mutate")):
        (hook,) = docs[kind]["webhooks"]
        # kubernetes-validate does not check enum values: assert them
        assert hook["sideEffects"] == "None" and hook["admissionReviewVersions"] == ["v1"]
        assert hook["timeoutSeconds"] == 10 and hook["failurePolicy"] == "Fail"
        assert hook["clientConfig"]["service"] == {
            "namespace": "assay-system",
            "name": "assay-admission",
            "path": path,
            "port": 443,
        }
        ca = x509.load_pem_x509_certificate(base64.b64decode(hook["clientConfig"]["caBundle"]))
        served.verify_directly_issued_by(ca)
        (expr,) = hook["namespaceSelector"]["matchExpressions"]
        assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "NotIn"
        assert "assay-system" in expr["values"] and "kube-system" in expr["values"]
        ops = {op for rule in hook["rules"] for op in rule["operations"]}
        assert ops == {"CREATE", "UPDATE"} and all(rule["scope"] == "*" for rule in hook["rules"])
        resources = {res for rule in hook["rules"] for res in rule["resources"]}
        assert {"pods", "pods/ephemeralcontainers", "deployments", "cronjobs", "replicationcontrollers"} <= resources
    assert docs["MutatingWebhookConfiguration"]["webhooks"][0]["reinvocationPolicy"] == "IfNeeded"
    assert "reinvocationPolicy" not in docs["ValidatingWebhookConfiguration"]["webhooks"][0]
    assert docs["Secret"]["type"] == "kubernetes.io/tls"
    bad = run_assay("admission", "install", cwd=tmp_path)
    assert bad.code == 2 and "error[usage]" in bad.err
    (tmp_path / "nested.yaml").write_text(policy_yaml("nested", ["registry.example/**"], str(tmp_path / "k.pub")))
    bad = run_assay("admission", "install", "--generate-cert", "--policy", "nested.yaml", cwd=tmp_path)
    assert bad.code == 2 and "error[policy-key-path-unsupported]" in bad.err


def test_serve_refuses_missing_tls_files(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(policy_yaml("release", ["registry.example/**"], "k.pub"))
    r = run_assay(
        "admission", "serve", "--policy", "p.yaml", "--tls-cert", "nope.crt", "--tls-key", "nope.key", cwd=tmp_path
    )
    assert r.code == 2 and "error[file-not-found]" in r.err
    r = run_assay("admission", "serve", "--policy", "p.yaml", "--tls-cert", "p.yaml", "--tls-key", "p.yaml",
                  "--cache", "memcached://x", cwd=tmp_path)  # fmt: skip
    assert r.code == 2 and "error[cache-url-invalid]" in r.err


def test_keyless_identity_is_enforced(world: World, tmp_path: Path):
    """Images signed keylessly by the release workflow pass; the same CA's certificate for another
    repository's workflow is the wrong identity (identity-mismatch)."""
    from tests.integration.conftest import ServerProcess, dev_token

    srv = ServerProcess(tmp_path / "data", None, extra=["--dev"]).start()
    try:
        host = world.registry.host
        good_d = push_image(host, "ci/app", "main", f"ci app {tmp_path}".encode())
        evil_d = push_image(host, "ci/evil", "main", f"ci evil {tmp_path}".encode())
        for repo, gh_repo, digest in (("ci/app", "acme/app", good_d), ("ci/evil", "mallory/app", evil_d)):
            token = dev_token(srv, "github", repository=gh_repo, ref="refs/heads/main")
            r = run_assay("sign", f"{host}/{repo}@{digest}", "--identity-token", token, "--server", srv.url,
                          "--insecure", cwd=tmp_path)  # fmt: skip
            assert r.code == 0, r.err
        wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
        (tmp_path / "p.yaml").write_text(
            "apiVersion: assay.dev/v1\nkind: Policy\nmetadata:\n  name: ci\nspec:\n"
            f"  trust:\n    server: {srv.url}\n  match:\n    images: ['{host}/ci/**']\n"
            "  require:\n    - name: release-workflow\n      signature:\n        authorities:\n          keyless:\n"
            f"            - issuer: {srv.url}/dev/oidc/github\n              subject: {wf}\n"
        )
        _, _, ca = write_cert(tmp_path / "tls")
        hook = Webhook(tmp_path, tmp_path / "p.yaml", ca).start()
        try:
            ok = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/ci/app:main"})))
            assert ok["allowed"] is True and good_d in base64.b64decode(ok["patch"]).decode()
            evil = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/ci/evil:main"})))
            assert evil["allowed"] is False and evil["status"]["reason"] == "identity-mismatch"
            assert "rule 'release-workflow'" in evil["status"]["message"] and "mallory" in evil["status"]["message"]
        finally:
            hook.stop()
    finally:
        srv.stop()


class _Apiserver(BaseHTTPRequestHandler):
    """The one kube-apiserver read the webhook makes: GET /api/v1/namespaces/NAME with a bearer token
    (no kube-apiserver can run on these machines)."""

    def do_GET(self) -> None:
        labels = {"shop": {"env": "prod", "kubernetes.io/metadata.name": "shop"}}
        name = self.path.rsplit("/", 1)[-1]
        if self.headers.get("Authorization") != "Bearer sa-token":
            code, doc = 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
        elif self.path.startswith("/api/v1/namespaces/") and name in labels:
            code, doc = (
                200,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels[name]}},
            )
        else:
            code, doc = 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_namespace_labels_from_the_kubernetes_api(world: World, tmp_path: Path):
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    cert, key, ca = write_cert(tmp_path / "api-tls")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Apiserver)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    (tmp_path / "token").write_text("sa-token\n")
    selector = "    namespaceSelector:\n      matchLabels: {env: prod}\n"
    policies = {
        "prod.yaml": policy_yaml(
            "prod", [f"{world.registry.host}/team/**"], str(world.root / "k.pub"), extra_match=selector
        )
    }
    api = f"https://localhost:{srv.server_address[1]}"
    hook = _hook(world, tmp_path / "hook", policies,
                 ["--namespace-labels", api, "--kube-token-file", str(tmp_path / "token"), "--kube-ca", str(ca)])  # fmt: skip
    try:
        signed = world.images["signed"][0]
        assert hook.post("mutate", review(workload("Pod", "p", "shop", {"c": signed})))["allowed"] is True
        lab = hook.post("mutate", review(workload("Pod", "p", "lab", {"c": signed})))  # 404: no labels
        assert lab["allowed"] is False and lab["status"]["reason"] == "no-policy-matched"
        (tmp_path / "token").write_text("revoked\n")  # cached labels keep serving for their TTL
        assert hook.post("mutate", review(workload("Pod", "p", "shop", {"c": signed})))["allowed"] is True
    finally:
        hook.stop()
        srv.shutdown()
        srv.server_close()
    r = run_assay("admission", "serve", "--policy", str(tmp_path / "hook" / "policies"), "--tls-cert", str(cert),
                  "--tls-key", str(key), "--namespace-labels", "kubernetes", env={"KUBERNETES_SERVICE_HOST": ""})  # fmt: skip
    assert r.code == 2 and "error[not-in-cluster]" in r.err
