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


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("LOCALHOST:5000/app:v1", "localhost:5000/app:v1"),
        ("localhost:05000/app:v1", "localhost:5000/app:v1"),
        ("Reg.Example.COM/acme/app:v1", "reg.example.com/acme/app:v1"),
        ("reg.example.com:443/acme/app:v1", "reg.example.com/acme/app:v1"),
        ("reg.example.com:0443/acme/app:v1", "reg.example.com/acme/app:v1"),
        ("reg.example.com:80/acme/app:v1", "reg.example.com:80/acme/app:v1"),
        ("[0:0:0:0:0:0:0:1]:05000/app:x", "[::1]:5000/app:x"),
        ("nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("registry-1.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("registry.hub.docker.com/nginx:1", "docker.io/library/nginx:1"),
        ("DOCKER.IO:443/nginx:1", "docker.io/library/nginx:1"),
        ("docker.io/acme/app:1", "docker.io/acme/app:1"),
    ],
)
def test_normalises_every_spelling_to_one(text, canonical):
    from assay.oci.reference import canonical as canon

    assert str(parse(text)) == canonical == canon(text)
    assert parse(canonical) == parse(text)


@pytest.mark.parametrize(
    "text", ["h:0/app", "h:65536/app", "h:" + "9" * 5000 + "/app", "127.0.0.01:5000/app", "[fe80::1%eth0]/app"]
)
def test_refuses_hosts_without_one_spelling(text):
    with pytest.raises(InputError) as exc:
        parse(text)
    assert exc.value.reason == "bad-image-reference"


@pytest.mark.parametrize(
    ("pattern", "canonical"),
    [
        ("LOCALHOST:05000/team/**", "localhost:5000/team/**"),
        ("docker.io/nginx", "docker.io/library/nginx"),
        ("index.docker.io/*", "docker.io/library/*"),
        ("docker.io/**", "docker.io/**"),
        ("reg.example.com:443/a/*", "reg.example.com/a/*"),
        ("*.example.com/**", "*.example.com/**"),
        ("**", "**"),
    ],
)
def test_patterns_are_normalised_like_references(pattern, canonical):
    from assay.oci.reference import canonical_pattern

    assert canonical_pattern(pattern) == canonical
