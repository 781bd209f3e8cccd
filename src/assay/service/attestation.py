"""``gh attestation verify`` parity, offline: GitHub's policy defaults over bundles from files or an image.

Bundles come from a file (one bundle, JSON Lines of bundles or of
``{"bundle": …}`` rows, the GitHub API's ``{"attestations": [{"bundle": …}]}``,
or PyPI's PEP 740 attestations and provenance files)
or from the image's OCI referrers; nothing asks the GitHub API. The identity
policy is gh's: the SAN bound to the owner or repository (or the signer
workflow/repository), the Actions OIDC issuer, the source repository owner
(and repository) claims, and SLSA provenance v1 unless another predicate type
is asked for. Verification itself is :func:`assay.verify.pipeline.verify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assay.errors import AssayError, InputError, VerificationError
from assay.formats import intoto, pep740
from assay.formats.bundle import Bundle, parse_bundle
from assay.formats.encoding import load_json
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.service import trust
from assay.service.io import read_file
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.policy import Policy
from assay.verify.signature import digests_needed

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
RESULT_MEDIA_TYPE = "application/vnd.dev.sigstore.verificationresult+json;version=0.1"
MAX_BUNDLES = 1000
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class GhPolicy:
    """The flags of ``gh attestation verify`` that shape the policy."""

    owner: str | None = None
    repo: str | None = None
    hostname: str = "github.com"
    signer_workflow: str | None = None
    signer_repo: str | None = None
    signer_digest: str | None = None
    cert_identity: str | None = None
    cert_identity_regex: str | None = None
    cert_oidc_issuer: str = GITHUB_ISSUER
    predicate_type: str = SLSA_PROVENANCE_V1
    source_ref: str | None = None
    source_digest: str | None = None
    deny_self_hosted_runners: bool = False

    def owner_name(self) -> str:
        """The owner the attestation must come from (``--owner``, or the owner part of ``--repo``)."""
        if (self.owner is None) == (self.repo is None):
            raise InputError("usage", "give exactly one of --owner or --repo")
        if self.repo is not None:
            owner, sep, name = self.repo.partition("/")
            if not sep or not _NAME.fullmatch(owner) or not _NAME.fullmatch(name):
                raise InputError("usage", f"--repo {self.repo!r}: expected OWNER/REPO")
            return owner
        assert self.owner is not None
        if not _NAME.fullmatch(self.owner):
            raise InputError("usage", f"--owner {self.owner!r}: not a GitHub owner name")
        return self.owner

    def san_rule(self) -> tuple[str, str]:
        """('exact'|'regex', value) the certificate's SAN must satisfy, as gh derives it."""
        picked = [
            f
            for f, v in (
                ("--cert-identity", self.cert_identity),
                ("--cert-identity-regex", self.cert_identity_regex),
                ("--signer-repo", self.signer_repo),
                ("--signer-workflow", self.signer_workflow),
            )
            if v
        ]
        if len(picked) > 1:
            raise InputError("usage", f"{' and '.join(picked)} cannot be combined")
        host = re.escape(self.hostname)
        if self.cert_identity:
            return "exact", self.cert_identity
        if self.cert_identity_regex:
            return "regex", self.cert_identity_regex
        if self.signer_repo:
            return "regex", f"(?i)^https://{host}/{re.escape(self.signer_repo.strip('/'))}/"
        if self.signer_workflow:
            wf = self.signer_workflow
            wf = wf.split("://", 1)[1] if "://" in wf else wf
            if not wf.startswith(self.hostname + "/"):
                wf = f"{self.hostname}/{wf}"
            return "regex", f"^https://{re.escape(wf)}"
        if self.repo:
            return "regex", f"(?i)^https://{host}/{re.escape(self.repo)}/"
        return "regex", f"(?i)^https://{host}/{re.escape(self.owner_name())}/"

    def criteria(self) -> list[tuple[str, str]]:
        """What is enforced, in gh's words, for the report."""
        owner = self.owner_name()
        out = [("Predicate type must match", self.predicate_type)]
        out.append(("Source Repository Owner URI must match", f"https://{self.hostname}/{owner}"))
        if self.repo:
            out.append(("Source Repository URI must match", f"https://{self.hostname}/{self.repo}"))
        kind, value = self.san_rule()
        out.append(("Subject Alternative Name must match" + (" regex" if kind == "regex" else ""), value))
        out.append(("OIDC Issuer must match", self.cert_oidc_issuer))
        for label, v in (
            ("Source Repository Ref must match", self.source_ref),
            ("Source Repository Digest must match", self.source_digest),
            ("Build Signer Digest must match", self.signer_digest),
        ):
            if v:
                out.append((label, v))
        if self.deny_self_hosted_runners:
            out.append(("Action workflow Runner Environment must match", "github-hosted"))
        return out

    def identity(self) -> IdentityPolicy:
        """The identity policy gh would enforce."""
        owner = self.owner_name()
        ext: list[tuple[str, str]] = [("sourceRepositoryOwnerURI", f"https://{self.hostname}/{owner}")]
        if self.repo:
            ext.append(("sourceRepositoryURI", f"https://{self.hostname}/{self.repo}"))
        for name, value in (
            ("sourceRepositoryRef", self.source_ref),
            ("sourceRepositoryDigest", self.source_digest),
            ("buildSignerDigest", self.signer_digest),
        ):
            if value:
                ext.append((name, value))
        if self.deny_self_hosted_runners:
            ext.append(("runnerEnvironment", "github-hosted"))
        kind, value = self.san_rule()
        if kind == "exact":
            return IdentityPolicy(identity=value, issuer=self.cert_oidc_issuer, extensions=tuple(ext))
        return IdentityPolicy(identity_regexp=searching(value), issuer=self.cert_oidc_issuer, extensions=tuple(ext))


_LEADING_FLAGS = re.compile(r"\A\(\?([aiLmsux]+)\)")


def searching(pattern: str) -> str:
    """A whole-value pattern that accepts what ``pattern`` finds anywhere, as gh's Go regexps do.

    A leading ``(?i)`` (global flags, legal in Go anywhere) becomes a scoped group.
    """
    m = _LEADING_FLAGS.match(pattern)
    if m:
        pattern = f"(?{m.group(1)}:{pattern[m.end() :]})"
    return f"(?s:.*?)(?:{pattern})(?s:.*)"


@dataclass(frozen=True)
class Loaded:
    """A bundle as read, with its JSON for the report."""

    bundle: Bundle
    raw: dict[str, Any]


def _rows(doc: Any) -> list[dict[str, Any]]:
    """The bundles one JSON value holds: a bundle, ``{"bundle": …}``, or ``{"attestations": [...]}``."""
    if not isinstance(doc, dict):
        raise InputError("bundle-malformed", "expected a JSON object (a bundle or an attestation row)")
    converted = pep740.bundles_in(doc)
    if converted is not None:
        return converted
    if "attestations" in doc:
        items = doc["attestations"]
        if not isinstance(items, list):
            raise InputError("bundle-malformed", "attestations: expected a list")
        return [r for item in items for r in _rows(item)]
    if "bundle" in doc and "mediaType" not in doc:
        inner = doc["bundle"]
        if not isinstance(inner, dict):
            raise InputError("bundle-malformed", "bundle: expected a JSON object")
        return [inner]
    return [doc]


def parse_bundles(data: bytes, where: str) -> list[Loaded]:
    """Every bundle in a file: one JSON document, or JSON Lines (as ``gh attestation download`` writes)."""
    text = data.strip()
    if not text:
        raise InputError("bundle-malformed", f"{where}: empty file")
    try:
        docs = [load_json(text, where)]
    except InputError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise
        docs = [load_json(ln, f"{where} line {i + 1}") for i, ln in enumerate(lines)]
    rows = [r for d in docs for r in _rows(d)]
    if len(rows) > MAX_BUNDLES:
        raise InputError("too-many-bundles", f"{where}: more than {MAX_BUNDLES} bundles")
    return [Loaded(parse_bundle(r), r) for r in rows]


def load_trusted_roots(path: str) -> list[TrustedRoot]:
    """A custom trusted root: one document, or JSON Lines of roots as ``gh attestation trusted-root`` prints."""
    data = read_file(path, "trusted root").strip()
    try:
        return [parse_trusted_root(data)]
    except InputError:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise
        return [parse_trusted_root(ln) for ln in lines]


def root_for(bundle: Bundle, custom: list[TrustedRoot] | None, *, public_good: bool) -> TrustedRoot:
    """The trusted root for one bundle: the custom root whose CA issued it, else the shipped one by issuer."""
    roots = custom if custom else [trust.github_root()] + ([trust.public_good_root()] if public_good else [])
    if len(roots) == 1 or not bundle.certificates:
        return roots[0]
    from cryptography import x509

    try:
        leaf = x509.load_der_x509_certificate(bundle.certificates[0])
    except ValueError:
        return roots[0]  # the pipeline reports it
    return next((r for r in roots if trust.issued_by(r, leaf)), roots[-1])


@dataclass
class Verified:
    """One attestation that satisfied the policy."""

    loaded: Loaded
    result: Result


@dataclass
class Outcome:
    """Everything ``attestation verify`` reports."""

    artifact: str
    digest: str
    loaded: int
    source: str
    criteria: list[tuple[str, str]]
    verified: list[Verified] = field(default_factory=list)

    def table(self) -> list[tuple[str, str, str]]:
        """(repository, predicate type, workflow) of each verified attestation, as gh's table shows."""
        rows = []
        for v in self.verified:
            claims = v.result.claims
            repo_uri = claims.get("sourceRepositoryURI", "")
            repo = repo_uri.split("://", 1)[-1].split("/", 1)[-1] if repo_uri else ""
            signer = claims.get("buildSignerURI") or claims.get("subject", "")
            workflow = signer.split("://", 1)[-1].split("/", 3)[-1] if "/" in signer else signer
            ptype = (v.result.statement or {}).get("predicateType", "")
            rows.append((repo, ptype, workflow))
        return rows

    def to_json(self) -> list[dict[str, Any]]:
        """gh's ``--format json``: each verified attestation with its verification result."""
        out = []
        for v in self.verified:
            env = v.loaded.bundle.dsse_envelope
            statement = load_json(env.payload, "statement") if env is not None else None
            out.append(
                {
                    "attestation": {"bundle": v.loaded.raw},
                    "verificationResult": {
                        "mediaType": RESULT_MEDIA_TYPE,
                        "statement": statement,
                        "signature": {"certificate": v.result.claims},
                        "verifiedTimestamps": [
                            {
                                "type": "Tlog" if t["source"] == "tlog" else "TimestampAuthority",
                                "uri": t["authority"],
                                "timestamp": t["time"],
                            }
                            for t in v.result.verified_times
                        ],
                    },
                }
            )
        return out


def _predicate_type(bundle: Bundle) -> str | None:
    if bundle.dsse_envelope is None or bundle.dsse_envelope.payload_type != intoto.PAYLOAD_TYPE:
        return None
    try:
        return intoto.parse_statement(bundle.dsse_envelope.payload).predicate_type
    except AssayError:
        return None


def verify_attestations(
    artifact_label: str,
    load_artifact: Any,
    bundles: list[Loaded],
    source: str,
    policy: GhPolicy,
    *,
    custom_roots: list[TrustedRoot] | None = None,
    public_good: bool = True,
) -> Outcome:
    """Verify every attestation of the wanted predicate type; succeed when at least one satisfies the policy.

    ``load_artifact(algorithms)`` returns the :class:`Artifact`, hashed once in every algorithm the
    bundles' subjects name.
    """
    identity = policy.identity()
    ptype = intoto.predicate_type(policy.predicate_type)
    criteria = policy.criteria()
    wanted = [b for b in bundles if _predicate_type(b.bundle) == ptype]
    if not wanted:
        raise VerificationError(
            "no-matching-predicate-type",
            f"none of the {len(bundles)} attestation(s) from {source} has predicate type {ptype}",
            step="subject",
        )
    algorithms = list(dict.fromkeys(a for b in wanted for a in digests_needed(b.bundle, None)))
    artifact: Artifact = load_artifact(algorithms)
    shown = "sha256" if artifact.digest("sha256") is not None else algorithms[0]
    digest = artifact.digest(shown)
    outcome = Outcome(artifact_label, f"{shown}:{digest.hex() if digest else ''}", len(bundles), source, criteria)
    errors: list[AssayError] = []
    for b in wanted:
        rule = Policy(identity=identity, predicate_type=ptype, expect_statement=True)
        try:
            result = pipeline.verify(
                b.bundle, artifact, rule, root_for(b.bundle, custom_roots, public_good=public_good)
            )
        except AssayError as exc:
            errors.append(exc)
            continue
        outcome.verified.append(Verified(b, result))
    if not outcome.verified:
        first = errors[0]
        raise VerificationError(
            first.reason,
            f"none of the {len(wanted)} attestation(s) satisfies the policy; first: {first.message}",
            step=first.step,
        )
    return outcome


def run(
    target: str,
    policy: GhPolicy,
    *,
    bundle_path: str | None = None,
    bundle_from_oci: bool = False,
    custom_trusted_root: str | None = None,
    no_public_good: bool = False,
    auth: Any = None,
) -> Outcome:
    """``assay attestation verify``: resolve the artifact and its bundles, then verify them offline."""
    from assay.crypto.digest import digest_file, parse_typed_digest_ref

    policy.owner_name()  # usage errors before any I/O
    policy.san_rule()
    if bundle_path and bundle_from_oci:
        raise InputError("usage", "give --bundle or --bundle-from-oci, not both")
    custom = load_trusted_roots(custom_trusted_root) if custom_trusted_root else None
    if target.startswith("oci://"):
        from assay.oci.referrers import find_bundles
        from assay.oci.target import open_target

        image = open_target(target[len("oci://") :], auth)
        digest, _, _ = image.resolve()
        raw_digest = bytes.fromhex(digest.split(":", 1)[1])
        label = image.pinned(digest)

        def load(algorithms: list[str]) -> Artifact:
            return Artifact(raw_digest, name=label)

        if bundle_from_oci:
            found, rejected = find_bundles(image.store, image.repository, digest)
            bundles = [b for raw in found for b in parse_bundles(raw, f"referrer of {label}")]
            source = f"the referrers of {label}"
            if not bundles:
                first = rejected[0].message if rejected else "none attached"
                raise VerificationError("no-attestations", f"no Sigstore bundle is attached to {label}: {first}")
        else:
            if not bundle_path:
                raise InputError("bundle-required", _NO_API)
            bundles, source = parse_bundles(read_file(bundle_path, "bundle"), bundle_path), bundle_path
    else:
        if bundle_from_oci:
            raise InputError("usage", "--bundle-from-oci needs an oci://IMAGE argument")
        if not bundle_path:
            raise InputError("bundle-required", _NO_API)
        bundles, source = parse_bundles(read_file(bundle_path, "bundle"), bundle_path), bundle_path
        typed = parse_typed_digest_ref(target)
        label = target if typed is not None else f"file://{target}"

        def load(algorithms: list[str]) -> Artifact:
            if typed is not None:
                return Artifact(typed[1] if typed[0] == "sha256" else None, digests={typed[0]: typed[1]})
            digests = digest_file(target, algorithms)
            return Artifact(digests.get("sha256"), name=target, digests=digests)

    return verify_attestations(
        label, load, bundles, source, policy, custom_roots=custom, public_good=not no_public_good
    )


_NO_API = (
    "assay verifies offline and does not query the GitHub API: pass --bundle FILE "
    "(as `gh attestation download` writes it) or --bundle-from-oci for an oci:// image"
)
