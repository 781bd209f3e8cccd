"""Worst-case requests within the server's limits, and latency probes, for the stall test and benchmark."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.formats.dsse import pae
from assay.log.entries import hashedrekord_proposal
from assay.log.proposals import MAX_DSSE_SIGNATURES, MAX_DSSE_VERIFIERS

BODY_LIMIT = 4 * 1024 * 1024


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def worst_dsse(payload_bytes: int = 2_900_000) -> bytes:
    """A dsse proposal at the limits: the most signatures, each verified only by the last of the most verifiers.

    Every signature is tried against every decoy verifier first (signatures x verifiers checks),
    over a payload as large as the body limit allows.
    """
    signer = ec.generate_private_key(ec.SECP256R1())
    decoys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(MAX_DSSE_VERIFIERS - 1)]
    payload = os.urandom(payload_bytes)
    message = pae("application/vnd.in-toto+json", payload)
    sigs = [signer.sign(message, ec.ECDSA(hashes.SHA256())) for _ in range(MAX_DSSE_SIGNATURES)]
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [{"sig": base64.b64encode(s).decode()} for s in sigs],
    }
    doc = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": json.dumps(envelope),
                "verifiers": [base64.b64encode(_pem(k)).decode() for k in [*decoys, signer]],
            }
        },
    }
    body = json.dumps(doc).encode()
    assert len(body) <= BODY_LIMIT, len(body)
    return body


class Appender:
    """Ordinary hashedrekord appends: one fresh artifact digest per call."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = _pem(self.key)
        self.n = 0

    def body(self) -> bytes:
        self.n += 1
        digest = hashlib.sha256(f"ordinary-{os.getpid()}-{time.time_ns()}-{self.n}".encode()).digest()
        sig = self.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return json.dumps(hashedrekord_proposal(sig, digest, self.pem)).encode()


@dataclass
class Attack:
    """Threads that keep sending ``body`` to the append endpoint until stopped."""

    url: str
    bodies: list[bytes]
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, body: bytes) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                try:
                    r = client.post(self.url + "/api/v1/log/entries", content=body)
                    self.statuses.append(r.status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)

    def __enter__(self) -> Attack:
        for body in self.bodies:
            t = threading.Thread(target=self._run, args=(body,), daemon=True)
            t.start()
            self._threads.append(t)
        time.sleep(0.5)  # let the attack reach steady state
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def p99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def probe(url: str, seconds: float, appender: Appender) -> tuple[list[float], list[float]]:
    """Latencies (s) of ``/healthz`` and of ordinary appends, alternating, for ``seconds``."""
    health: list[float] = []
    appends: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            r = client.get(url + "/healthz")
            health.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            body = appender.body()
            t = time.perf_counter()
            r = client.post(url + "/api/v1/log/entries", content=body)
            appends.append(time.perf_counter() - t)
            assert r.status_code == 201, r.text
            time.sleep(0.02)
    return health, appends
