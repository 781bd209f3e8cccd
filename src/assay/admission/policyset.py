"""The policies a webhook serves: loaded from files or a directory, matched by namespace and image."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import InputError
from assay.policy.evaluate import matches
from assay.policy.materials import Target
from assay.policy.model import Policy
from assay.service.policy import load_policy

POLICY_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_EXCLUDED = ("kube-system",)


def policy_files(paths: list[str]) -> list[Path]:
    """The policy files named: files as given, directories' ``*.yaml|*.yml|*.json`` (not recursive), sorted."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out += sorted(f for f in path.iterdir() if f.suffix in POLICY_SUFFIXES and f.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise InputError("file-not-found", f"{p}: no such policy file or directory")
    if not out:
        raise InputError("policy-set-empty", f"no policy files in {', '.join(paths)}")
    return out


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels AND every matchExpression) against a label map."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def namespace_applies(policy: Policy, namespace: str, labels: dict[str, str]) -> bool:
    """True when the policy covers the namespace (name globs and label selector; none given: all)."""
    if policy.namespaces and not any(fnmatch.fnmatchcase(namespace, g) for g in policy.namespaces):
        return False
    return selector_matches(policy.namespace_selector, labels)


def image_target(image: str, match_name: str, tag: str | None) -> Target:
    """A policy target for matching only (no digest, no materials)."""
    return Target("image", image, match_name, tag, "")


@dataclass
class PolicySet:
    """Loaded policies and a digest over all of them (the cache namespace)."""

    policies: list[Policy]
    files: list[Path]
    excluded: tuple[str, ...] = DEFAULT_EXCLUDED

    @property
    def digest(self) -> str:
        """sha256 over the policies' material digests: changes when any policy file or anything a policy names
        (keys, trusted roots, layouts, links) changes."""
        return hashlib.sha256("".join(p.material_digest for p in self.policies).encode()).hexdigest()

    def watched(self) -> list[str]:
        """Every file the policies name (each policy file included), for the reload watcher."""
        out: list[str] = [str(f.absolute()) for f in self.files]
        for p in self.policies:
            out += [f for f in p.named_files if f not in out]
        return out

    def for_namespace(self, namespace: str, labels: dict[str, str]) -> list[Policy]:
        """The image policies that cover a namespace with these labels."""
        return [p for p in self.policies if p.images and namespace_applies(p, namespace, labels)]

    def is_excluded(self, namespace: str) -> bool:
        """True for a namespace never checked (``--exclude-namespace`` globs)."""
        return any(fnmatch.fnmatchcase(namespace, g) for g in self.excluded)


def load(paths: list[str], excluded: tuple[str, ...] = DEFAULT_EXCLUDED) -> PolicySet:
    """Load every policy file; any bad file fails the whole set (InputError naming file and line)."""
    files = policy_files(paths)
    policies = [load_policy(str(f)) for f in files]
    names = [p.name for p in policies]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError("policy-set-invalid", f"policy names must be unique across the set: {dupes}")
    return PolicySet(policies, files, excluded)


def matching(policies: list[Policy], target: Target) -> list[Policy]:
    """The policies whose image globs (and tag filters) match the image."""
    return [p for p in policies if matches(p, target)]
