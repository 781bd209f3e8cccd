"""Where a broker key-encryption key's private part lives: a 0600 file, a PKCS#11 token, or AWS KMS.

``--kek`` backends (the text stored in ``broker_keys.private_ref``):

* ``file`` — an age X25519 identity in a 0600 file under the data directory (``file:PATH``); algorithm ``X25519``.
* ``pkcs11:token=LABEL;object=LABEL[;id=%01…][;slot-id=N][?pin-value=…|pin-source=PATH][&module-path=…]``
  (RFC 7512 attribute names) — a P-256 key pair on the token: generated there as sensitive, non-extractable and
  derive-only when no such private key exists yet, else the existing one (which must allow ``CKA_DERIVE``).
  The PIN comes from ``pin-value``, the file ``pin-source`` names, or ``ASSAY_HSM_PIN``. The module is the
  server's ``ASSAY_PKCS11_MODULE`` (or ``PYKCS11LIB``, as for ``hsm:`` signers); a ``module-path`` naming another
  library is refused, so a key creator cannot make the server load code. Algorithm ``piv-p256``.
* ``awskms:`` (a new ``ECC_NIST_P256`` ``KEY_AGREEMENT`` key) or ``awskms:KEY-ID|ARN|alias/NAME`` (an existing
  one); the unwrap is ``DeriveSharedSecret``. Needs boto3 (the ``kms`` extra). Algorithm ``piv-p256``.

P-256 keys wrap with age-plugin-yubikey's ``piv-p256`` stanza (:mod:`assay.crypt.p256`); the private operation
is the raw ECDH derivation (``CKM_ECDH1_DERIVE`` with ``CKD_NULL``, or KMS), so the private key never leaves the
token or KMS. PKCS#11 sessions and KMS clients are opened once per key reference and kept.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypt import age, p256
from assay.errors import AssayError, EnvironmentFailure, InputError

X25519 = "X25519"
P256 = p256.STANZA_TYPE  # "piv-p256": the algorithm column of a P-256 key version
BACKENDS = ("file", "pkcs11:", "awskms:")


@dataclass(frozen=True)
class Created:
    algorithm: str
    recipient: str
    private_ref: str


def create(spec: str, key_dir: Path, project: str, name: str, version: int) -> Created:
    """A new KEK for ``project/name`` version ``version`` in the backend ``spec`` names."""
    spec = (spec or "file").strip()
    if spec == "file":
        return _create_file(key_dir, project, name, version)
    if spec.startswith("pkcs11:"):
        return _create_pkcs11(spec, f"assay-kek-{project}-{name}-v{version}")
    if spec.startswith("awskms:"):
        return _create_kms(spec, f"assay broker KEK {project}/{name} v{version}")
    raise InputError("bad-kek", f"--kek {spec!r}: expected one of {', '.join(BACKENDS)}")


def unwrapper(algorithm: str, recipient: str, private_ref: str) -> age.Unwrapper:
    """What opens this key version's stanzas: the file identity, or a P-256 identity whose derivation runs in
    the token or KMS (cached per ``private_ref``)."""
    if algorithm == X25519 and private_ref.startswith("file:"):
        return _read_identity(private_ref)
    if algorithm == P256:

        def derive(point: ec.EllipticCurvePublicKey) -> bytes:  # the session/client opens on the first stanza for it
            return _deriver(private_ref, recipient)(point)

        return p256.Identity(p256.Recipient.parse(recipient), derive)
    raise EnvironmentFailure("kek-unavailable", f"unknown KEK algorithm {algorithm!r} / reference scheme")


def wrapper(algorithm: str, recipient: str) -> age.Wrapper:
    return p256.Recipient.parse(recipient) if algorithm == P256 else age.Recipient.parse(recipient)


# --- file ---------------------------------------------------------------------------------------------------


def _create_file(key_dir: Path, project: str, name: str, version: int) -> Created:
    ident = age.Identity.generate()
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_dir / f"{project}--{name}--v{version}.age-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(str(ident) + "\n")
    return Created(X25519, str(ident.recipient()), f"file:{path}")


@functools.lru_cache(maxsize=256)
def _read_identity(private_ref: str) -> age.Identity:
    return age.parse_identities(Path(private_ref.removeprefix("file:")).read_text())[0]


_derivers: dict[str, p256.Derive] = {}  # private_ref -> its open PKCS#11 session's or KMS client's derive
_derivers_lock = threading.Lock()


def _deriver(private_ref: str, recipient: str) -> p256.Derive:
    """The derivation of the key ``private_ref`` names, opened once; it must still be the key of ``recipient``."""
    with _derivers_lock:
        found = _derivers.get(private_ref)
        if found is not None:
            return found
        key: _Pkcs11Key | _KmsKey
        if private_ref.startswith("pkcs11:"):
            key = _Pkcs11Key.open(Pkcs11Uri.parse(private_ref))
        elif private_ref.startswith("awskms:"):
            key = _KmsKey.open(private_ref.removeprefix("awskms:"))
        else:
            raise EnvironmentFailure("kek-unavailable", "unknown P-256 KEK reference scheme")
        if str(p256.Recipient.from_key(key.public)) != recipient:
            raise EnvironmentFailure("kek-key-changed", "the HSM/KMS key is no longer the one this key version names")
        _derivers[private_ref] = key.derive
        return key.derive


def _drop(private_ref: str) -> None:
    with _derivers_lock:
        _derivers.pop(private_ref, None)


def forget() -> None:
    """Drop cached identities, sessions and clients (tests; after a token was re-initialised)."""
    _read_identity.cache_clear()
    with _derivers_lock:
        _derivers.clear()


# --- PKCS#11 --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of an RFC 7512 ``pkcs11:`` URI a KEK uses."""

    text: str
    token: str | None
    slot: int | None
    label: str | None
    id: bytes | None
    pin_value: str | None
    pin_source: str | None
    module: str | None

    @classmethod
    def parse(cls, text: str) -> Pkcs11Uri:
        body = text.removeprefix("pkcs11:")
        path, _, query = body.partition("?")
        attrs: dict[str, str] = {}
        for part, sep in ((path, ";"), (query, "&")):
            for item in filter(None, part.split(sep)):
                key, eq, value = item.partition("=")
                if not eq:
                    raise InputError("bad-kek", f"pkcs11 URI attribute {item!r} needs a value")
                attrs[key] = value
        known = {"token", "slot-id", "object", "id", "type", "pin-value", "pin-source", "module-path"}
        unknown = sorted(set(attrs) - known)
        if unknown:
            raise InputError("bad-kek", f"pkcs11 URI: unsupported attribute(s) {', '.join(unknown)}")
        if attrs.get("type", "private") != "private":
            raise InputError("bad-kek", "pkcs11 URI: a KEK names its private key (type=private)")
        slot = attrs.get("slot-id")
        if "token" not in attrs and slot is None:
            raise InputError("bad-kek", "pkcs11 URI needs token=LABEL or slot-id=N")
        if slot is not None and not slot.isdigit():
            raise InputError("bad-kek", "pkcs11 URI: slot-id is a number")
        raw_id = attrs.pop("id", None)
        attr = {k: unquote(v) for k, v in attrs.items()}
        return cls(
            text, attr.get("token"), int(slot) if slot is not None else None, attr.get("object"),
            unquote_to_bytes(raw_id) if raw_id is not None else None,
            attr.get("pin-value"), attr.get("pin-source"), attr.get("module-path"),
        )  # fmt: skip

    def with_object(self, label: str) -> Pkcs11Uri:
        """This URI naming the object ``label`` (for a key generated under a default label)."""
        path, sep, query = self.text.partition("?")
        from urllib.parse import quote

        return Pkcs11Uri.parse(f"{path};object={quote(label, safe='')}{sep}{query}")

    def module_path(self) -> str:
        configured = os.environ.get("ASSAY_PKCS11_MODULE") or os.environ.get("PYKCS11LIB")
        if not configured:
            raise EnvironmentFailure(
                "pkcs11-unavailable", "no PKCS#11 module configured", hint="set ASSAY_PKCS11_MODULE on the server"
            )
        if self.module is not None and os.path.realpath(self.module) != os.path.realpath(configured):
            raise InputError("pkcs11-module-not-allowed", "module-path names a library the server is not set up with")
        return configured

    def pin(self) -> str:
        if self.pin_value is not None:
            return self.pin_value
        if self.pin_source is not None:
            try:
                return Path(self.pin_source.removeprefix("file:")).read_text().rstrip("\r\n")
            except OSError:
                raise EnvironmentFailure("kek-pin-missing", "the pkcs11 URI's pin-source cannot be read") from None
        pin = os.environ.get("ASSAY_HSM_PIN")
        if pin is None:
            raise EnvironmentFailure("kek-pin-missing", "the token needs a PIN", hint="set ASSAY_HSM_PIN")
        return pin


def _point_of(pub: Any) -> ec.EllipticCurvePublicKey:
    from asn1crypto.core import OctetString
    from pkcs11 import Attribute

    raw = bytes(pub[Attribute.EC_POINT])
    if raw[:1] == b"\x04" and len(raw) != 65:  # DER OCTET STRING around the point (as PKCS#11 stores it)
        raw = bytes(OctetString.load(raw).native)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


class _Pkcs11Key:
    """A session on the token, logged in, with the KEK's private key object (whose value is never read)."""

    def __init__(self, uri: Pkcs11Uri, session: Any, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self.uri, self.session, self.private, self.public = uri, session, private, public
        self.lock = threading.Lock()

    @classmethod
    def open(cls, uri: Pkcs11Uri, generate_label: str | None = None) -> _Pkcs11Key:
        """The key the URI names; when there is none and ``generate_label`` is given, one generated on the
        token (under the URI's object label, else ``generate_label``)."""
        try:
            import pkcs11
            from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
            from pkcs11.util.ec import encode_named_curve_parameters
        except ImportError:
            raise EnvironmentFailure("pkcs11-unavailable", "python-pkcs11 is not installed") from None
        p256_params = encode_named_curve_parameters("secp256r1")
        find: dict[str, Any] = {"key_type": KeyType.EC}
        if uri.label is not None:
            find["label"] = uri.label
        if uri.id is not None:
            find["id"] = uri.id
        try:
            lib = pkcs11.lib(uri.module_path())
            if uri.slot is not None:
                slots = [s for s in lib.get_slots(token_present=True) if s.slot_id == uri.slot]
                if not slots:
                    raise InputError("kek-token-not-found", f"no token in PKCS#11 slot {uri.slot}")
                token = slots[0].get_token()
                if uri.token is not None and token.label != uri.token:
                    raise InputError("kek-token-not-found", f"slot {uri.slot} holds token {token.label!r}")
            else:
                token = lib.get_token(token_label=uri.token)
            try:
                session = token.open(user_pin=uri.pin(), rw=True)
            except pkcs11.exceptions.UserAlreadyLoggedIn:  # another session of this process logged in already
                session = token.open(rw=True)
            private = public = None
            if uri.label is not None or uri.id is not None:
                private = _one(session, ObjectClass.PRIVATE_KEY, find)
                public = _one(session, ObjectClass.PUBLIC_KEY, find)
            if private is None:
                if generate_label is None:
                    raise InputError("kek-key-not-found", "the token holds no private key the KEK URI names")
                label = uri.label or generate_label
                params = session.create_domain_parameters(KeyType.EC, {Attribute.EC_PARAMS: p256_params}, local=True)
                public, private = params.generate_keypair(
                    store=True, label=label, id=uri.id, capabilities=MechanismFlag.DERIVE,
                    public_template={Attribute.TOKEN: True, Attribute.VERIFY: False, Attribute.ENCRYPT: False,
                                     Attribute.WRAP: False, Attribute.DERIVE: False},
                    private_template={Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                      Attribute.EXTRACTABLE: False, Attribute.DERIVE: True, Attribute.SIGN: False,
                                      Attribute.DECRYPT: False, Attribute.UNWRAP: False},
                )  # fmt: skip
            if public is None:
                raise InputError("kek-key-unsuitable", "the token holds the private key but not its public key")
            if bytes(private[Attribute.EC_PARAMS]) != p256_params:
                raise InputError("kek-key-unsuitable", "the token's key is not a P-256 key")
            if not private[Attribute.DERIVE]:
                raise InputError("kek-key-unsuitable", "the token's key does not allow ECDH derivation (CKA_DERIVE)")
            return cls(uri, session, private, _point_of(public))
        except AssayError:
            raise
        except pkcs11.exceptions.NoSuchToken:
            raise InputError("kek-token-not-found", f"no PKCS#11 token labelled {uri.token!r}") from None
        except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange):
            raise InputError("kek-pin-incorrect", "the token refused the PIN") from None
        except Exception as exc:  # the token's and the library's errors vary; report them without a traceback
            raise EnvironmentFailure("kek-unavailable", f"PKCS#11: {type(exc).__name__}: {exc}") from None

    def derive(self, point: ec.EllipticCurvePublicKey) -> bytes:
        from pkcs11 import KDF, Attribute, KeyType, Mechanism

        raw = point.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        try:
            with self.lock:
                secret = self.private.derive_key(
                    KeyType.GENERIC_SECRET, 256, mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(KDF.NULL, None, raw),
                    template={Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                )  # fmt: skip
                try:
                    return bytes(secret[Attribute.VALUE])
                finally:
                    secret.destroy()
        except Exception as exc:  # a closed session or a removed token: the next unwrap opens a new session
            _drop(self.uri.text)
            raise EnvironmentFailure("kek-unavailable", f"PKCS#11 ECDH failed: {type(exc).__name__}") from None


def _one(session: Any, cls: Any, find: dict[str, Any]) -> Any:
    from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey

    try:
        return session.get_key(object_class=cls, **find)
    except NoSuchKey:
        return None
    except MultipleObjectsReturned:
        raise InputError("kek-key-ambiguous", "more than one token object matches the KEK URI") from None


def _create_pkcs11(spec: str, default_label: str) -> Created:
    uri = Pkcs11Uri.parse(spec)
    key = _Pkcs11Key.open(uri, generate_label=default_label)
    ref = uri if uri.label is not None or uri.id is not None else uri.with_object(default_label)
    key.uri = ref
    with _derivers_lock:
        _derivers[ref.text] = key.derive  # the session stays open for this key's unwraps
    return Created(P256, str(p256.Recipient.from_key(key.public)), ref.text)


# --- AWS KMS --------------------------------------------------------------------------------------------------


def _kms(region: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise EnvironmentFailure(
            "kms-unavailable", "awskms: needs boto3", hint="install the kms extra: pip install 'assay[kms]'"
        ) from None
    try:
        client = boto3.client("kms", region_name=region)
    except Exception as exc:  # no region, bad configuration
        raise EnvironmentFailure("kms-unavailable", f"AWS KMS client: {exc}", hint="set AWS_REGION") from None
    if not hasattr(client, "derive_shared_secret"):
        raise EnvironmentFailure("kms-unavailable", "this boto3 has no DeriveSharedSecret; upgrade boto3")
    return client


def _region(key_id: str) -> str | None:
    parts = key_id.split(":")
    return parts[3] if key_id.startswith("arn:") and len(parts) > 4 and parts[3] else None


def _kms_error(exc: Exception) -> AssayError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code in ("NotFoundException", "InvalidArnException"):
        return InputError("kek-key-not-found", "AWS KMS has no such key")
    if code in ("AccessDeniedException", "KMSInvalidStateException", "DisabledException"):
        return EnvironmentFailure("kek-unavailable", f"AWS KMS refused: {code}")
    return EnvironmentFailure("kek-unavailable", f"AWS KMS: {type(exc).__name__}: {code or exc}")


class _KmsKey:
    def __init__(self, client: Any, arn: str, public: ec.EllipticCurvePublicKey) -> None:
        self.client, self.arn, self.public = client, arn, public

    @classmethod
    def open(cls, key_id: str, create_description: str | None = None) -> _KmsKey:
        client = _kms(_region(key_id) if key_id else None)
        try:
            if not key_id:
                if create_description is None:
                    raise InputError("bad-kek", "awskms: needs a key id, ARN or alias")
                meta = client.create_key(
                    KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT", Description=create_description
                )["KeyMetadata"]
                key_id = str(meta["Arn"])
            info = client.get_public_key(KeyId=key_id)
        except AssayError:
            raise
        except Exception as exc:  # botocore's ClientError and connection errors
            raise _kms_error(exc) from None
        spec = info.get("KeySpec") or info.get("CustomerMasterKeySpec")
        if spec != "ECC_NIST_P256" or info.get("KeyUsage") != "KEY_AGREEMENT":
            raise InputError(
                "kek-key-unsuitable",
                f"the KMS key is {spec}/{info.get('KeyUsage')}; a KEK needs ECC_NIST_P256/KEY_AGREEMENT",
            )
        public = serialization.load_der_public_key(bytes(info["PublicKey"]))
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise InputError("kek-key-unsuitable", "the KMS key's public key is not an EC key")
        return cls(client, str(info.get("KeyId") or key_id), public)

    def derive(self, point: ec.EllipticCurvePublicKey) -> bytes:
        spki = point.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        try:
            out = self.client.derive_shared_secret(KeyId=self.arn, KeyAgreementAlgorithm="ECDH", PublicKey=spki)
        except Exception as exc:
            raise _kms_error(exc) from None
        return bytes(out["SharedSecret"])


def _create_kms(spec: str, description: str) -> Created:
    key = _KmsKey.open(spec.removeprefix("awskms:").strip(), create_description=description)
    with _derivers_lock:
        _derivers[f"awskms:{key.arn}"] = key.derive
    return Created(P256, str(p256.Recipient.from_key(key.public)), f"awskms:{key.arn}")
