"""Static key sets for issuers that publish no discovery document: ``--oidc-jwks ISSUER=PATH``.

A Kubernetes cluster's service-account issuer serves its keys at ``/openid/v1/jwks``, usually only inside the
cluster; SPIRE publishes a trust domain's keys as a SPIFFE bundle. Either file is read here:

* a plain JWKS (``{"keys": [...]}``): every key whose ``use`` is absent or ``sig`` is kept;
* a SPIFFE bundle (a JWKS with ``spiffe_sequence``/``spiffe_refresh_hint``, or keys with a SPIFFE ``use``):
  only the ``jwt-svid`` keys are kept (``x509-svid`` entries are CA certificates, not token keys), each must
  name its ``kid``; a bundle with no ``jwt-svid`` key verifies no token.

The issuer is an ``https://`` (or ``http://``) URL, or ``spiffe://TRUST-DOMAIN`` for a SPIFFE trust domain, whose
JWT-SVIDs may then omit ``iss`` (see :mod:`assay.ca.oidc`). The file is re-read when it changes (its mtime, size
or inode), so a key rotation needs no restart; a file that no longer parses refuses every token of its issuer
until it is fixed (it never keeps serving keys its operator meant to remove).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from assay.errors import InputError
from assay.formats import safejson

MAX_FILE_BYTES = 1024 * 1024
MAX_KEYS = 64
SPIFFE_USES = ("jwt-svid", "x509-svid")
KEY_TYPES = ("RSA", "EC", "OKP")
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
MAX_SPIFFE_ID = 2048


def _bad(message: str) -> InputError:
    return InputError("bad-jwks", message)


def trust_domain(uri: object) -> str | None:
    """The trust domain of a valid SPIFFE ID (``spiffe://TD[/path]``, per the SPIFFE ID rules), else None."""
    if not isinstance(uri, str) or len(uri) > MAX_SPIFFE_ID or not uri.startswith("spiffe://"):
        return None
    td, slash, path = uri[len("spiffe://") :].partition("/")
    if not _TRUST_DOMAIN.fullmatch(td):
        return None
    if slash:
        segments = path.split("/")
        if any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
            return None
    return td


def parse_spec(spec: str) -> tuple[str, Path]:
    """``ISSUER=PATH`` -> (issuer without a trailing slash, path)."""
    issuer, sep, path = spec.partition("=")
    if not sep or not path:
        raise _bad(f"--oidc-jwks {spec!r}: expected ISSUER=PATH")
    issuer = issuer.rstrip("/")
    if issuer.startswith("spiffe://"):
        if trust_domain(issuer) is None or "/" in issuer[len("spiffe://") :]:
            raise _bad(f"--oidc-jwks {spec!r}: a SPIFFE issuer is spiffe://TRUST-DOMAIN (lowercase a-z0-9._-)")
    elif not issuer.startswith(("https://", "http://")) or len(issuer) <= len("https://"):
        raise _bad(f"--oidc-jwks {spec!r}: the issuer is an https:// URL or spiffe://TRUST-DOMAIN")
    return issuer, Path(path)


def is_spiffe_bundle(doc: dict[str, Any]) -> bool:
    """A JWKS carrying a SPIFFE bundle's members or keys with a SPIFFE ``use``."""
    if "spiffe_sequence" in doc or "spiffe_refresh_hint" in doc:
        return True
    keys = doc.get("keys")
    return isinstance(keys, list) and any(isinstance(k, dict) and k.get("use") in SPIFFE_USES for k in keys)


def parse(data: bytes, what: str, spiffe: bool = False) -> dict[str, Any]:
    """The token-verification keys of a JWKS or SPIFFE bundle, as ``{"keys": [...]}``; ``bad-jwks`` otherwise.

    ``spiffe`` (the issuer is a SPIFFE trust domain) reads the file as a bundle even without SPIFFE members."""
    if len(data) > MAX_FILE_BYTES:
        raise _bad(f"{what} is larger than {MAX_FILE_BYTES} bytes")
    try:
        doc = safejson.load_object(data, what=what)
    except InputError as exc:
        raise _bad(exc.message) from None
    raw = doc.get("keys")
    if not isinstance(raw, list):
        raise _bad(f"{what} is not a JWKS: it has no keys list")
    if len(raw) > MAX_KEYS:
        raise _bad(f"{what} has {len(raw)} keys, more than {MAX_KEYS}")
    bundle = spiffe or is_spiffe_bundle(doc)
    for member in ("spiffe_sequence", "spiffe_refresh_hint"):
        value = doc.get(member)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _bad(f"{what}: {member} is not a non-negative integer")
    keys: list[dict[str, Any]] = []
    kids: set[str] = set()
    for i, key in enumerate(raw):
        if not isinstance(key, dict):
            raise _bad(f"{what}: keys[{i}] is not an object")
        use = key.get("use")
        if bundle and (use != "jwt-svid" or key.get("kty") not in KEY_TYPES):
            continue  # x509-svid roots, unknown uses or key types: ignored, as the bundle format says
        if not bundle and use not in (None, "sig"):
            continue  # encryption keys are no token keys
        kid = key.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _bad(f"{what}: keys[{i}].kid is not a string")
        if bundle and not kid:
            raise _bad(f"{what}: keys[{i}] is a jwt-svid key without a kid")
        if "d" in key or "p" in key or "k" in key:
            raise _bad(f"{what}: keys[{i}] holds private or symmetric key material")
        try:
            jwt.PyJWK(key)
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise _bad(f"{what}: keys[{i}] ({kid or 'no kid'}) is not a usable public key: {exc}") from None
        if (kid or "") in kids:
            raise _bad(f"{what}: two keys share the kid {kid!r}")
        kids.add(kid or "")
        keys.append(key)
    return {"keys": keys}


def load(path: Path, spiffe: bool = False) -> dict[str, Any]:
    """Read and :func:`parse` a key file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse(data, str(path), spiffe)


@dataclass
class JwksFile:
    """A key file as the verifier's local JWKS source: calling it gives the keys, re-read when the file changed.

    :meth:`stamp` is what the verifier compares to know its cached keys are stale (no TTL wait on rotation)."""

    path: Path
    spiffe: bool = False
    _stamp: tuple[int, int, int] | None = None
    _doc: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def __call__(self) -> dict[str, Any]:
        from assay.errors import EnvironmentFailure

        stamp = self.stamp()
        with self._lock:
            if stamp is not None and stamp == self._stamp:
                return self._doc
        try:
            doc = load(self.path, self.spiffe)
        except InputError as exc:  # at run time the file is the environment: the issuer's tokens are refused
            raise EnvironmentFailure("bad-jwks", exc.message) from None
        with self._lock:
            self._stamp, self._doc = stamp, doc
        return doc


def sources(specs: list[str]) -> dict[str, JwksFile]:
    """Every ``--oidc-jwks`` spec checked and loaded once (``bad-jwks`` names the first bad one)."""
    out: dict[str, JwksFile] = {}
    for spec in specs:
        issuer, path = parse_spec(spec)
        if issuer in out:
            raise _bad(f"--oidc-jwks names {issuer} twice")
        source = JwksFile(path, issuer.startswith("spiffe://"))
        load(path, source.spiffe)
        out[issuer] = source
    return out
