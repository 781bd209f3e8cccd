"""Signed containers of links and layouts: the legacy Metablock, in-toto's DSSE form, and Sigstore bundles.

The Metablock signs the canonical JSON of ``signed`` (securesystemslib's encoding); DSSE signs the PAE of
the payload. Key ids, key dicts and legacy signature schemes are securesystemslib's, so the reference
implementation and assay name and check keys identically.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import operator
import re
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING, Any

import orjson

from assay.crypto import keys
from assay.crypto.signer import KeyFileSigner, Signer, URISigner
from assay.errors import InputError
from assay.formats import intoto, safejson
from assay.layout import legacysig
from assay.layout.model import HEX_RE, LINK_PREDICATE, Link

if TYPE_CHECKING:
    from securesystemslib.signer import Key  # type: ignore[attr-defined]

    from assay.formats.bundle import Bundle

# securesystemslib.signer (which loads every signer backend) is imported only where legacysig does not serve;
# securesystemslib's canonical encoder, the bundle and the DSSE parsers only for what needs them (start-up).

KEYLESS_TYPE = "sigstore-oidc"


# An escape in json.dumps output (ensure_ascii=False) that is not \\ or \": a control character was escaped.
_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\[bfnrtu]")


def _has_float(doc: Any) -> bool:
    """True when a float is anywhere in ``doc`` (walked level by level with C builtins, no per-value bytecode)."""
    level = [doc]
    while level:
        types = list(map(type, level))
        if float in types:
            return True
        dicts = compress(level, map(operator.is_, types, repeat(dict)))
        lists = compress(level, map(operator.is_, types, repeat(list)))
        level = list(chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(lists)))
    return False


# Types json.dumps refuses or writes its own way go back to it (orjson would serialise them natively).
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


# The escapes in orjson's output: \" and \\ (kept in canonical JSON), the short forms and \u00XX (written raw).
_ORJSON_ESCAPE = re.compile(rb'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_SHORT = {b'"': b'\\"', b"\\": b"\\\\", b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t"}


def _raw_escape(m: re.Match[bytes]) -> bytes:
    e = m.group(1)
    return _SHORT[e] if len(e) == 1 else chr(int(e[1:], 16)).encode("utf-8")


def _canonical_fast(doc: Any, floatless: bool = False) -> bytes | None:
    """orjson's sorted compact encoding when it is provably the canonical one, else None.

    Sorted keys (code point order is UTF-8 byte order) and compact separators are the canonical form's; of
    the escapes orjson writes, canonical JSON keeps only ``\\"`` and ``\\\\`` and has every other character raw
    (a PEM key's newlines, a command's output), so those are written back raw. A float and anything orjson
    refuses (an integer beyond 64 bits, a str subclass) go the slow way.
    """
    try:
        out = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | _PASSTHROUGH)
    except TypeError:  # orjson.JSONEncodeError
        return None
    if b"\\" in out:
        if _ORJSON_ESCAPE.sub(b"", out).count(b"\\"):  # an escape of a form orjson is not known to write
            return None
        out = _ORJSON_ESCAPE.sub(_raw_escape, out)
    if not floatless and _has_float(doc):  # orjson writes floats its own way (non-finite ones as null)
        return None
    return out


def canonical(doc: Any, *, floatless: bool = False) -> bytes:
    """securesystemslib's canonical JSON (what legacy Metablock signatures cover).

    The C JSON encoder gives the same bytes (sorted keys, no spaces, only ``\\`` and ``"`` escaped) as long as
    no string holds a control character and no number is a float; otherwise securesystemslib's encoder
    (which writes control characters raw and refuses floats) decides. ``floatless`` says the caller has
    proved ``doc`` holds no float (a document just parsed by :func:`safejson.load_object_checked`).
    """
    fast = _canonical_fast(doc, floatless)
    return fast if fast is not None else _canonical_slow(doc)


def _canonical_slow(doc: Any) -> bytes:
    try:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = ""  # NaN or infinity: securesystemslib refuses it below
    no_escapes = "\\" not in text or _ESCAPE.search(text) is None
    if text and no_escapes and not _has_float(doc):
        return text.encode("utf-8")
    from securesystemslib.formats import encode_canonical

    out = encode_canonical(doc)
    assert isinstance(out, str)
    return out.encode("utf-8")


@dataclass
class SignedDoc:
    """A parsed signed link or layout: the document, its signatures, and the bytes they cover."""

    form: str  # "metablock", "dsse" or "bundle"
    document: dict[str, Any]
    signatures: list[tuple[str, bytes]] = field(default_factory=list)
    message: bytes = b""
    bundle: Bundle | None = None
    # OpenPGP signatures of a Metablock as in-toto's gpg signing writes them: keyid, signature, other_headers
    gpg: list[dict[str, str]] = field(default_factory=list)
    raw_signatures: list[dict[str, Any]] = field(default_factory=list)  # a Metablock's entries, as written

    @property
    def kind(self) -> str:
        """``link`` or ``layout``."""
        return str(self.document.get("_type"))

    def link(self, where: str) -> Link:
        """The document as a link."""
        return Link.from_dict(self.document, where)


def _payload_document(payload: bytes, where: str) -> dict[str, Any]:
    doc = safejson.load_object(payload, what=f"{where} payload")
    if doc.get("_type") in ("link", "layout"):
        return doc
    if doc.get("_type") == intoto.STATEMENT_V1:
        if doc.get("predicateType") != LINK_PREDICATE:
            raise InputError(
                "link-wrong-predicate",
                f"{where}: predicate type {doc.get('predicateType')!r}, expected {LINK_PREDICATE}",
            )
        return Link.from_statement(doc.get("subject") or [], doc.get("predicate"), where).to_dict()
    raise InputError("link-malformed", f"{where}: payload is neither a link, a layout nor a link statement")


def parse_signed(data: bytes, where: str) -> SignedDoc:
    """Parse a Metablock, a DSSE envelope or a Sigstore bundle holding a link or layout."""
    doc, floatless = safejson.load_object_checked(data, what=where)
    if "signed" in doc and "signatures" in doc:
        signed = doc["signed"]
        if not isinstance(signed, dict) or not isinstance(doc["signatures"], list):
            raise InputError("link-malformed", f"{where}: malformed Metablock")
        sigs = []
        gpg = []
        for s in doc["signatures"]:
            if not isinstance(s, dict) or not isinstance(s.get("keyid"), str):
                raise InputError("link-malformed", f"{where}: malformed signature entry")
            value = s.get("sig")
            if value is None and isinstance(s.get("signature"), str):  # in-toto's gpg signature entry
                value = s["signature"]
                headers = s.get("other_headers", "")
                if not isinstance(headers, str) or not HEX_RE.match(headers or "0"):
                    raise InputError("link-malformed", f"{where}: gpg signature other_headers is not hex")
                gpg.append({"keyid": s["keyid"], "signature": value, "other_headers": headers})
            if not isinstance(value, str):
                raise InputError("link-malformed", f"{where}: malformed signature entry")
            try:
                sigs.append((s["keyid"], bytes.fromhex(value)))
            except ValueError:
                raise InputError("link-malformed", f"{where}: signature is not hex") from None
        message = canonical(signed, floatless=floatless)
        return SignedDoc("metablock", signed, sigs, message, gpg=gpg, raw_signatures=list(doc["signatures"]))
    if "payloadType" in doc:
        from assay.formats.dsse import Envelope

        env = Envelope.from_json(doc, where)
        return SignedDoc(
            "dsse",
            _payload_document(env.payload, where),
            [(s.keyid, s.sig) for s in env.signatures],
            env.pae(),
        )
    if str(doc.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        from assay.formats.bundle import parse_bundle

        bundle = parse_bundle(doc)
        if bundle.dsse_envelope is None:
            raise InputError("link-malformed", f"{where}: the bundle holds no DSSE envelope")
        env = bundle.dsse_envelope
        return SignedDoc(
            "bundle",
            _payload_document(env.payload, where),
            [(s.keyid, s.sig) for s in env.signatures],
            env.pae(),
            bundle,
        )
    raise InputError("link-malformed", f"{where}: neither a Metablock, a DSSE envelope nor a Sigstore bundle")


def key_dict(key: Key) -> dict[str, Any]:
    """A layout ``keys`` entry: securesystemslib's key dict with its keyid."""
    d: dict[str, Any] = key.to_dict()
    d["keyid"] = key.keyid
    return d


def key_dict_from_public(public: keys.PublicKey) -> dict[str, Any]:
    """The layout key entry for a public key, with the default scheme in-toto-run uses for it."""
    fast = legacysig.key_dict(public, canonical)
    if fast is not None:
        return fast
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    return key_dict(SSlibKey.from_crypto(public))


def keyless_key_dict(
    issuer: str | None,
    subject: str | None,
    *,
    issuer_regexp: str | None = None,
    subject_regexp: str | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A layout key entry for a keyless functionary (a CI or OIDC identity rather than a key)."""
    keyval: dict[str, Any] = {}
    for name, value in (
        ("issuer", issuer),
        ("identity", subject),
        ("issuer_regexp", issuer_regexp),
        ("identity_regexp", subject_regexp),
    ):
        if value:
            keyval[name] = value
    if claims:
        keyval["claims"] = dict(sorted(claims.items()))
    d: dict[str, Any] = {"keytype": KEYLESS_TYPE, "scheme": "Fulcio", "keyval": keyval}
    import hashlib

    d["keyid"] = hashlib.sha256(canonical(d)).hexdigest()
    return d


def is_keyless(kd: dict[str, Any]) -> bool:
    """True for a keyless functionary entry."""
    return kd.get("keytype") == KEYLESS_TYPE


# Signatures under another key id tried against a key, at most (a key id is a hint, the key content decides).
MAX_OTHER_SIGNATURES = 16


def _by_content(sd: SignedDoc, keyid: str) -> list[tuple[str, bytes]]:
    """The signatures to try against key ``keyid``: those naming it (or no key) first, then the others.

    Key ids changed format over the reference implementation's history (securesystemslib once hashed
    ``keyid_hash_algorithms`` into them), so a signature made under an older key id of the same key must
    still count: it is matched by the key that verifies it, not only by the id it names.
    """
    named = [(k, s) for k, s in sd.signatures if not k or k == keyid]
    others = [(k, s) for k, s in sd.signatures if k and k != keyid]
    return named + others[:MAX_OTHER_SIGNATURES]


def is_gpg(kd: dict[str, Any]) -> bool:
    """True for in-toto's OpenPGP key entry (``type``, ``method: pgp+…``, ``keyval.public`` a dict)."""
    return str(kd.get("method", "")).startswith("pgp+") and isinstance((kd.get("keyval") or {}).get("public"), dict)


def _gpg_check(sd: SignedDoc, kd: dict[str, Any]) -> tuple[bool, str]:
    """An OpenPGP signature of ``sd`` by key ``kd`` or one of its subkeys, checked as in-toto checks it."""
    from securesystemslib._gpg.exceptions import KeyExpirationError
    from securesystemslib._gpg.functions import verify_signature

    raw_subkeys = kd.get("subkeys")
    subkeys: dict[str, Any] = raw_subkeys if isinstance(raw_subkeys, dict) else {}
    ids = {str(kd.get("keyid", "")).lower(), *(str(k).lower() for k in subkeys)}
    named = [g for g in sd.gpg if g["keyid"].lower() in ids]
    others = [g for g in sd.gpg if g["keyid"].lower() not in ids][:MAX_OTHER_SIGNATURES]
    expired = ""
    for g in named + others:
        sig = {"keyid": g["keyid"].lower(), "signature": g["signature"], "other_headers": g["other_headers"]}
        try:
            if verify_signature(sig, kd, sd.message):  # type: ignore[no-untyped-call]
                return True, "gpg signature"
        except KeyExpirationError as exc:
            if g in named:
                expired = str(exc)
        except Exception:  # a malformed key or signature packet verifies nothing
            continue
    if expired:
        return False, f"the GPG key has expired ({expired})"
    if not sd.gpg:
        return False, "no GPG signature (a GPG functionary signs with gpg)"
    return False, "no valid signature by this GPG key"


def check_signature(sd: SignedDoc, kd: dict[str, Any]) -> tuple[bool, str]:
    """(True, how) when ``sd`` carries a valid signature by key ``kd``, under any key id; (False, why not)."""
    if is_gpg(kd):
        return _gpg_check(sd, kd)
    ok = verify_legacy(sd, kd)
    return (True, "signature") if ok else (False, "no valid signature by this key")


def verify_legacy(sd: SignedDoc, kd: dict[str, Any]) -> bool:
    """True when ``sd`` carries a valid signature by key ``kd`` (securesystemslib schemes), under any key id."""
    if is_gpg(kd):
        return _gpg_check(sd, kd)[0]
    if legacysig.handles(kd):
        return any(legacysig.verify(kd, sig, sd.message) for _keyid, sig in _by_content(sd, kd["keyid"]))
    from securesystemslib.signer import Key  # type: ignore[attr-defined]
    from securesystemslib.signer import Signature as SslibSignature  # type: ignore[attr-defined]

    body = {k: v for k, v in copy.deepcopy(kd).items() if k != "keyid"}
    try:
        key = Key.from_dict(kd["keyid"], body)
    except Exception:  # an unknown key type or scheme in the layout cannot verify anything
        return False
    for _keyid, sig in _by_content(sd, kd["keyid"]):
        try:
            key.verify_signature(SslibSignature(kd["keyid"], sig.hex()), sd.message)
            return True
        except Exception:  # securesystemslib raises several types for a bad signature
            continue
    return False


def public_key_of(kd: dict[str, Any]) -> keys.PublicKey | None:
    """The cryptography public key of a key-based layout entry."""
    pub = (kd.get("keyval") or {}).get("public")
    if not isinstance(pub, str):
        return None
    try:
        if kd.get("keytype") == "ed25519" and not pub.startswith("-----"):
            from cryptography.hazmat.primitives.asymmetric import ed25519

            return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub))
        return keys.parse_public(pub.encode(), "layout key")
    except (InputError, ValueError):
        return None


def key_content(kd: dict[str, Any]) -> str:
    """The identity of a layout key by its public key content, whatever key id it is listed under.

    A PEM or hex key is reduced to the SHA-256 of its DER SubjectPublicKeyInfo (Ed25519: of its raw bytes),
    so one key in two encodings or under two key ids is one key; a GPG key is its (lower-case) fingerprint;
    a keyless functionary is its identity claims; anything else its canonical ``keytype`` and ``keyval``.
    """
    import hashlib

    from cryptography.hazmat.primitives import serialization

    if is_keyless(kd):
        return "keyless:" + hashlib.sha256(canonical(kd.get("keyval") or {})).hexdigest()
    if is_gpg(kd):
        return "gpg:" + str(kd.get("keyid", "")).lower()
    pub = public_key_of(kd)
    if pub is not None:
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "spki:" + hashlib.sha256(der).hexdigest()
    rest = {"keytype": kd.get("keytype"), "keyval": kd.get("keyval")}
    try:
        return "raw:" + hashlib.sha256(canonical(rest)).hexdigest()
    except Exception:  # a float or another value canonical JSON refuses: the key id stands for itself
        return "keyid:" + str(kd.get("keyid", ""))


def sslib_signer(signer: Signer) -> Any:
    """A securesystemslib signer for legacy signatures from an assay signer (key file or signer URI)."""
    if isinstance(signer, KeyFileSigner):
        fast = legacysig.FastSigner.for_key(signer.private_key, canonical)
        if fast is not None:
            return fast
        from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]

        return CryptoSigner(signer.private_key)
    if isinstance(signer, URISigner):
        return signer.inner
    raise InputError("unsupported-signer", "this signer cannot make in-toto legacy signatures")


def sign_metablock(signers: list[Any], document: dict[str, Any]) -> dict[str, Any]:
    """A Metablock over ``document`` signed by each securesystemslib signer."""
    message = canonical(document)
    sigs = []
    for s in signers:
        sig = s.sign(message)
        sigs.append({"keyid": sig.keyid, "sig": sig.signature})
    return {"signatures": sigs, "signed": document}


def sign_dsse(signers: list[Any], document: dict[str, Any]) -> dict[str, Any]:
    """in-toto's DSSE form: the link or layout JSON as payload, base64 signatures."""
    payload = json.dumps(document, sort_keys=True).encode()
    from assay.formats.dsse import pae

    message = pae(intoto.PAYLOAD_TYPE, payload)
    sigs = []
    for s in signers:
        sig = s.sign(message)
        sigs.append({"keyid": sig.keyid, "sig": base64.b64encode(binascii.unhexlify(sig.signature)).decode()})
    return {"payload": base64.b64encode(payload).decode(), "payloadType": intoto.PAYLOAD_TYPE, "signatures": sigs}


def link_statement(link: Link) -> intoto.Statement:
    """The in-toto Statement v1 with the link predicate v0.3 for ``link``."""
    subjects, predicate = link.to_predicate()
    return intoto.Statement(tuple(intoto.Subject(s["name"], s["digest"]) for s in subjects), LINK_PREDICATE, predicate)
