"""piv-p256 stanzas (age-plugin-yubikey's format) for P-256 KEKs: the format checked from first principles, round
trips through the age codec, and each refusal (wrong key, tampered body, malformed stanza) with its reason."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from assay.crypt import age, p256
from assay.errors import AssayError

# A recipient published in age-plugin-yubikey's README (compressed point, Bech32 under "age1yubikey").
PUBLISHED = "age1yubikey1q2w7u3vpya839jxxuq8g0sedh3d740d4xvn639sqhr95ejj8vu3hyfumptt"


def _pair() -> tuple[ec.EllipticCurvePrivateKey, p256.Recipient, p256.Identity]:
    priv = ec.generate_private_key(ec.SECP256R1())
    recip = p256.Recipient.from_key(priv.public_key())
    return priv, recip, p256.Identity(recip, p256.software_derive(priv))


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_published_recipient_parses_and_round_trips() -> None:
    r = p256.Recipient.parse(PUBLISHED)
    assert len(r.public) == 33 and r.public[0] in (2, 3)
    assert str(r) == PUBLISHED
    assert isinstance(p256.any_recipient(PUBLISHED), p256.Recipient)


def test_stanza_matches_the_published_construction() -> None:
    """Tag, ephemeral key, HKDF salt/info and the zero-nonce ChaCha20-Poly1305 body, recomputed independently."""
    priv, recip, _ = _pair()
    file_key = bytes(range(16))
    st = recip.wrap(file_key)
    assert st.type == "piv-p256" and len(st.args) == 2 and len(st.body) == 32
    assert all("=" not in a for a in st.args)
    tag, epk = _unb64(st.args[0]), _unb64(st.args[1])
    assert tag == hashlib.sha256(recip.public).digest()[:4]
    assert len(epk) == 33 and epk[0] in (2, 3)
    shared = priv.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk))
    key = HKDF(hashes.SHA256(), 32, epk + recip.public, b"piv-p256").derive(shared)
    assert ChaCha20Poly1305(key).decrypt(b"\0" * 12, st.body, None) == file_key


def test_round_trip_through_age_and_mixed_recipients() -> None:
    _, recip, ident = _pair()
    x = age.Identity.generate()
    out = io.BytesIO()
    age.encrypt(io.BytesIO(b"secret payload"), out, [x.recipient(), recip])
    for who in (ident, x):
        sink = io.BytesIO()
        age.decrypt(io.BytesIO(out.getvalue()), sink, [who])
        assert sink.getvalue() == b"secret payload"


def test_wrong_key_returns_none_without_deriving() -> None:
    _, recip, _ = _pair()
    other = ec.generate_private_key(ec.SECP256R1())
    calls: list[object] = []

    def derive(point: ec.EllipticCurvePublicKey) -> bytes:
        calls.append(point)
        return other.exchange(ec.ECDH(), point)

    wrong = p256.Identity(p256.Recipient.from_key(other.public_key()), derive)
    assert wrong.unwrap([recip.wrap(b"k" * 16)]) is None
    assert calls == []  # the tag names another key: no HSM/KMS call is made


def test_wrong_secret_under_the_right_tag_is_refused() -> None:
    """A derive that answers with another key's secret (a mis-wired backend) opens nothing."""
    _, recip, _ = _pair()
    other = ec.generate_private_key(ec.SECP256R1())
    liar = p256.Identity(recip, p256.software_derive(other))
    assert liar.unwrap([recip.wrap(b"k" * 16)]) is None


def test_tampered_body_returns_none() -> None:
    _, recip, ident = _pair()
    st = recip.wrap(b"k" * 16)
    bad = age.Stanza(st.type, st.args, bytes([st.body[0] ^ 1]) + st.body[1:])
    assert ident.unwrap([bad]) is None
    assert ident.unwrap([st]) == b"k" * 16


def test_other_stanza_types_are_skipped() -> None:
    _, recip, ident = _pair()
    x = age.Identity.generate().recipient().wrap(b"f" * 16)
    grease = age.Stanza("some-plugin", ("a", "b"), b"\0" * 40)
    assert ident.unwrap([x, grease]) is None
    assert ident.unwrap([x, grease, recip.wrap(b"f" * 16)]) == b"f" * 16
    # and the X25519 identity skips piv-p256 stanzas
    assert age.Identity.generate().unwrap([recip.wrap(b"f" * 16)]) is None


def test_file_for_another_p256_key_fails_no_matching_identity() -> None:
    _, recip, _ = _pair()
    _, _, other = _pair()
    out = io.BytesIO()
    age.encrypt(io.BytesIO(b"x"), out, [recip])
    with pytest.raises(AssayError) as exc:
        age.decrypt(io.BytesIO(out.getvalue()), io.BytesIO(), [other])
    assert exc.value.reason == "no-matching-identity"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda st: age.Stanza(st.type, st.args[:1], st.body),  # one argument
        lambda st: age.Stanza(st.type, st.args, st.body[:31]),  # short body
        lambda st: age.Stanza(st.type, (st.args[0] + "AA", st.args[1]), st.body),  # long tag
        lambda st: age.Stanza(st.type, (st.args[0], p256._b64(b"\x04" + b"\1" * 32)), st.body),  # not compressed
        lambda st: age.Stanza(st.type, (st.args[0], p256._b64(b"\x02" + b"\xff" * 32)), st.body),  # off the curve
        lambda st: age.Stanza(st.type, (st.args[0], st.args[1] + "="), st.body),  # padded base64
    ],
)
def test_malformed_stanza_is_refused(mutate: object) -> None:
    _, recip, ident = _pair()
    st = mutate(recip.wrap(b"k" * 16))  # type: ignore[operator]
    with pytest.raises(AssayError) as exc:
        ident.unwrap([st])
    assert exc.value.reason in ("malformed-stanza", "malformed-header")


@pytest.mark.parametrize(
    "text",
    [
        "age1yubikey1qqqqqqqq",  # bad checksum
        PUBLISHED.upper().replace("AGE1YUBIKEY1", "age1yubikey1"),  # mixed case
        "age1yubikey1" + PUBLISHED[12:-1] + ("q" if PUBLISHED[-1] != "q" else "p"),  # checksum broken
        str(age.Identity.generate().recipient()),  # an X25519 recipient is not a P-256 one
    ],
    ids=["bad-checksum", "mixed-case", "checksum-broken", "x25519"],  # fixed ids: xdist workers collect alike
)
def test_bad_recipient_text_is_refused(text: str) -> None:
    with pytest.raises(AssayError) as exc:
        p256.Recipient.parse(text)
    assert exc.value.reason == "bad-recipient"


def test_recipient_must_be_a_point() -> None:
    from assay.crypt import bech32

    with pytest.raises(AssayError) as exc:
        p256.Recipient.parse(bech32.encode("age1yubikey", b"\x02" + b"\xff" * 32))
    assert exc.value.reason == "bad-recipient"
    with pytest.raises(AssayError) as exc:
        p256.Recipient.from_key(ec.generate_private_key(ec.SECP384R1()).public_key())
    assert exc.value.reason == "bad-recipient"


def test_pkcs11_kek_uri_parsing() -> None:
    from assay.broker import kek

    u = kek.Pkcs11Uri.parse("pkcs11:token=my%20hsm;object=k1;id=%01%ff;slot-id=3?pin-source=/run/pin&module-path=/m.so")
    assert (u.token, u.label, u.id, u.slot, u.pin_source, u.module) == (
        "my hsm",
        "k1",
        b"\x01\xff",
        3,
        "/run/pin",
        "/m.so",
    )
    assert kek.Pkcs11Uri.parse("pkcs11:token=t").with_object("a b").label == "a b"
    for bad in ("pkcs11:token", "pkcs11:slot-id=x", "pkcs11:id=%01", "pkcs11:token=t;serial=1"):
        with pytest.raises(AssayError) as exc:
            kek.Pkcs11Uri.parse(bad)
        assert exc.value.reason == "bad-kek", bad


def test_pin_source_and_missing_pin(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from assay.broker import kek

    pin = Path(str(tmp_path)) / "pin"
    pin.write_text("4321\n")
    assert kek.Pkcs11Uri.parse(f"pkcs11:token=t?pin-source=file:{pin}").pin() == "4321"
    assert kek.Pkcs11Uri.parse("pkcs11:token=t?pin-value=99").pin() == "99"
    monkeypatch.delenv("ASSAY_HSM_PIN", raising=False)
    for text in ("pkcs11:token=t", f"pkcs11:token=t?pin-source={pin}.missing"):
        with pytest.raises(AssayError) as exc:
            kek.Pkcs11Uri.parse(text).pin()
        assert exc.value.reason == "kek-pin-missing"


def test_unknown_kek_algorithm_is_refused() -> None:
    from assay.broker import kek

    with pytest.raises(AssayError) as exc:
        kek.unwrapper("RSA-OAEP", "x", "file:/nonexistent")
    assert exc.value.reason == "kek-unavailable"


def test_hsm_version_is_not_opened_for_another_versions_stanza() -> None:
    """An unreachable HSM/KMS key version does not stop older file-key versions from unwrapping."""
    from assay.broker import kek

    _, recip, _ = _pair()
    ident = kek.unwrapper(kek.P256, str(recip), "pkcs11:token=nowhere")
    x = age.Identity.generate().recipient().wrap(b"f" * 16)
    other = p256.Recipient.from_key(ec.generate_private_key(ec.SECP256R1()).public_key()).wrap(b"f" * 16)
    assert ident.unwrap([x, other]) is None  # no session was needed: X25519, and a piv-p256 tag for another key
