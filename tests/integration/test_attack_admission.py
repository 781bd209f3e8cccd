"""The admission webhook attacked as a hostile client and a careless operator would (issue 22, item 4):
rotated keys, other spellings of a registry, one failing repository, moved tags, images hidden in every
container kind and pod template, odd review bodies. Each probe goes through ``assay admission serve`` over
HTTPS with AdmissionReview bodies shaped as the apiserver sends them, against Debian's docker-registry."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.admission_reviews import review, workload
from tests.integration.admission_env import Webhook, World, make_world, policy_yaml, write_cert

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("admission-attack"))
    try:
        yield w
    finally:
        w.registry.stop()


_HOOKS: list[Webhook] = []


@pytest.fixture(autouse=True)
def _stop_hooks() -> Iterator[None]:
    yield
    while _HOOKS:
        _HOOKS.pop().stop()


def _hook(world: World, tmp: Path, policies: dict[str, str], args: list[str] | None = None) -> Webhook:
    pdir = tmp / "policies"
    pdir.mkdir(parents=True, exist_ok=True)
    for name, text in policies.items():
        (pdir / name).write_text(text)
    _, _, ca = write_cert(tmp / "tls")
    hook = Webhook(tmp, pdir, ca, args or [])
    _HOOKS.append(hook)
    return hook.start()


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _pinned(world: World, name: str) -> str:
    image, digest = world.images[name]
    return f"{image.rsplit(':', 1)[0]}@{digest}"


def _validate(hook: Webhook, image: str, namespace: str = "prod") -> dict:
    return hook.post("validate", review(workload("Pod", "p", namespace, {"c": image})))


# ---- 1. key rotation ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["rename", "in-place"])
def test_rotated_key_file_refuses_old_key_and_admits_new_key_without_restart(world: World, tmp_path: Path, how: str):
    """The policy text never changes: only the key file it names. A pass cached under the old key (cache TTL
    300 s) must not be reused, and the new key's images are admitted, without restarting the webhook."""
    key = tmp_path / "release.pub"
    shutil.copy(world.root / "k.pub", key)
    hook = _hook(world, tmp_path, {"p.yaml": policy_yaml("release", [f"{world.registry.host}/team/**"], str(key))},
                 ["--reload-interval", "0.2", "--cache-ttl", "300"])  # fmt: skip
    old_key_image, new_key_image = _pinned(world, "signed"), _pinned(world, "wrong")  # k.key / other.key
    assert _validate(hook, old_key_image)["allowed"] is True
    assert _validate(hook, old_key_image)["allowed"] is True  # now answered from the verdict cache
    assert hook.metric("assay_admission_cache_total", kind="verdict", result="hit") >= 1
    refused = _validate(hook, new_key_image)
    assert refused["allowed"] is False and refused["status"]["reason"] == "threshold-not-met"
    if how == "rename":  # as a Secret volume or `mv` does
        tmp = tmp_path / "release.pub.new"
        shutil.copy(world.root / "other.pub", tmp)
        tmp.replace(key)
    else:  # same size, same inode, possibly the same timestamp tick
        key.write_bytes((world.root / "other.pub").read_bytes())
    _wait(lambda: _validate(hook, new_key_image)["allowed"] is True)
    stale = _validate(hook, old_key_image)
    assert stale["allowed"] is False and stale["status"]["reason"] == "threshold-not-met", stale


def test_verdict_cache_is_keyed_by_policy_and_all_its_trust_material(world: World, tmp_path: Path):
    """The same policy bytes naming a key file with other contents is another cache namespace."""
    from assay.service.policy import load_policy

    key = tmp_path / "k.pub"
    shutil.copy(world.root / "k.pub", key)
    (tmp_path / "p.yaml").write_text(policy_yaml("release", ["**"], "k.pub"))
    first = load_policy(str(tmp_path / "p.yaml"))
    shutil.copy(world.root / "other.pub", key)
    second = load_policy(str(tmp_path / "p.yaml"))
    assert first.digest == second.digest  # the policy text did not change
    assert first.material_digest != second.material_digest
    assert str(key.absolute()) in second.named_files and str((tmp_path / "p.yaml").absolute()) in second.named_files


def test_a_key_file_that_appears_later_is_loaded_without_a_policy_edit(world: World, tmp_path: Path):
    """The set fails to load (its key file is missing): the watcher retries until the key appears."""
    key = tmp_path / "late.pub"
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(policy_yaml("release", [f"{world.registry.host}/team/**"], str(key)))
    _, _, ca = write_cert(tmp_path / "tls")
    hook = Webhook(tmp_path, pdir, ca, ["--reload-interval", "0.2"])
    _HOOKS.append(hook)
    hook.start(ready=False)
    with hook.client() as c:
        assert c.get("/readyz").json()["reason"] == "policy-key-unreadable"
        shutil.copy(world.root / "k.pub", key)
        _wait(lambda: c.get("/readyz").status_code == 200)
    assert _validate(hook, _pinned(world, "signed"))["allowed"] is True


# ---- 2. other spellings of the same registry ------------------------------------------------------


@pytest.fixture(scope="module")
def spelled(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    """allow-unmatched policies written for the canonical names (one of them in a non-canonical spelling)."""
    tmp = tmp_path_factory.mktemp("spelled")
    port = world.registry.port
    key = str(world.root / "k.pub")
    policies = {
        "local.yaml": policy_yaml("local", [f"localhost:{port}/team/**"], key, mode="allow-unmatched"),
        "shouty.yaml": policy_yaml("shouty", [f"LOCALHOST:0{port}/shouty/**"], key, mode="allow-unmatched"),
        "hub.yaml": policy_yaml("hub", ["docker.io/library/nginx"], key, mode="allow-unmatched"),
    }
    pdir = tmp / "policies"
    pdir.mkdir()
    for name, text in policies.items():
        (pdir / name).write_text(text)
    _, _, ca = write_cert(tmp / "tls")
    hook = Webhook(tmp, pdir, ca, ["--timeout", "4"]).start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.mark.parametrize("spelling", ["LOCALHOST:{port}", "localhost:0{port}", "LocalHost:00{port}"])
def test_registry_spellings_do_not_escape_their_policy(world: World, spelled: Webhook, spelling: str):
    host = spelling.format(port=world.registry.port)
    unsigned = f"{host}/team/unsigned@{world.images['unsigned'][1]}"
    resp = _validate(spelled, unsigned)
    assert resp["allowed"] is False and resp["status"]["reason"] == "no-signatures", resp
    assert "policy 'local'" in resp["status"]["message"]
    signed = _validate(spelled, f"{host}/team/web@{world.images['signed'][1]}")
    assert signed["allowed"] is True and "warnings" not in signed  # verified, not "unmatched"
    # the tag as written resolves through the same canonical name and is pinned as written
    mutated = spelled.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{host}/team/web:v1"})))
    assert mutated["allowed"] is True and "patch" in mutated


def test_a_policy_written_in_another_spelling_matches_the_canonical_name(world: World, spelled: Webhook):
    from tests.integration.conftest import push_image

    digest = push_image(world.registry.host, "shouty/app", "v1", b"shouty unsigned")
    resp = _validate(spelled, f"localhost:{world.registry.port}/shouty/app@{digest}")
    assert resp["allowed"] is False and resp["status"]["reason"] == "no-signatures"
    assert "policy 'shouty'" in resp["status"]["message"]


def test_spellings_share_one_cache_entry(world: World, spelled: Webhook):
    """Tag and verdict caches are keyed by the normalised name: a second spelling is a cache hit."""
    from tests.integration.conftest import push_image

    port = world.registry.port
    push_image(world.registry.host, "team/cached", "v1", b"cache me")
    first = spelled.post("mutate", review(workload("Pod", "p", "prod", {"c": f"localhost:{port}/team/cached:v1"})))
    tag_hits = spelled.metric("assay_admission_cache_total", kind="tag", result="hit")
    verdict_hits = spelled.metric("assay_admission_cache_total", kind="verdict", result="hit")
    again = spelled.post("mutate", review(workload("Pod", "p", "prod", {"c": f"LOCALHOST:000{port}/team/cached:v1"})))
    assert first["status"]["reason"] == again["status"]["reason"] == "no-signatures"
    assert spelled.metric("assay_admission_cache_total", kind="tag", result="hit") == tag_hits + 1
    assert spelled.metric("assay_admission_cache_total", kind="verdict", result="hit") == verdict_hits + 1


@pytest.mark.parametrize(
    "image",
    ["nginx", "docker.io/nginx", "index.docker.io/nginx", "registry-1.docker.io/nginx",
     "registry.hub.docker.com/nginx", "DOCKER.IO:443/library/nginx", "docker.io/library/nginx"],
)  # fmt: skip
def test_docker_hub_spellings_are_matched_by_the_canonical_policy(spelled: Webhook, image: str):
    """A policy for docker.io/library/nginx covers every Hub spelling: each is verified (and, with no signature
    reachable from this machine, denied) instead of being admitted as unmatched."""
    resp = spelled.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{image}:1.27"})))
    assert resp["allowed"] is False, resp
    assert resp["status"]["reason"] != "no-policy-matched" and "policy 'hub'" in resp["status"]["message"]
    other = spelled.post("mutate", review(workload("Pod", "p", "prod", {"c": "docker.io/library/busybox:1"})))
    assert other["allowed"] is True and "allow-unmatched" in other["warnings"][0]  # the control: unmatched


# ---- 3. one failing repository ------------------------------------------------------------------


def _proxy_to(upstream: str, broken: str) -> type:
    """A loopback proxy in front of the real registry answering 500 for every path of one repository."""
    from http.server import BaseHTTPRequestHandler

    import httpx

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            if self.path.startswith(f"/v2/{broken}/"):
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization", "range")}
            r = httpx.request(self.command, f"http://{upstream}{self.path}", headers=headers, timeout=10)
            self.send_response(r.status_code)
            for k, v in r.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(r.content)

        do_GET = _forward
        do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    return Proxy


def test_one_failing_repository_backs_off_only_itself(world: World, tmp_path: Path):
    """A 500 from team/broken under a fail-open policy admits that image (its own failure, with a warning),
    but never-seen images from the healthy repositories on the same host are verified: the unsigned one is
    denied, the signed one admitted without a warning; a never-tried image of the broken repository itself is
    not admitted on the strength of another image's failure (registry-backoff)."""
    from tests.conftest import loopback_http
    from tests.integration.conftest import push_image

    push_image(world.registry.host, "team/broken", "v1", b"broken one")
    other = push_image(world.registry.host, "team/broken", "v2", b"broken two")
    with loopback_http(_proxy_to(world.registry.host, "team/broken")) as proxy:
        policy = policy_yaml("open", [f"{proxy}/team/**"], str(world.root / "k.pub"),
                             extra_spec="  failurePolicy: fail-open\n")  # fmt: skip
        hook = _hook(world, tmp_path, {"open.yaml": policy}, ["--timeout", "6"])
        first = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": f"{proxy}/team/broken:v1"})))
        assert first["allowed"] is True and "patch" not in first
        assert "registry-error" in first["warnings"][0] and "fail-open" in first["warnings"][0]
        # at once, inside the 1 s back-off window the failure opened
        with ThreadPoolExecutor(4) as pool:
            unsigned_f = pool.submit(_validate, hook, f"{proxy}/team/unsigned@{world.images['unsigned'][1]}")
            signed_f = pool.submit(_validate, hook, f"{proxy}/team/web@{world.images['signed'][1]}")
            untried_f = pool.submit(_validate, hook, f"{proxy}/team/broken@{other}")
            again_f = pool.submit(
                hook.post, "mutate", review(workload("Pod", "p", "prod", {"c": f"{proxy}/team/broken:v1"}))
            )
        unsigned, signed, untried, again = (f.result() for f in (unsigned_f, signed_f, untried_f, again_f))
        assert unsigned["allowed"] is False and unsigned["status"]["reason"] == "no-signatures", unsigned
        assert signed["allowed"] is True and "warnings" not in signed, signed
        assert untried["allowed"] is False and untried["status"]["reason"] == "registry-backoff", untried
        assert again["allowed"] is True and "backing off" in again["warnings"][0]  # its own failure, again
        assert hook.metric("assay_admission_registry_operations_total", op="resolve", result="backoff") >= 1


def _stall(upstream: str, slow: str, seconds: float) -> type:
    """The proxy, but one repository's requests hang ``seconds`` and then answer 404."""
    base = _proxy_to(upstream, "-none-")

    class Stall(base):  # type: ignore[misc, valid-type]
        def _forward(self) -> None:
            if self.path.startswith(f"/v2/{slow}/"):
                time.sleep(seconds)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super()._forward()

        do_GET = _forward
        do_HEAD = _forward

    return Stall


def test_a_slow_repository_holding_every_slot_does_not_fail_others_open(world: World, tmp_path: Path):
    """With one registry slot taken by a hanging repository, a never-seen unsigned image from a healthy
    repository of the same host times out waiting for the slot: fail-open must not admit it (registry-busy);
    the hanging image itself timed out in its own call, which fail-open does admit."""
    from tests.conftest import loopback_http

    with loopback_http(_stall(world.registry.host, "team/hang", 6.0)) as proxy:
        policy = policy_yaml("open", [f"{proxy}/team/**"], str(world.root / "k.pub"),
                             extra_spec="  failurePolicy: fail-open\n")  # fmt: skip
        hook = _hook(world, tmp_path, {"open.yaml": policy}, ["--timeout", "2", "--registry-concurrency", "1"])
        with ThreadPoolExecutor(2) as pool:
            slow_f = pool.submit(
                hook.post, "mutate", review(workload("Pod", "p", "prod", {"c": f"{proxy}/team/hang:v1"}))
            )
            time.sleep(0.5)  # the hanging call holds the only slot now
            healthy = _validate(hook, f"{proxy}/team/unsigned@{world.images['unsigned'][1]}")
            slow = slow_f.result()
        assert slow["allowed"] is True and "verification-timeout" in slow["warnings"][0], slow
        assert healthy["allowed"] is False and healthy["status"]["reason"] == "registry-busy", healthy
        hook.stop()  # before the proxy goes: the hanging call is abandoned, not waited for


# ---- 4. a tag that moves -------------------------------------------------------------------------


def test_allow_tags_validation_follows_a_moved_tag(world: World, tmp_path: Path):
    """--allow-tags: a signed tag is admitted; the tag is moved to an unsigned image; the very next validation
    (well inside --tag-ttl) must see the new digest and refuse it, not answer from the tag cache."""
    from tests.conftest import run_assay
    from tests.integration.conftest import push_image

    host = world.registry.host
    policy = policy_yaml("release", [f"{host}/team/**"], str(world.root / "k.pub"))
    hook = _hook(world, tmp_path, {"p.yaml": policy}, ["--allow-tags", "--tag-ttl", "300"])
    image = f"{host}/team/moving:v1"
    signed = push_image(host, "team/moving", "v1", b"signed release")
    assert run_assay("sign", image, "--key", "k.key", "--insecure", cwd=world.root).code == 0
    assert _validate(hook, image)["allowed"] is True
    mutated = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": image})))
    assert mutated["allowed"] is True  # the tag cache now holds the signed digest (for 300 s)
    moved = push_image(host, "team/moving", "v1", b"unsigned replacement")  # retag: same tag, new image
    refused = _validate(hook, image)
    assert refused["allowed"] is False and refused["status"]["reason"] == "no-signatures", refused
    # /mutate may answer from the tag cache only because it pins what it verified; the pin is the old,
    # signed digest — never the moved tag
    pinned = hook.post("mutate", review(workload("Pod", "p", "prod", {"c": image})))
    if pinned["allowed"]:
        ops = json.loads(base64.b64decode(pinned["patch"]))
        assert [op["value"] for op in ops] == [f"{host}/team/moving@{signed}"] and moved != signed


# ---- 5. a hostile client's review bodies ----------------------------------------------------------

KINDS = ["Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"]
SPEC = {
    "Pod": "/spec",
    "CronJob": "/spec/jobTemplate/spec/template/spec",
    **{k: "/spec/template/spec" for k in KINDS if k not in ("Pod", "CronJob")},
}


@pytest.fixture(scope="module")
def strict(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    tmp = tmp_path_factory.mktemp("strict")
    pdir = tmp / "policies"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(policy_yaml("release", [f"{world.registry.host}/team/**"], str(world.root / "k.pub")))
    _, _, ca = write_cert(tmp / "tls")
    hook = Webhook(tmp, pdir, ca).start()
    try:
        yield hook
    finally:
        hook.stop()


def _spec(obj: dict, kind: str) -> dict:
    node = obj
    for part in SPEC[kind].strip("/").split("/"):
        node = node[part]
    return node


def _with(kind: str, slots: dict[str, list[tuple[str, str]]]) -> dict:
    from tests.admission_reviews import container

    obj = workload(kind, "w", "prod", {"placeholder": "x"})
    spec = _spec(obj, kind)
    spec.pop("containers")
    for slot, items in slots.items():
        spec[slot] = [container(n, i) for n, i in items]
        if slot == "ephemeralContainers":
            for c in spec[slot]:
                c["targetContainerName"] = "app"
    return obj


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("slot", ["initContainers", "ephemeralContainers"])
def test_images_hidden_in_init_and_ephemeral_containers_of_every_kind_are_checked(
    world: World, strict: Webhook, kind: str, slot: str
):
    signed, unsigned = _pinned(world, "signed"), _pinned(world, "unsigned")
    obj = _with(kind, {"containers": [("app", signed)], slot: [("hidden", unsigned)]})
    for hook_name in ("validate", "mutate"):
        resp = strict.post(hook_name, review(obj))
        assert resp["allowed"] is False and resp["status"]["reason"] == "no-signatures", (hook_name, resp)
        assert f"container 'hidden' ({slot}[0])" in resp["status"]["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_patch_paths_for_every_container_kind(world: World, strict: Webhook, kind: str):
    import jsonpatch

    (web, web_d), (api, api_d), (worker, worker_d) = (world.images[n] for n in ("signed", "signed2", "signed3"))
    obj = _with(kind, {"initContainers": [("init", worker)], "containers": [("app", web), ("side", api)],
                       "ephemeralContainers": [("dbg", web)]})  # fmt: skip
    resp = strict.post("mutate", review(obj))
    assert resp["allowed"] is True, resp
    ops = json.loads(base64.b64decode(resp["patch"]))
    base, host = SPEC[kind], world.registry.host
    assert sorted((op["op"], op["path"], op["value"]) for op in ops) == sorted([
        ("replace", f"{base}/initContainers/0/image", f"{host}/team/worker@{worker_d}"),
        ("replace", f"{base}/containers/0/image", f"{host}/team/web@{web_d}"),
        ("replace", f"{base}/containers/1/image", f"{host}/team/api@{api_d}"),
        ("replace", f"{base}/ephemeralContainers/0/image", f"{host}/team/web@{web_d}"),
    ])  # fmt: skip
    patched = jsonpatch.apply_patch(obj, ops)
    spec = _spec(patched, kind)
    assert [c["image"] for c in spec["containers"]] == [f"{host}/team/web@{web_d}", f"{host}/team/api@{api_d}"]
    assert spec["initContainers"][0]["image"] == f"{host}/team/worker@{worker_d}"
    assert spec["ephemeralContainers"][0]["image"] == f"{host}/team/web@{web_d}"
    assert strict.post("validate", review(patched))["allowed"] is True  # what was pinned is admitted


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda r: r["request"].pop("object"), "admission-review-invalid"),
        (lambda r: r["request"].update(object=None), "admission-review-invalid"),
        (lambda r: r["request"].update(object=["not", "an", "object"]), "admission-review-invalid"),
        (lambda r: r["request"].update(oldObject="x"), "admission-review-invalid"),
        (lambda r: r["request"].update(operation="PATCH"), "admission-review-invalid"),
        (lambda r: r["request"].update(kind="Pod"), "admission-review-invalid"),
        (lambda r: r["request"].update(dryRun="false"), "admission-review-invalid"),
        (lambda r: r["request"].update(namespace=["prod"]), "admission-review-invalid"),
        (lambda r: r.pop("request"), "admission-review-invalid"),
    ],
)
def test_malformed_review_bodies_answer_400(world: World, strict: Webhook, mangle: Callable, reason: str):
    body = review(workload("Pod", "p", "prod", {"c": _pinned(world, "unsigned")}))
    mangle(body)
    with strict.client() as c:
        for path in ("/validate", "/mutate"):
            r = c.post(path, json=body)
            assert r.status_code == 400 and r.json()["reason"] == reason, r.text


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda s: s.update(containers=None, initContainers=[{"name": "i", "image": ""}]), "image-missing"),
        (lambda s: s["containers"][0].update(image=["a", "b"]), "image-missing"),
        (lambda s: s["containers"][0].pop("image"), "image-missing"),
        (lambda s: s["containers"].append(None), "workload-invalid"),
        (lambda s: s.update(containers={"c": {"image": "x"}}), "workload-invalid"),
        (lambda s: s.update(ephemeralContainers="x"), "workload-invalid"),
    ],
)
def test_malformed_pod_specs_are_denied(world: World, strict: Webhook, mangle: Callable, reason: str):
    obj = workload("Deployment", "d", "prod", {"c": _pinned(world, "signed")})
    mangle(obj["spec"]["template"]["spec"])
    resp = strict.post("validate", review(obj))
    assert resp["allowed"] is False and resp["status"]["reason"] == reason, resp
    no_spec = workload("Pod", "p", "prod", {"c": _pinned(world, "signed")})
    no_spec["spec"] = None
    resp = strict.post("validate", review(no_spec))
    assert resp["allowed"] is False and resp["status"]["reason"] == "workload-invalid"


def test_a_huge_number_of_containers_is_denied_quickly(world: World, strict: Webhook):
    """Thousands of distinct images would exhaust the request's deadline (and, under fail-open, be admitted as
    timeouts) and the registries' patience: past the limit the request is denied before any registry call."""
    many = {f"c{i}": f"{world.registry.host}/team/junk{i}:v1" for i in range(2000)}
    before = strict.metric("assay_admission_registry_operations_total")
    started = time.monotonic()
    resp = strict.post("mutate", review(workload("Pod", "p", "prod", many)))
    assert time.monotonic() - started < 5
    assert resp["allowed"] is False and resp["status"]["reason"] == "too-many-containers", resp
    assert strict.metric("assay_admission_registry_operations_total") == before
    # many containers of one signed image, under the limit: verified once, every one pinned
    same = {f"c{i}": world.images["signed"][0] for i in range(100)}
    ok = strict.post("mutate", review(workload("Pod", "p", "prod", same)))
    assert ok["allowed"] is True and len(json.loads(base64.b64decode(ok["patch"]))) == 100


def test_old_object_tricks_on_update(world: World, strict: Webhook):
    """UPDATE skips an image only when the same named container in the same list had it before; a stored
    unsigned image cannot be copied into a new container, another list, a duplicate name or a CREATE."""
    from tests.admission_reviews import container

    unsigned = _pinned(world, "unsigned")
    old = workload("Pod", "p", "prod", {"app": unsigned})
    unchanged = strict.post("validate", review(old, operation="UPDATE", old=old))
    assert unchanged["allowed"] is True  # grandfathered: nothing changed

    def denied(obj: dict, **kw: object) -> None:
        resp = strict.post("validate", review(obj, **kw))  # type: ignore[arg-type]
        assert resp["allowed"] is False and resp["status"]["reason"] == "no-signatures", (kw, resp)

    dup = workload("Pod", "p", "prod", {"app": unsigned})
    dup["spec"]["containers"].append(container("app", unsigned))
    denied(dup, operation="UPDATE", old=old)
    moved = workload("Pod", "p", "prod", {"main": _pinned(world, "signed")}, init={"app": unsigned})
    denied(moved, operation="UPDATE", old=old)
    renamed = workload("Pod", "p", "prod", {"other": unsigned})
    denied(renamed, operation="UPDATE", old=old)
    denied(old, operation="CREATE", old=old)  # a CREATE has no previous state, whatever oldObject says
    denied(old, operation="UPDATE", old=None)
    unnamed_old = workload("Pod", "p", "prod", {"x": unsigned})
    del unnamed_old["spec"]["containers"][0]["name"]
    spoof = workload("Pod", "p", "prod", {"containers[0]": unsigned})
    denied(spoof, operation="UPDATE", old=unnamed_old)


def test_ephemeral_containers_subresource_is_checked(world: World, strict: Webhook):
    """kubectl debug: UPDATE of pods/ephemeralcontainers (the object is the Pod). A new ephemeral container is
    verified even when another one with the same image is already running; /mutate pins it in place."""
    signed, unsigned = _pinned(world, "signed"), _pinned(world, "unsigned")
    pod = workload("Pod", "p", "prod", {"app": signed})
    first = _with("Pod", {"containers": [("app", signed)], "ephemeralContainers": [("dbg1", unsigned)]})
    second = _with("Pod", {"containers": [("app", signed)],
                           "ephemeralContainers": [("dbg1", unsigned), ("dbg2", unsigned)]})  # fmt: skip
    for old, new, who in ((pod, first, "dbg1"), (first, second, "dbg2")):
        for hook_name in ("validate", "mutate"):
            r = strict.post(hook_name, review(new, operation="UPDATE", old=old, sub_resource="ephemeralcontainers"))
            assert r["allowed"] is False and r["status"]["reason"] == "no-signatures", r
            assert f"container '{who}' (ephemeralContainers" in r["status"]["message"]
    tagged = _with(
        "Pod", {"containers": [("app", signed)], "ephemeralContainers": [("dbg", world.images["signed"][0])]}
    )
    r = strict.post("mutate", review(tagged, operation="UPDATE", old=pod, sub_resource="ephemeralcontainers"))
    ops = json.loads(base64.b64decode(r["patch"]))
    assert [op["path"] for op in ops] == ["/spec/ephemeralContainers/0/image"]


def test_legacy_ephemeral_containers_kind_is_checked(world: World, strict: Webhook):
    """Before Kubernetes 1.22 the ephemeralcontainers subresource carried kind EphemeralContainers with the list
    at the top level; it must be verified, not allowed as an unhandled kind."""
    body = review(workload("Pod", "p", "prod", {"app": _pinned(world, "signed")}), operation="UPDATE",
                  sub_resource="ephemeralcontainers")  # fmt: skip
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "EphemeralContainers"}
    body["request"]["object"] = {
        "apiVersion": "v1", "kind": "EphemeralContainers", "metadata": {"name": "p", "namespace": "prod"},
        "ephemeralContainers": [{"name": "dbg", "image": _pinned(world, "unsigned"), "targetContainerName": "app"}],
    }  # fmt: skip
    body["request"]["oldObject"] = {**body["request"]["object"], "ephemeralContainers": []}
    for hook_name in ("validate", "mutate"):
        resp = strict.post(hook_name, body)
        assert resp["allowed"] is False and resp["status"]["reason"] == "no-signatures", resp
        assert "container 'dbg' (ephemeralContainers[0])" in resp["status"]["message"]


def test_rotated_trusted_root_file_is_a_reload(world: World, tmp_path: Path):
    """A keyless policy's trustedRoot file is replaced by another CA's root: the image whose certificate
    chained to the old root (a pass already cached) is refused without a restart."""
    import httpx

    from tests.conftest import run_assay
    from tests.integration.conftest import ServerProcess, dev_token, push_image

    old_ca = ServerProcess(tmp_path / "old-ca", None, extra=["--dev"]).start()
    new_ca = ServerProcess(tmp_path / "new-ca", None, extra=["--dev"]).start()
    try:
        host = world.registry.host
        digest = push_image(host, "ci/rooted", "main", f"rooted {tmp_path}".encode())
        token = dev_token(old_ca, "github", repository="acme/app", ref="refs/heads/main")
        r = run_assay("sign", f"{host}/ci/rooted@{digest}", "--identity-token", token, "--server", old_ca.url,
                      "--insecure", cwd=tmp_path)  # fmt: skip
        assert r.code == 0, r.err
        root = tmp_path / "trust" / "root.json"  # not in the policy directory: every *.json there is a policy
        root.parent.mkdir()
        root.write_bytes(httpx.get(old_ca.url + "/api/v1/trustedRoot").content)
        wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
        policy = (
            "apiVersion: assay.dev/v1\nkind: Policy\nmetadata:\n  name: ci\nspec:\n"
            f"  trust:\n    trustedRoot: {root}\n"
            f"  match:\n    images: ['{host}/ci/**']\n"
            "  require:\n    - name: release-workflow\n      signature:\n        authorities:\n          keyless:\n"
            f"            - issuer: {old_ca.url}/dev/oidc/github\n              subject: {wf}\n"
        )
        hook = _hook(world, tmp_path, {"ci.yaml": policy}, ["--reload-interval", "0.2"])
        image = f"{host}/ci/rooted@{digest}"
        assert _validate(hook, image)["allowed"] is True
        assert _validate(hook, image)["allowed"] is True  # cached
        (root.parent / "root.new").write_bytes(httpx.get(new_ca.url + "/api/v1/trustedRoot").content)
        (root.parent / "root.new").replace(root)
        _wait(lambda: _validate(hook, image)["allowed"] is False)
        refused = _validate(hook, image)
        assert refused["status"]["reason"] not in ("", "policies-not-loaded"), refused
    finally:
        old_ca.stop()
        new_ca.stop()
