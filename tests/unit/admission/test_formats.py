"""AdmissionReview parsing, image discovery in every workload kind, responses and patches (pure)."""

from __future__ import annotations

import base64
import json

import jsonpatch
import pytest

from assay.admission.engine import pinned_image
from assay.admission.policyset import selector_matches
from assay.errors import InputError
from assay.formats import admission as fmt
from tests.admission_reviews import review, workload

KINDS = ["Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_workload_kind_yields_init_and_regular_containers(kind: str):
    obj = workload(kind, "app", "prod", {"web": "r.example/web:v1", "side": "r.example/side@sha256:" + "a" * 64},
                   init={"setup": "r.example/init:v2"})  # fmt: skip
    req = fmt.parse_review(review(obj))
    assert req.kind == kind and req.namespace == "prod" and req.operation == "CREATE"
    found = fmt.images(kind, obj)
    assert found is not None
    assert [(c.field, c.name, c.image) for c in found] == [
        ("initContainers", "setup", "r.example/init:v2"),
        ("containers", "web", "r.example/web:v1"),
        ("containers", "side", "r.example/side@sha256:" + "a" * 64),
    ]
    # each pointer addresses the image string: a JSONPatch test op at it succeeds
    for c in found:
        jsonpatch.apply_patch(obj, [{"op": "test", "path": c.pointer, "value": c.image}])


def test_ephemeral_containers_subresource():
    pod = workload("Pod", "p", "prod", {"app": "r.example/app:v1"})
    pod["spec"]["ephemeralContainers"] = [
        {"name": "debugger", "image": "r.example/busybox:1", "targetContainerName": "app"}
    ]
    req = fmt.parse_review(review(pod, operation="UPDATE", old=pod, sub_resource="ephemeralcontainers"))
    assert req.sub_resource == "ephemeralcontainers"
    found = fmt.images("Pod", pod)
    assert found is not None and found[-1].field == "ephemeralContainers"
    assert found[-1].pointer == "/spec/ephemeralContainers/0/image"


def test_kinds_without_pod_spec_are_not_handled():
    assert fmt.images("ConfigMap", {"kind": "ConfigMap", "data": {}}) is None


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([], "not-admission-review"),
        ({"kind": "Pod"}, "not-admission-review"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}, "admission-version-unsupported"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "admission-review-invalid"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"kind": {"kind": "Pod"}}}, "admission-uid-missing"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "", "kind": {"kind": "Pod"}}}, "admission-uid-missing"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": "Pod", "operation": "CREATE"}}, "admission-review-invalid"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "PATCH"}}, "admission-review-invalid"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": []}}, "admission-review-invalid"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": {}, "dryRun": "yes"}}, "admission-review-invalid"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "dryRun": False}}, "admission-review-invalid"),
    ],
)  # fmt: skip
def test_bad_reviews_have_reason_codes(doc: object, reason: str):
    with pytest.raises(InputError) as exc:
        fmt.parse_review(doc)
    assert exc.value.reason == reason


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"kind": "Deployment", "spec": {}}, "workload-invalid"),
        ({"kind": "Pod", "spec": {"containers": {"a": 1}}}, "workload-invalid"),
        ({"kind": "Pod", "spec": {"containers": ["x"]}}, "workload-invalid"),
        ({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}, "image-missing"),
        ({"kind": "Pod", "spec": {"containers": [{"name": "a", "image": 3}]}}, "image-missing"),
    ],
)
def test_malformed_workloads(obj: dict, reason: str):
    with pytest.raises(InputError) as exc:
        fmt.images(obj["kind"], obj)
    assert exc.value.reason == reason


def test_response_shape_and_patch_only_when_allowed():
    ops = [fmt.replace_op("/spec/containers/0/image", "r.example/a@sha256:" + "b" * 64)]
    ok = fmt.Response("uid-1", True, warnings=["w"], audit={"k": "v"}, patch=ops).to_review()
    assert ok["apiVersion"] == "admission.k8s.io/v1" and ok["kind"] == "AdmissionReview"
    r = ok["response"]
    assert r["uid"] == "uid-1" and r["allowed"] is True and r["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(r["patch"])) == ops
    assert r["warnings"] == ["w"] and r["auditAnnotations"] == {"k": "v"}
    denied = fmt.Response("uid-2", False, 403, "no-signatures", "line", patch=ops).to_review()["response"]
    assert "patch" not in denied and "patchType" not in denied
    assert denied["status"] == {"code": 403, "message": "line", "reason": "no-signatures", "status": "Failure"}


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("r.example/a:v1", "r.example/a@sha256:X"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b@sha256:X"),
        ("localhost:5000/a/b", "localhost:5000/a/b@sha256:X"),
        ("nginx", "nginx@sha256:X"),
    ],
)
def test_pinned_image_drops_the_tag(image: str, pinned: str):
    assert pinned_image(image, "sha256:X") == pinned


def test_label_selector():
    labels = {"env": "prod", "team": "a"}
    assert selector_matches(None, labels) and selector_matches({}, labels)
    assert selector_matches({"matchLabels": {"env": "prod"}}, labels)
    assert not selector_matches({"matchLabels": {"env": "dev"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "x"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels)
