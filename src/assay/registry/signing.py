"""The token-signing key and its self-signed certificate in the data directory; the registry's config block.

``<data-dir>/registry/token-<alg>.pem`` (the private key, mode 0600, generated on first use) and
``token-<alg>.crt`` (a self-signed certificate over it: the registry's ``rootcertbundle``).
``<data-dir>/registry/services`` lists the service names ``assay registry auth-config`` configured, one a
line; the token endpoint accepts those and the ones given with ``--registry-service``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from assay.crypto import keys
from assay.errors import InputError
from assay.registry.token import ALGORITHMS, TokenKey

KEY_TYPES = {"ES256": "ecdsa-p256", "RS256": "rsa-3072"}
CERT_YEARS = 10


def _dir(data_dir: Path) -> Path:
    path = data_dir / "registry"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def check_alg(alg: str) -> str:
    """``alg`` if it is ES256 or RS256, else ``bad-registry-token-alg``."""
    if alg not in ALGORITHMS:
        raise InputError("bad-registry-token-alg", f"no token algorithm {alg!r}", hint="use ES256 or RS256")
    return alg


def token_key(data_dir: Path, alg: str = "ES256") -> TokenKey:
    """The signing key for ``alg`` (generated on first use, with its certificate)."""
    base = _dir(data_dir) / f"token-{check_alg(alg).lower()}"
    pem = base.with_suffix(".pem")
    if not pem.exists():
        try:
            keys.write_private(pem, keys.private_pem(keys.generate(KEY_TYPES[alg]), None))
        except Exception:
            if not pem.exists():  # another worker wrote it first
                raise
    key = TokenKey.of(keys.load_private(pem, None))
    crt = base.with_suffix(".crt")
    if not crt.exists():
        _write_cert(crt, key)
    return key


def _write_cert(path: Path, key: TokenKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assay registry token signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
        .sign(key.private_key, hashes.SHA256())
    )
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


def with_x5c(key: TokenKey, data_dir: Path, alg: str = "ES256") -> TokenKey:
    """``key`` naming its certificate in every token's ``x5c`` header too (the registry then verifies the chain
    against its ``rootcertbundle`` instead of looking the ``kid`` up)."""
    cert = x509.load_pem_x509_certificate(certificate_pem(data_dir, alg))
    der = cert.public_bytes(serialization.Encoding.DER)
    return dataclasses.replace(key, x5c=(base64.b64encode(der).decode(),))


def certificate_pem(data_dir: Path, alg: str = "ES256") -> bytes:
    """The certificate bundle the registry trusts (PEM)."""
    token_key(data_dir, alg)
    return (_dir(data_dir) / f"token-{alg.lower()}.crt").read_bytes()


def add_service(data_dir: Path, service: str) -> None:
    """Remember ``service`` as one this server issues tokens for."""
    check_service_name(service)
    if service not in configured_services(data_dir):
        with (_dir(data_dir) / "services").open("a") as fh:
            fh.write(service + "\n")


def configured_services(data_dir: Path) -> set[str]:
    """The services ``auth-config`` configured."""
    try:
        return {s.strip() for s in (data_dir / "registry" / "services").read_text().splitlines() if s.strip()}
    except FileNotFoundError:
        return set()


def check_service_name(service: str) -> str:
    """``service`` if it is a plausible service name (printable, no spaces or quotes, 1-255 characters)."""
    if not 0 < len(service) <= 255 or not service.isprintable() or any(c in service for c in ' "\\,'):
        raise InputError("bad-service-name", f"{service[:60]!r} is not a service name")
    return service


def auth_config(*, realm: str, service: str, issuer: str, bundle: str) -> str:
    """The ``auth:`` block of a distribution registry's config.yml."""
    return (
        "auth:\n"
        "  token:\n"
        f'    realm: "{realm}"\n'
        f'    service: "{service}"\n'
        f'    issuer: "{issuer}"\n'
        f'    rootcertbundle: "{bundle}"\n'
    )
