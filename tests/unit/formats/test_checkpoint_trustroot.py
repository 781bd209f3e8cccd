import base64
import copy
import json

import pytest

from assay.errors import InputError
from assay.formats.checkpoint import parse_checkpoint
from assay.formats.trustroot import parse_trusted_root
from tests.conftest import CONFORMANCE

ROOT = b"\x11" * 32
SIG = "\u2014 example.org/log " + base64.b64encode(b"\x01\x02\x03\x04" + b"s" * 64).decode() + "\n"


def _note(body: str) -> str:
    return body + "\n" + SIG


def test_checkpoint_fields_and_signed_text():
    cp = parse_checkpoint(_note(f"example.org/log\n42\n{base64.b64encode(ROOT).decode()}\nextra line\n"))
    assert (cp.origin, cp.size, cp.root_hash, cp.extensions) == ("example.org/log", 42, ROOT, ("extra line",))
    assert cp.signed_text.endswith(b"extra line\n")
    assert cp.signatures[0].key_hint == b"\x01\x02\x03\x04"


@pytest.mark.parametrize(
    "body",
    [
        "\n42\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
        "o\n042\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n42\n" + base64.b64encode(b"short").decode() + "\n",
        "o\n42\n",
    ],
)
def test_malformed_checkpoints(body):
    with pytest.raises(InputError) as exc:
        parse_checkpoint(_note(body))
    assert exc.value.reason == "checkpoint-malformed"


def test_checkpoint_without_signatures_or_separator():
    good = f"o\n1\n{base64.b64encode(ROOT).decode()}\n"
    for text in (good, good + "\n", good + "\nnot a signature line\n"):
        with pytest.raises(InputError):
            parse_checkpoint(text)


def _public_good() -> dict:
    return json.loads((CONFORMANCE / "public-good" / "trusted_root.json").read_text())


def test_public_good_root_parses_with_windows():
    tr = parse_trusted_root(json.dumps(_public_good()))
    assert len(tr.tlogs) == 2 and len(tr.ctlogs) == 2 and len(tr.certificate_authorities) == 2
    first_ca = tr.certificate_authorities[0]
    assert first_ca.valid_for.end is not None and first_ca.valid_for.end.year == 2022


def test_client_trust_config_wraps_a_root():
    tr = parse_trusted_root(
        {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": _public_good()}
    )
    assert len(tr.tlogs) == 2


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda d: d.update(mediaType="application/vnd.dev.sigstore.trustedroot+json;version=9"),
            "unknown-trusted-root-media-type",
        ),
        (lambda d: d["tlogs"][0]["publicKey"]["validFor"].pop("start"), "trusted-root-malformed"),
        (lambda d: d["ctlogs"][0]["publicKey"].update(rawBytes="AAAA"), "trusted-root-malformed"),
        (lambda d: d["certificateAuthorities"][0]["certChain"].update(certificates=[]), "trusted-root-malformed"),
        (lambda d: d["certificateAuthorities"][0]["validFor"].update(start="yesterday"), "trusted-root-malformed"),
    ],
)
def test_malformed_trust_roots(mutate, reason):
    d = copy.deepcopy(_public_good())
    mutate(d)
    with pytest.raises(InputError) as exc:
        parse_trusted_root(json.dumps(d))
    assert exc.value.reason == reason


def test_trusted_root_v02_media_type_accepted():
    d = copy.deepcopy(_public_good())
    d["mediaType"] = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
    assert len(parse_trusted_root(json.dumps(d)).tlogs) == 2
