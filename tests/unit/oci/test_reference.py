import pytest

from assay.errors import InputError
from assay.oci.reference import Reference, parse

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", Reference("docker.io", "library/alpine", "latest")),
        ("alpine:3.20", Reference("docker.io", "library/alpine", "3.20")),
        ("acme/app", Reference("docker.io", "acme/app", "latest")),
        ("index.docker.io/acme/app:v1", Reference("docker.io", "acme/app", "v1")),
        ("ghcr.io/acme/tools/cli:1.0.0", Reference("ghcr.io", "acme/tools/cli", "1.0.0")),
        ("localhost:5000/app@" + D, Reference("localhost:5000", "app", None, D)),
        ("localhost/app", Reference("localhost", "app", "latest")),
        ("127.0.0.1:5000/a/b:t@" + D, Reference("127.0.0.1:5000", "a/b", "t", D)),
        ("[::1]:5000/app:x", Reference("[::1]:5000", "app", "x")),
        ("reg.example.com/a__b/c-d.e_f:T_1", Reference("reg.example.com", "a__b/c-d.e_f", "T_1")),
    ],
)
def test_parses(text, expected):
    ref = parse(text)
    assert ref == expected
    assert parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UPPER/case",
        "app:",
        "app@",
        "app@sha256:abc",
        "app@sha256:" + "AB" * 32,
        "app@md5:" + "a" * 32,
        "app:-bad",
        "a//b",
        "-app",
        "app/",
        " app",
        "host:notaport/app:tag:extra",
        "reg.example.com/" + "a" * 260,
    ],
)
def test_rejects(text):
    with pytest.raises(InputError) as exc:
        parse(text)
    assert exc.value.reason == "bad-image-reference"


def test_pin_to_digest_keeps_the_name():
    ref = parse("ghcr.io/acme/app:1.0").with_digest(D)
    assert str(ref) == f"ghcr.io/acme/app:1.0@{D}"
