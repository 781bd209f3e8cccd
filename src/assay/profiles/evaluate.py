"""One profile over one entity: the entity's targets found now, each target's materials gathered, rules decided.

Images: the repository's tags are listed (following pagination) on every evaluation and filtered by the
entity's globs or regexp; each tag is resolved to its digest, and the digest's attachments in the registry and
the project's verified evidence about it become the materials. Artifact names: every published version of the
project's repository. Evidence subjects: the digest and the evidence about it. Anything that goes wrong while
gathering — the registry unreachable or answering errors, a tag gone between listing and resolving — is an
``error`` outcome for every rule, never a pass.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from assay.errors import AssayError
from assay.formats.trustroot import TrustedRoot
from assay.policy.evaluate import evaluate as evaluate_policy
from assay.policy.materials import Material, Target
from assay.profiles.history import Outcome
from assay.profiles.model import RULE_STATUS, Entity, Profile

MAX_TAGS = 1000  # tags of one image entity evaluated per round


@dataclass
class Context:
    """What evaluation reads besides registries: the store and the trust roots profiles may name."""

    engine: Any
    evidence: Any  # assay.evidence.store.EvidenceStore
    server_root: Callable[[], TrustedRoot]
    public_good_root: Callable[[], TrustedRoot]

    def root(self, which: str) -> TrustedRoot:
        return self.public_good_root() if which == "public-good" else self.server_root()


def _all(profile: Profile, target: str, digest: str | None, status: str, reason: str, message: str) -> list[Outcome]:
    return [Outcome(target, digest, rule, status, reason, message) for rule in profile.rules]


def _stored(ctx: Context, project: str, digest_hex: str) -> list[Material]:
    from assay.repository.service import material_of

    out = []
    for row, raw in ctx.evidence.about(project, "sha256:" + digest_hex):
        m = material_of(row, raw, bytes.fromhex(digest_hex))
        if m is not None:
            out.append(m)
    return out


def _decide(profile: Profile, root: TrustedRoot, target: Target, label: str) -> list[Outcome]:
    policy = replace(profile.policy, trust=root)
    ev = evaluate_policy(policy, target)
    digest = "sha256:" + target.sha256
    return [
        Outcome(
            label,
            digest,
            r.name,
            RULE_STATUS.get(r.status, "error"),
            r.reason,
            r.message,
            [c.to_json() for c in r.checks],
        )
        for r in ev.rules
    ]


def layouts_for(profile: Profile) -> tuple[str, ...]:
    """Where to look for an image's attachments: cosign ``.sig`` tags for signature rules, ``.att`` tags for
    attestation rules, referrers always (a round trip saved per image when a profile needs only one kind)."""
    kinds = {r.kind for r in profile.policy.rules}
    wanted = ["referrer"]
    if kinds & {"signature", "checklist"}:
        wanted.append("sig")
    if kinds - {"signature"}:
        wanted.append("att")
    return tuple(wanted)


def matching_tags(entity: Entity, tags: list[str]) -> list[str]:
    """The tags an image entity watches: its globs, or its regexp (full match), or every tag."""
    if entity.tag_regexp is not None:
        pattern = re.compile(entity.tag_regexp)
        return [t for t in tags if pattern.fullmatch(t)]
    if entity.tags:
        return [t for t in tags if any(fnmatch.fnmatchcase(t, g) for g in entity.tags)]
    return [t for t in tags if not re.fullmatch(r"sha256-[0-9a-f]{64}(\..*)?", t)]  # not cosign's attachment tags


def _image(ctx: Context, profile: Profile, entity: Entity, root: TrustedRoot) -> list[Outcome]:
    from assay.oci.target import RegistryAuth, open_target
    from assay.policy.materials import attached_target
    from assay.service.image import collect

    auth = RegistryAuth(insecure=entity.insecure)
    try:
        repo = open_target(entity.name + ":latest", auth)
        listed = repo.store.list_tags(repo.repository)
        tags = matching_tags(entity, listed)
    except AssayError as exc:
        return _all(profile, entity.name, None, "error", exc.reason, exc.message)
    if not tags:
        return _all(profile, entity.name, None, "skipped", "no-matching-tags", "no tag of the repository matches")
    out: list[Outcome] = []
    for tag in sorted(tags)[:MAX_TAGS]:
        label = f"{entity.name}:{tag}"
        digest = None
        try:
            t = open_target(label, auth)
            digest, _, _ = t.resolve()
            # the tags were just listed: attachment tags absent from the list are not fetched
            found = collect(t.store, t.repository, digest, layouts_for(profile), frozenset(listed))
            target = attached_target(label, t, digest, found)
            target.materials.extend(_stored(ctx, entity.project, target.sha256))
            out.extend(_decide(profile, root, target, label))
        except AssayError as exc:
            out.extend(_all(profile, label, digest, "error", exc.reason, exc.message))
    return out


def _blob(ctx: Context, profile: Profile, entity: Entity, root: TrustedRoot) -> list[Outcome]:
    from assay.repository.service import versions

    found = versions(ctx.engine, entity.project, entity.name)
    if not found:
        return _all(profile, entity.name, None, "skipped", "no-artifact-versions", "nothing is published under it")
    out: list[Outcome] = []
    for v in found:
        label = f"{entity.name}@{v.version}"
        target = Target("blob", entity.name, entity.name, None, v.digest, _stored(ctx, entity.project, v.digest))
        out.extend(_decide(profile, root, target, label))
    return out


def _subject(ctx: Context, profile: Profile, entity: Entity, root: TrustedRoot) -> list[Outcome]:
    hexd = entity.name.split(":", 1)[1]
    target = Target("blob", entity.name, entity.name, None, hexd, _stored(ctx, entity.project, hexd))
    return _decide(profile, root, target, entity.name)


def evaluate(ctx: Context, profile: Profile, entity: Entity) -> list[Outcome]:
    """Every rule of ``profile`` over every current target of ``entity`` (never raises an AssayError)."""
    try:
        if not profile.selects(entity):
            return _all(profile, entity.name, None, "skipped", "selector-not-matched", "the selectors exclude it")
    except Exception as exc:  # a CelError, or cel-python failing on an ill-typed selector
        return _all(profile, entity.name, None, "error", "selector-error", f"selector: {exc}")
    try:
        root = ctx.root(profile.trust)
        kind = {"image": _image, "blob": _blob, "evidence-subject": _subject}[entity.kind]
        return kind(ctx, profile, entity, root)
    except AssayError as exc:
        return _all(profile, entity.name, None, "error", exc.reason, exc.message)
