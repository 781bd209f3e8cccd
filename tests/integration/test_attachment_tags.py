"""Attachments found from a tag list the caller already holds: absent attachment tags cost no round trip, present
ones are read as before (the profile scheduler lists tags on every evaluation and hands them down)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_assay
from tests.integration.conftest import push_image


def test_collect_with_listed_tags(registry, tmp_path: Path) -> None:
    from assay.oci.target import RegistryAuth, open_target
    from assay.service.image import collect

    push_image(registry.host, "tags/app", "latest", b"one")
    push_image(registry.host, "tags/other", "latest", b"two")
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    signed = run_assay("sign", f"{registry.host}/tags/app:latest", "--key", "k.key", "--insecure", cwd=tmp_path)
    assert signed.code == 0, signed.err
    auth = RegistryAuth(insecure=True)

    def attached(repo: str, with_tags: bool) -> tuple[int, list[str]]:
        t = open_target(f"{registry.host}/{repo}:latest", auth)
        digest, _, _ = t.resolve()
        tags = frozenset(t.store.list_tags(t.repository)) if with_tags else None
        seen: list[str] = []
        real = t.store.request

        def counting(method: str, path: str, **kw: object):
            seen.append(f"{method} {path}")
            return real(method, path, **kw)

        t.store.request = counting  # type: ignore[method-assign]
        try:
            found = collect(t.store, t.repository, digest, ("referrer", "sig"), tags)
        finally:
            del t.store.request
        return len(found.candidates), seen

    # signed: the same attachments whether or not the tags are handed in
    assert attached("tags/app", True)[0] == attached("tags/app", False)[0] == 2
    # unsigned: with the tag list, neither the fallback index nor the .sig tag is fetched
    n, with_list = attached("tags/other", True)
    m, without = attached("tags/other", False)
    assert n == m == 0
    assert not any("/manifests/sha256-" in r for r in with_list)
    assert sum("/manifests/sha256-" in r for r in without) >= 1
