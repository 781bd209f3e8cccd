"""In-process bundle verification: assay vs sigstore-python, in one run.

For ``happy-path-v0.3`` (Rekor v1, public good) and ``rekor2-happy-path``
(Rekor v2 + RFC 3161): median of 500 verifications each, parsing the bundle
every time, against sigstore-python's ``Verifier.verify_artifact``.
assay is measured cold (certificate verdict cache off: every CA, CT and log
signature is checked each time) and warm (the same certificate seen before).
Then a batch of 10,000 cold verifications, with bundles per second next to
``openssl speed ecdsap256`` verifications per second (verify-equivalents per
bundle), beside the floor: the signature checks a bundle cannot avoid, priced
at ``openssl speed`` rates for their key types.

Profile notes (cProfile, 300 cold verifications each, after this round):
- ``rekor2-happy-path`` was dominated by ``rfc3161_client``'s ``pkcs7_verify``
  (3.8 ms of 5 ms): OpenSSL's PKCS7_verify rebuilt a store and re-verified the
  TSA's P-384 chain for every token. assay now runs the CMS steps itself
  (``verify/rfc3161.py``) and checks a TSA chain's signatures once per chain.
- What remains is the signatures themselves: the Fulcio leaf's P-384 issuer
  signature (~0.8 ms, about 11 P-256 verifications), the TSA's P-384 token
  signature, and P-256/Ed25519 for the SCT, promise, checkpoint and artifact.
  A chain found at one verified time is re-checked at the others by validity
  alone (its signatures do not depend on the time); the issuer key hash for
  SCTs is computed once per issuer; the leaf's DER is used as given.
"""

from __future__ import annotations

import hashlib
import re
import statistics
import subprocess
import time
from itertools import cycle
from pathlib import Path

from sigstore.models import Bundle as SBundle
from sigstore.models import TrustedRoot as STrustedRoot
from sigstore.verify import Verifier as SVerifier
from sigstore.verify import policy as spolicy

from assay.formats.bundle import parse_bundle
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.verify import memo
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact
from assay.verify.pipeline import verify
from assay.verify.policy import Policy

CONF = next(
    (
        p
        for p in (Path(__file__).resolve().parents[2] / "shared" / "conformance", Path("/work/shared/conformance"))
        if p.is_dir()
    ),
    Path("/work/shared/conformance"),
)
CASES = CONF / "bundle-verify"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
RUNS = 500


def _root(case: str) -> Path:
    own = CASES / case / "trusted_root.json"
    return own if own.exists() else CONF / "public-good" / "trusted_root.json"


def _median_ms(fn, runs: int = RUNS) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def bench_case(case: str) -> None:
    raw = (CASES / case / "bundle.sigstore.json").read_bytes()
    data = (CASES / "a.txt").read_bytes()
    trust = parse_trusted_root(_root(case).read_bytes())
    art = Artifact(hashlib.sha256(data).digest(), data)
    pol = Policy(identity=IdentityPolicy(IDENTITY, None, ISSUER))
    sv = SVerifier(trusted_root=STrustedRoot.from_file(str(_root(case))))
    sp = spolicy.Identity(identity=IDENTITY, issuer=ISSUER)

    def ours() -> None:
        verify(parse_bundle(raw), art, pol, trust)

    def theirs() -> None:
        sv.verify_artifact(data, SBundle.from_json(raw), sp)

    ours()
    theirs()
    memo.set_enabled(False)
    cold = _median_ms(ours)
    memo.set_enabled(True)
    warm = _median_ms(ours)
    ref = _median_ms(theirs)
    print(f"{case}:")
    print(f"  sigstore-python verify_artifact : {ref:6.3f} ms")
    print(f"  assay cold                      : {cold:6.3f} ms   {ref / cold:4.1f}x faster")
    print(f"  assay warm (seen before)        : {warm:6.3f} ms   {ref / warm:4.1f}x faster")


def _openssl_rates() -> dict[str, float]:
    """Verifications per second from ``openssl speed`` for the key types bundles use."""
    rates: dict[str, float] = {}
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "2", "ecdsap256", "ecdsap384", "ed25519"], capture_output=True, text=True
    ).stdout
    for bits, name in (("256", "p256"), ("384", "p384")):
        m = re.search(rf"{bits} bits ecdsa \(nistp{bits}\)\s+\S+s\s+\S+s\s+\S+\s+(\S+)", out)
        if m:
            rates[name] = float(m.group(1))
    m = re.search(r"253 bits EdDSA \(Ed25519\)\s+\S+s\s+\S+s\s+\S+\s+(\S+)", out)
    if m:
        rates["ed25519"] = float(m.group(1))
    return rates


def _kind(key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "p256", "secp384r1": "p384"}.get(key.curve.name, "p384")
    return "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "p256"


def floor_checks(raw: bytes, trust: TrustedRoot) -> list[str]:
    """The signature checks a cold verification of this bundle cannot skip, by key type."""
    from cryptography import x509

    b = parse_bundle(raw)
    leaf = x509.load_der_x509_certificate(b.certificates[0])
    issuer = next(ca.chain[0] for ca in trust.certificate_authorities if ca.chain[0].subject == leaf.issuer)
    checks = [_kind(issuer.public_key()), _kind(trust.ctlogs[0].key) if trust.ctlogs else "", _kind(leaf.public_key())]
    for e in b.tlog_entries:
        log = trust.tlog(e.log_id)
        if log is not None:
            checks += [_kind(log.key)] * ((e.inclusion_promise is not None) + (e.inclusion_proof is not None))
    for _ in b.rfc3161_timestamps:
        checks.append(_kind(trust.timestamp_authorities[0].chain[0].public_key()))
    return [c for c in checks if c]


def bench_batch(n: int = 10_000) -> None:
    seeds = [
        "happy-path-v0.2",
        "happy-path-v0.3",
        "rekor2-happy-path",
        "rekor2-timestamp-without-embedded-cert",
        "rekor2-checkpoint-cosigned",
    ]
    data = (CASES / "a.txt").read_bytes()
    art = Artifact(hashlib.sha256(data).digest(), data)
    pol = Policy(identity=IdentityPolicy(IDENTITY, None, ISSUER))
    work = [
        ((CASES / s / "bundle.sigstore.json").read_bytes(), parse_trusted_root(_root(s).read_bytes())) for s in seeds
    ]
    memo.set_enabled(False)
    it = cycle(work)
    t = time.perf_counter()
    for _ in range(n):
        raw, trust = next(it)
        verify(parse_bundle(raw), art, pol, trust)
    elapsed = time.perf_counter() - t
    memo.set_enabled(True)
    rate = n / elapsed
    print(
        f"batch: {n} cold verifications (cycling {len(work)} public bundles) in {elapsed:.1f} s = {rate:,.0f} bundles/s"
    )
    rates = _openssl_rates()
    if "p256" in rates:
        v = rates["p256"]
        print(f"  openssl speed: {', '.join(f'{k} {r:,.0f} verify/s' for k, r in rates.items())}")
        print(f"  one bundle costs {v / rate:.1f} P-256 verifications")
        floors = []
        for (raw, trust), seed in zip(work, seeds, strict=True):
            checks = floor_checks(raw, trust)
            cost = sum(v / rates.get(c, v) for c in checks)
            floors.append(cost)
            print(
                f"  floor {seed}: {len(checks)} signature checks ({', '.join(checks)}) = {cost:.1f} P-256 equivalents"
            )
        print(f"  floor, mean over the batch: {statistics.mean(floors):.1f} P-256 equivalents per bundle")


if __name__ == "__main__":
    bench_case("happy-path-v0.3")
    bench_case("rekor2-happy-path")
    bench_batch()
