"""In-process bundle verification: assay vs sigstore-python, in one run.

For ``happy-path-v0.3`` (Rekor v1, public good) and ``rekor2-happy-path``
(Rekor v2 + RFC 3161): median of 500 verifications each, parsing the bundle
every time, against sigstore-python's ``Verifier.verify_artifact``.
assay is measured cold (certificate verdict cache off: every CA, CT and log
signature is checked each time) and warm (the same certificate seen before).
Then a batch of 10,000 cold verifications, with bundles per second next to
``openssl speed ecdsap256`` verifications per second.
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
from assay.formats.trustroot import parse_trusted_root
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
    openssl = subprocess.run(["openssl", "speed", "-seconds", "2", "ecdsap256"], capture_output=True, text=True).stdout
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+\S+\s+(\S+)", openssl)
    print(
        f"batch: {n} cold verifications (cycling {len(work)} public bundles) in {elapsed:.1f} s = {rate:,.0f} bundles/s"
    )
    if m:
        v = float(m.group(1))
        print(f"  openssl speed ecdsap256: {v:,.0f} verify/s; one bundle costs {v / rate:.1f} P-256 verifications")


if __name__ == "__main__":
    bench_case("happy-path-v0.3")
    bench_case("rekor2-happy-path")
    bench_batch()
