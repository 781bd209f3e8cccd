"""Who signed a link: a layout key (legacy, DSSE or bundle signature) or a keyless identity (bundle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.crypto import keys
from assay.errors import AssayError, InputError
from assay.layout.envelope import SignedDoc, check_signature, is_keyless, key_content, public_key_of
from assay.layout.model import LINK_PREDICATE, Layout, parse_layout

if TYPE_CHECKING:
    from assay.formats.trustroot import TrustedRoot


def distinct_keys(layout: Layout, keyids: list[str]) -> dict[str, str]:
    """keyid -> the key's content identity (:func:`key_content`) for the given layout key ids."""
    return {k: key_content(layout.keys[k]) for k in keyids if k in layout.keys}


def parse_checked(doc: dict[str, Any], where: str = "layout") -> Layout:
    """:func:`parse_layout`, then every step's threshold against its distinct functionary keys.

    in-toto counts keys, not key ids: one key listed under two key ids is one functionary, so a step whose
    threshold only such duplicates could reach is refused before anything is signed or verified.
    """
    layout = parse_layout(doc, where)
    for step in layout.steps:
        distinct = set(distinct_keys(layout, step.pubkeys).values())
        if step.threshold > len(distinct):
            raise InputError(
                "threshold-above-functionaries",
                f"{where}: step {step.name!r} has threshold {step.threshold} but only {len(distinct)} distinct "
                f"functionary key(s) ({len(set(step.pubkeys))} key ids; keys are counted by their content)",
            )
    return layout


def _identity(kd: dict[str, Any]) -> Any:
    from assay.verify.identity import IdentityPolicy

    kv = kd.get("keyval") or {}
    claims = kv.get("claims") or {}
    return IdentityPolicy(
        kv.get("identity"),
        kv.get("identity_regexp"),
        kv.get("issuer"),
        kv.get("issuer_regexp"),
        tuple(sorted((str(k), str(v)) for k, v in claims.items())),
    )


def signed_by(sd: SignedDoc, kd: dict[str, Any], trust: TrustedRoot | None) -> tuple[bool, str]:
    """(True, how) when functionary ``kd`` signed ``sd``; (False, why not) otherwise."""
    if sd.form != "bundle":
        if is_keyless(kd):
            return False, "a keyless functionary signs Sigstore bundles, not legacy links"
        return check_signature(sd, kd)
    assert sd.bundle is not None
    from assay.verify import pipeline
    from assay.verify.policy import Policy

    predicate = LINK_PREDICATE if sd.kind == "link" else None
    if is_keyless(kd):
        if not sd.bundle.certificates:
            return False, "the bundle is signed by a key, the functionary is keyless"
        if trust is None:
            return False, "keyless links need a trusted root (--trusted-root or --server)"
        try:
            result = pipeline.verify(sd.bundle, None, Policy(identity=_identity(kd), predicate_type=predicate), trust)
        except AssayError as exc:
            return False, f"{exc.reason}: {exc.message}"
        return True, f"certificate for {result.signer.get('subject')} ({result.signer.get('issuer')}), logged"
    pub = public_key_of(kd)
    if pub is None or sd.bundle.certificates:
        return False, "not signed by this key"
    if trust is None or not sd.bundle.tlog_entries:
        ok = any(keys.verify_message(pub, sig, sd.message) for _, sig in sd.signatures)
        return (True, "signature") if ok else (False, "no valid signature by this key")
    try:
        pipeline.verify(sd.bundle, None, Policy(key=pub, predicate_type=predicate, require_tlog=True), trust)
    except AssayError as exc:
        return False, f"{exc.reason}: {exc.message}"
    return True, "signature, logged"
