"""In-process negative tests: each rejection path the hardening added names its reason code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.errors import AssayError, InputError
from tests.fuzz.targets import INDEX, MANIFEST


def _reason(fn, *args, **kwargs) -> str:
    with pytest.raises(AssayError) as info:
        fn(*args, **kwargs)
    return info.value.reason


@pytest.mark.parametrize(
    "doc",
    [
        dict(INDEX, manifests=[1]),
        dict(INDEX, manifests={"a": 1}),
        dict(INDEX, manifests=[dict(INDEX["manifests"][0], size=-1)]),
        dict(INDEX, manifests=[dict(INDEX["manifests"][0], size="5")]),
        dict(INDEX, manifests=[dict(INDEX["manifests"][0], digest="sha256")]),
        dict(INDEX, manifests=[dict(INDEX["manifests"][0], annotations={"a": 1})]),
        dict(INDEX, manifests=[dict(INDEX["manifests"][0], platform="linux")]),
        dict(INDEX, manifests=[INDEX["manifests"][0]] * 10_001),
        dict(MANIFEST, layers=[None]),
        dict(MANIFEST, config="sha256:00"),
        dict(MANIFEST, subject=[]),
        dict(MANIFEST, mediaType=5),
        [MANIFEST],
    ],
)
def test_manifest_structure(doc: object) -> None:
    from assay.oci import manifest

    assert _reason(manifest.check, json.dumps(doc).encode(), None, "m") == "manifest-malformed"


def test_manifest_depth_and_good_documents() -> None:
    from assay.oci import manifest

    assert _reason(manifest.check, b"[" * 10_000, None, "m") == "manifest-malformed"
    assert manifest.check(json.dumps(MANIFEST).encode(), None, "m")["layers"][0]["size"] == 10
    assert manifest.check(json.dumps(INDEX).encode(), manifest.INDEX_MEDIA_TYPES[0], "m")["manifests"]


@pytest.mark.parametrize("size", ["\u00b2", "9223372036854775808", "01", "-1", "1 ", ""])
def test_checkpoint_size(size: str) -> None:
    from assay.formats.checkpoint import parse_checkpoint

    note = f"origin\n{size}\n{'A' * 43}=\n\n\u2014 origin AAAAAAAA\n"
    assert _reason(parse_checkpoint, note) == "checkpoint-malformed"


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", str(2**63), 2**63, "1e3", " 1", True, None, 1.5])
def test_int64_fields(value: object) -> None:
    from assay.formats.encoding import as_int

    assert _reason(as_int, value, "f") == "malformed-field"
    assert as_int(str(2**63 - 1), "f") == 2**63 - 1


def test_vex_wrong_types(tmp_path: Path) -> None:
    from assay.vuln import vex

    for doc in (
        {"bomFormat": "CycloneDX", "vulnerabilities": 5},
        {"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "X", "analysis": "not_affected"}]},
        {
            "bomFormat": "CycloneDX",
            "vulnerabilities": [{"id": "X", "analysis": {"state": "not_affected"}, "affects": 1}],
        },
    ):
        (tmp_path / "vex.json").write_text(json.dumps(doc))
        assert _reason(vex.load, tmp_path / "vex.json") == "vex-malformed"
    (tmp_path / "vex.json").write_text("[" * 1000)
    assert _reason(vex.load, tmp_path / "vex.json") == "vex-malformed"


def test_docker_config_wrong_types(tmp_path: Path) -> None:
    from assay.oci.auth import docker_credentials

    for doc in ({"auths": ["registry.example"]}, {"credHelpers": ["registry.example"]}):
        (tmp_path / "config.json").write_text(json.dumps(doc))
        assert _reason(docker_credentials, "registry.example", tmp_path / "config.json") == "docker-config-malformed"


@pytest.mark.parametrize("doc", [[1], 5, {"signingConfig": "x"}])
def test_signing_config_wrong_types(doc: object) -> None:
    from assay.sign.keyless import Services

    assert _reason(Services.from_signing_config, doc) == "unknown-signing-config"


def test_yaml_depth_and_aliases() -> None:
    from assay.formats import safeyaml
    from tests.fuzz.targets import ALIAS_BOMB

    assert _reason(safeyaml.load, "[" * 100 + "]" * 100) == "yaml-too-deep"
    assert _reason(safeyaml.load, "a:\n" + "".join("  " * i + "- \n" for i in range(1, 80))) == "yaml-too-deep"
    assert _reason(safeyaml.load, ALIAS_BOMB.decode()) == "yaml-alias-budget"
    assert safeyaml.load("[" * 60 + "]" * 60) is not None


def test_durations() -> None:
    from datetime import timedelta

    from assay.policy.model import parse_duration

    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("36500d") == timedelta(days=36500)
    for bad in ("36501d", "99999999999999999999999h", "1" * 400 + "w"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_cel_interpreter_errors_are_evaluation_errors() -> None:
    """Programs the fast path leaves to cel-python end in CelError (a failed check), never a Python error."""
    from assay.policy.cel import CelError
    from assay.policy.loader import _cel
    from tests.fuzz.targets import REGRESSIONS

    variables = {"statement": {"predicate": {"x": [1]}}, "predicate": {}, "predicateType": "", "subject": []}
    source = (REGRESSIONS / "cel" / "celpy-typeerror").read_text()
    condition = _cel(source, "p.yaml", 1)
    assert condition.fast is None
    with pytest.raises(CelError):
        condition.evaluate(variables)
    leading_zero = _cel("size(subject) >= 018", "p.yaml", 1)
    assert leading_zero.fast is None  # int("018", 0) refuses it: cel-python decides
    assert leading_zero.evaluate(variables) is False


def test_lockfile_and_sbom_messages_name_the_field() -> None:
    from assay.sbom.model import lockfile_json

    with pytest.raises(InputError) as info:
        lockfile_json(b"[]", "package-lock.json")
    assert info.value.reason == "sbom-lockfile-malformed" and "package-lock.json" in info.value.message


@pytest.mark.parametrize("text", ["t: 2030-02-30T00:00:00Z", "t: 2030-13-01", "t: 2030-01-01T25:00:00Z"])
def test_yaml_timestamps_that_cannot_be_built(text: str) -> None:
    from assay.formats import safeyaml

    assert _reason(safeyaml.load, text) == "yaml-invalid"
