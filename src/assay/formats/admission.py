"""Kubernetes ``admission.k8s.io/v1`` AdmissionReview and the pod specs inside workloads (no I/O).

Parses a review the way the apiserver sends it (``request.uid``, ``kind``,
``operation``, ``object``, ``oldObject``, ``dryRun``, ``subResource``), finds
every container image of a Pod or pod template (with the JSON pointer of its
``image`` field, for JSONPatch), and builds the AdmissionReview response.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InputError

API_VERSION = "admission.k8s.io/v1"
REVIEW_KIND = "AdmissionReview"

# kind -> JSON pointer of its PodSpec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    # the pods/ephemeralcontainers subresource before Kubernetes 1.22: the list at the top level
    "EphemeralContainers": (),
}
MAX_CONTAINERS = 256  # per object, all lists together: more is refused before any registry call
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


@dataclass(frozen=True)
class ContainerImage:
    """One container's image and where it sits in the object."""

    field: str  # containers | initContainers | ephemeralContainers
    index: int
    name: str
    image: str
    pointer: str  # RFC 6901 pointer of the image string, e.g. /spec/template/spec/containers/0/image
    named: bool = True  # False when the container has no name (``name`` is then a placeholder)


@dataclass
class Request:
    """The parts of an AdmissionRequest a decision needs."""

    uid: str
    kind: str
    group: str
    operation: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    dry_run: bool
    sub_resource: str = ""
    user: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError("admission-review-invalid", f"request.{key} must be a string")
    return value


def parse_review(doc: Any) -> Request:
    """Check a decoded AdmissionReview v1 and return its request; InputError with a reason code otherwise."""
    if not isinstance(doc, dict) or doc.get("kind") != REVIEW_KIND:
        raise InputError("not-admission-review", "the body is not an AdmissionReview (kind must be AdmissionReview)")
    version = doc.get("apiVersion")
    if version != API_VERSION:
        raise InputError(
            "admission-version-unsupported",
            f"apiVersion {version!r} is not supported; configure admissionReviewVersions: [v1]",
        )
    req = doc.get("request")
    if not isinstance(req, dict):
        raise InputError("admission-review-invalid", "the AdmissionReview has no request")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise InputError("admission-uid-missing", "request.uid is missing or empty")
    kind = req.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str):
        raise InputError("admission-review-invalid", "request.kind must be a GroupVersionKind object")
    operation = _str(req, "operation")
    if operation not in OPERATIONS:
        raise InputError("admission-review-invalid", f"request.operation {operation!r} is not one of {OPERATIONS}")
    obj, old = req.get("object"), req.get("oldObject")
    for label, value in (("object", obj), ("oldObject", old)):
        if value is not None and not isinstance(value, dict):
            raise InputError("admission-review-invalid", f"request.{label} must be an object or null")
    if operation in ("CREATE", "UPDATE") and obj is None:
        raise InputError("admission-review-invalid", f"request.object is required for {operation}")
    dry = req.get("dryRun", False)
    if dry is not None and not isinstance(dry, bool):
        raise InputError("admission-review-invalid", "request.dryRun must be a boolean")
    user = req.get("userInfo")
    return Request(
        uid=uid,
        kind=kind["kind"],
        group=str(kind.get("group") or ""),
        operation=operation,
        namespace=_str(req, "namespace"),
        name=_str(req, "name"),
        obj=obj,
        old=old,
        dry_run=bool(dry),
        sub_resource=_str(req, "subResource"),
        user=str(user.get("username", "")) if isinstance(user, dict) else "",
        raw=req,
    )


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def pod_spec(kind: str, obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(JSON pointer, PodSpec) of a Pod or a workload's pod template; None for kinds without one."""
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return None
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise InputError("workload-invalid", f"{kind} has no {'.'.join(path)} object")
    return "".join("/" + _escape(p) for p in path), node


def images(kind: str, obj: dict[str, Any]) -> list[ContainerImage] | None:
    """Every container image in the object (init, regular, ephemeral); None for kinds without a pod spec.
    More than ``MAX_CONTAINERS`` is ``too-many-containers``."""
    found = pod_spec(kind, obj)
    if found is None:
        return None
    base, spec = found
    out: list[ContainerImage] = []
    lists = [(fname, spec.get(fname) or []) for fname in CONTAINER_FIELDS]
    for fname, items in lists:
        if not isinstance(items, list):
            raise InputError("workload-invalid", f"{kind} {fname} must be a list")
    total = sum(len(items) for _, items in lists)
    if total > MAX_CONTAINERS:
        raise InputError("too-many-containers", f"{total} containers; at most {MAX_CONTAINERS} are checked")
    for fname, items in lists:
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                raise InputError("workload-invalid", f"{kind} {fname}[{i}] must be an object")
            image = c.get("image")
            name = c.get("name")
            if not isinstance(image, str) or not image:
                raise InputError("image-missing", f"{fname}[{i}] ({name or 'unnamed'}) has no image")
            label = name if isinstance(name, str) and name else None
            out.append(
                ContainerImage(
                    fname, i, label or f"{fname}[{i}]", image, f"{base}/{fname}/{i}/image", label is not None
                )
            )
    return out


def replace_op(pointer: str, value: str) -> dict[str, str]:
    """One RFC 6902 ``replace`` operation."""
    return {"op": "replace", "path": pointer, "value": value}


@dataclass
class Response:
    """An AdmissionResponse; ``to_review`` renders the whole AdmissionReview."""

    uid: str
    allowed: bool
    code: int = 200
    reason: str = ""
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    audit: dict[str, str] = field(default_factory=dict)
    patch: list[dict[str, Any]] = field(default_factory=list)

    def to_review(self) -> dict[str, Any]:
        """The ``admission.k8s.io/v1`` AdmissionReview carrying this response."""
        resp: dict[str, Any] = {"uid": self.uid, "allowed": self.allowed}
        if not self.allowed or self.message:
            status: dict[str, Any] = {"code": self.code, "message": self.message}
            if self.reason:
                status["reason"] = self.reason
            if not self.allowed:
                status["status"] = "Failure"
            resp["status"] = status
        if self.warnings:
            resp["warnings"] = list(self.warnings)
        if self.audit:
            resp["auditAnnotations"] = dict(self.audit)
        if self.patch and self.allowed:
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(self.patch, separators=(",", ":")).encode()).decode()
        return {"apiVersion": API_VERSION, "kind": REVIEW_KIND, "response": resp}
