"""``assay server rotate-key``'s record: retired material keeps a closed window in the trusted root."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from assay.crypto import keys
from assay.errors import AssayError
from assay.server import trust_history
from assay.server.config import key_in_data_dir


def _doc(spki: bytes) -> dict:  # type: ignore[type-arg]
    return {
        "tlogs": [{"baseUrl": "http://x", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": base64.b64encode(spki).decode(), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00Z"}},
                   "logId": {"keyId": base64.b64encode(hashlib.sha256(spki).digest()).decode()}}],
        "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
    }  # fmt: skip


def test_rotated_log_key_keeps_verifying_in_its_window(tmp_path: Path) -> None:
    old = keys.spki_der(key_in_data_dir(tmp_path, "log").public_key)
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    entry = trust_history.rotate(tmp_path, "log", now=when)
    assert entry["end"] == "2030-01-02T03:04:05Z"
    assert not (tmp_path / "keys" / "log.pem").exists()
    assert list((tmp_path / "keys" / "retired").glob("log-*.pem"))  # kept, not deleted
    new = keys.spki_der(key_in_data_dir(tmp_path, "log").public_key)
    assert new != old
    doc = trust_history.merge(tmp_path, _doc(new))
    current, retired = doc["tlogs"]
    assert current["publicKey"]["validFor"] == {"start": "2030-01-02T03:04:05Z"}
    assert base64.b64decode(retired["publicKey"]["rawBytes"]) == old
    assert retired["publicKey"]["validFor"]["end"] == "2030-01-02T03:04:05Z"
    assert retired["logId"]["keyId"] == base64.b64encode(hashlib.sha256(old).digest()).decode()
    # a second rotation starts the retired window where the first ended
    second = trust_history.rotate(tmp_path, "log", now=when + dt.timedelta(days=1))
    assert second["start"] == "2030-01-02T03:04:05Z"


def test_rotate_refuses_unknown_kinds_and_missing_material(tmp_path: Path) -> None:
    with pytest.raises(AssayError) as unknown:
        trust_history.rotate(tmp_path, "hsm")
    assert unknown.value.reason == "rotate-kind-unknown" and unknown.value.exit_code == 2
    with pytest.raises(AssayError) as missing:
        trust_history.rotate(tmp_path, "ca")
    assert missing.value.reason == "rotate-key-missing" and missing.value.exit_code == 2
    assert not (tmp_path / trust_history.HISTORY).exists()  # nothing recorded
