"""The policy use cases: read a policy and what it names, gather each target's materials, evaluate, sign summaries.

All of the policy engine's I/O happens here — the policy file, its key files and trust root (a file, an
assay server or the shipped public-good root), blobs and their bundle files, images and their attachments,
``policy test`` case files — and :mod:`assay.policy` evaluates the result without any.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from assay.crypto import keys
from assay.crypto.keys import PublicKey
from assay.errors import AssayError, InputError, VerificationError
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.oci.reference import canonical_pattern, is_image_argument
from assay.policy import loader, materials, testing
from assay.policy.evaluate import Evaluation, evaluate, name_matches
from assay.policy.materials import Target
from assay.policy.model import Policy


@dataclass
class Run:
    policy: Policy
    evaluations: list[Evaluation]
    warnings: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Evaluation]:
        return [ev for ev in self.evaluations if ev.blocking]

    @property
    def not_blocking_failures(self) -> list[Evaluation]:
        return [ev for ev in self.evaluations if ev.matched and not ev.passed and not ev.blocking]


# ---- the policy and what it names --------------------------------------------------------

MAX_LINK_FILES = 10_000  # files of a layout rule's links directory hashed into the trust digest


@dataclass
class Named:
    """Everything a policy names outside itself, as read: (role, where, sha256 of the bytes) in reading order.

    Its :meth:`digest` keys cached verdicts (a rotated key or root is a new cache namespace) and its
    :attr:`files` are what an admission webhook watches for changes."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, role: str, where: str, data: bytes, file: Path | None = None) -> bytes:
        """Record ``data`` (read from ``file``, if a file) and return it."""
        import hashlib

        self.entries.append((role, where, hashlib.sha256(data).hexdigest()))
        if file is not None:
            self.watch(file)
        return data

    def watch(self, file: Path) -> None:
        """A file or directory whose change must reload the policy."""
        name = str(file.absolute())
        if name not in self.files:
            self.files.append(name)

    def tree(self, role: str, directory: Path) -> None:
        """A directory's files (names and contents, recursively, bounded) — e.g. a layout's links."""
        self.watch(directory)
        if not directory.is_dir():
            self.entries.append((role, str(directory), "absent"))
            return
        for n, p in enumerate(sorted(q for q in directory.rglob("*") if q.is_file())):
            if n >= MAX_LINK_FILES:
                break
            try:
                self.add(role, str(p.relative_to(directory)), p.read_bytes())
            except OSError:
                self.entries.append((role, str(p), "unreadable"))

    def digest(self, policy_bytes: bytes) -> str:
        """sha256 over the policy's bytes and every entry."""
        import hashlib
        import json

        return hashlib.sha256(
            json.dumps([hashlib.sha256(policy_bytes).hexdigest(), self.entries], separators=(",", ":")).encode()
        ).hexdigest()


def _trust(source: loader.Source, base: Path, named: Named) -> TrustedRoot:
    ref = source.trust_ref
    if ref is None:
        from assay.service.blob import public_good_root

        named.entries.append(("trust", "public-good", "shipped"))
        return public_good_root()
    field_name, value = ref
    if field_name == "trustedRoot":
        p = base / value
        named.watch(p)
        try:
            return parse_trusted_root(named.add("trust", str(p), p.read_bytes(), p))
        except OSError as exc:
            raise source.trust_error(f"{p}: {exc.strerror}") from None
        except AssayError as exc:
            raise source.trust_error(f"{p}: {exc.message}") from None
    from assay.clients.rekor import RekorClient

    try:
        return parse_trusted_root(named.add("trust", value, RekorClient(value).trusted_root()))
    except AssayError as exc:
        raise source.trust_error(exc.message) from None


def _read_layout(ref: dict[str, Any], base: Path, named: Named) -> dict[str, Any] | loader.Unreadable:
    """A ``layout`` rule's inputs: the signed layout, its keys (in-toto key entries) and the links directory."""
    from assay.layout.envelope import parse_signed
    from assay.service.layout import DirLinkStore, load_layout_key

    layout_path = base / ref["layout"]
    named.watch(layout_path)
    try:
        layout = parse_signed(named.add("layout", str(layout_path), layout_path.read_bytes()), str(layout_path))
    except OSError as exc:
        return loader.Unreadable("layout", "policy-layout-unreadable", f"{layout_path}: {exc.strerror}")
    except AssayError as exc:
        return loader.Unreadable("layout", "policy-layout-unreadable", exc.message)
    layout_keys = []
    for i, k in enumerate(ref["keys"]):
        named.watch(base / k)
        try:
            layout_keys.append(load_layout_key(str(base / k)))  # PEM or OpenPGP, as verify-layout reads them
            named.add("layout-key", str(base / k), (base / k).read_bytes())
        except AssayError as exc:
            return loader.Unreadable(f"keys/{i}", "policy-key-unreadable", f"key {k!r}: {exc.message}")
    named.tree("links", base / ref["links"])
    return {
        "layout": layout,
        "path": str(layout_path),
        "keys": layout_keys,
        "links": DirLinkStore(str(base / ref["links"])),
    }


def load_policy(path_str: str) -> Policy:
    """Read, check and compile a policy, then read its trust root; InputError (exit 2) names file and line."""
    path = Path(path_str)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError("file-not-found", f"{path}: {exc.strerror or exc}") from None
    source = loader.parse(raw, str(path))
    base = path.parent
    named = Named()
    named.watch(path)
    read: dict[str, PublicKey | AssayError] = {}
    for k in source.key_refs():
        key_path = Path(k) if Path(k).is_absolute() else base / k
        named.watch(key_path)
        try:
            read[k], data = keys.read_public(key_path)
            named.add("key", k, data)
        except AssayError as exc:
            read[k] = exc
    layouts = {i: _read_layout(ref, base, named) for i, ref in source.layout_refs().items()}
    policy = loader.compile_policy(source, read, layouts)  # a bad policy is refused before any trust root is fetched
    trust = _trust(source, base, named)
    # image globs are compared with normalised references: normalise their hosts the same way
    images = tuple(canonical_pattern(p) for p in policy.images)
    exclude = policy.exclude if policy.blobs else tuple(canonical_pattern(p) for p in policy.exclude)
    return replace(
        policy, trust=trust, images=images, exclude=exclude, named_files=tuple(named.files),
        trust_digest=named.digest(raw),
    )  # fmt: skip


# ---- targets -------------------------------------------------------------------------------


def blob_target(path: str, bundles: list[str] | None = None) -> Target:
    """A blob and its bundles: the ``--bundle`` files, else ``FILE.sigstore.json`` and ``FILE.*.sigstore.json``."""
    from assay.service.blob import load_artifact

    art = load_artifact(path, need_message=False)
    if bundles is None:
        bundles = [
            p
            for p in [path + ".sigstore.json", *sorted(glob.glob(glob.escape(path) + ".*.sigstore.json"))]
            if Path(p).is_file()
        ]
    read: list[tuple[str, bytes | AssayError]] = []
    for b in bundles:
        try:
            read.append((b, Path(b).read_bytes()))
        except OSError as exc:
            read.append((b, AssayError("bundle-unreadable", f"{b}: {exc.strerror}")))
    return materials.blob_target(path, art.sha256, art.as_artifact(), read)


def image_target(image: str, auth: Any = None) -> Target:
    """An image digest and everything attached to it, in either layout."""
    from assay.oci.target import open_target
    from assay.service.image import collect

    t = open_target(image, auth)
    digest, _, _ = t.resolve()
    return materials.attached_target(image, t, digest, collect(t.store, t.repository, digest))


def evaluate_targets(policy_path: str, targets: list[str], bundles: list[str] | None, auth: Any = None) -> Run:
    """Load the policy (refusing a bad one before any fetch), gather each target's materials, evaluate."""
    policy = load_policy(policy_path)
    if bundles and len(targets) != 1:
        raise InputError("usage", "--bundle applies to a single blob target")
    found = [image_target(t, auth) if is_image_argument(t) else blob_target(t, bundles) for t in targets]
    warnings = []
    for kind, patterns in (("blob", policy.blobs), ("image", policy.images)):
        mine = [t for t in found if t.kind == kind]
        for p in patterns:
            if mine and not any(name_matches(p, t) for t in mine):
                warnings.append(
                    f"warning[glob-matches-nothing]: {policy_path}: pattern {p!r} matches none of the {kind} targets"
                )
    return Run(policy, [evaluate(policy, t) for t in found], warnings)


def write_vsas(run: Run, vsa_out: str, vsa_key: str, password_file: str | None) -> list[str]:
    """One signed VSA per evaluation (several targets: VSA_OUT gets a numeric suffix); returns the paths."""
    from assay.attest import vsa
    from assay.service.provenance import write_vsa

    written = []
    for i, ev in enumerate(run.evaluations):
        inputs = [(m.where, m.raw) for r in ev.rules for m in r.inputs]
        levels = vsa.build_level({}, ev.passed and any(r.kind == "provenance" for r in ev.rules))
        out = vsa_out if len(run.evaluations) == 1 else f"{vsa_out}.{i}"
        write_vsa(
            inputs, ev.passed, resource=ev.target.name, sha256=ev.target.sha256, policy_uri=run.policy.path,
            policy_bytes=run.policy.raw, levels=levels, key=vsa_key, password_file=password_file, out=out,
        )  # fmt: skip
        written.append(out)
    return written


def copy_check(policy_path: str) -> Callable[[Any, str, Any], Any]:
    """The policy as the check of ``assay copy --policy`` (promotion into a repository of verified artifacts)."""
    policy = load_policy(policy_path)

    def check(source: Any, digest: str, attached: Any) -> Any:
        t = materials.attached_target(source.pinned(digest), source, digest, attached)
        ev = evaluate(policy, t)
        if not ev.matched:
            raise VerificationError(
                "policy-not-applicable", f"policy {policy.name} does not match {t.name}; refusing to copy"
            )
        failed = [r for r in ev.rules if r.status != "pass"]
        if failed and policy.mode == "enforce":
            first = failed[0]
            raise VerificationError(first.reason or "policy-failed", f"rule {first.name}: {first.message}")
        return ev.to_json()

    return check


# ---- policy test -----------------------------------------------------------------------------


def run_tests(directory: Path) -> list[testing.CaseResult]:
    """``assay policy test DIR``: every ``cases/*.yaml`` evaluated and compared with what it expects."""
    cases = sorted((directory / "cases").glob("*.y*ml"))
    if not cases:
        raise InputError("policy-test-malformed", f"{directory}/cases holds no *.yaml cases")
    policies: dict[Path, Policy] = {}
    out = []
    for path in cases:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError("policy-test-malformed", f"{path}: {exc}") from None
        doc = testing.parse_case(text, path)
        base = path.parent
        policy_path = (base / doc["policy"]) if "policy" in doc else directory / "policy.yaml"
        policy = policies.get(policy_path) or load_policy(str(policy_path))
        policies[policy_path] = policy
        target_arg = str(doc["target"])
        if not (base / target_arg).exists() and is_image_argument(target_arg):
            if target_arg.startswith("oci:") and not Path(target_arg[4:].split(":")[0]).is_absolute():
                target_arg = "oci:" + str(base / target_arg[4:])
            target = image_target(target_arg)
        else:
            bundles = [str(base / b) for b in doc["bundles"]] if "bundles" in doc else None
            target = blob_target(str(base / target_arg), bundles)
        now = datetime.fromisoformat(str(doc["now"]).replace("Z", "+00:00")) if "now" in doc else None
        name = str(doc.get("name", path.stem))
        try:
            ev = evaluate(policy, target, now)
        except AssayError as exc:
            out.append(testing.CaseResult(name, False, [f"evaluation failed: {exc.reason}: {exc.message}"]))
            continue
        problems = testing.expected_problems(doc["expect"], ev)
        out.append(testing.CaseResult(name, not problems, problems))
    return out
