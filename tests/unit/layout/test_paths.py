"""Path traversal probes on the verification side: artifact names in links and sublayout directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InputError, VerificationError
from assay.layout.model import Link
from assay.layout.verify import Options, verify_layout
from assay.service.layout import DirLinkStore, check_step_name

from .conftest import NOW, MemStore, Party, digest, layout_doc, signed_layout


def _layout(alice: Party):
    steps = [{"name": "build", "pubkeys": [alice.keyid], "expected_products": [["CREATE", "app"], ["DISALLOW", "*"]]}]
    return layout_doc(steps, [alice])


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/shadow", "app/../../x", "..\\x"])
def test_traversing_artifact_names_in_links_are_only_names(owner: Party, alice: Party, name: str):
    store = MemStore()
    store.add_link(alice, Link("build", [], {}, {"app": digest("1"), name: digest("2")}))
    with pytest.raises(VerificationError) as exc:
        verify_layout(signed_layout(_layout(alice), owner), [owner.key], store, Options(NOW))
    assert exc.value.reason == "disallowed-artifact" and name in exc.value.message


@pytest.mark.parametrize("name", ["../up.12345678", "a/b.12345678", ".hidden.12345678", "x\\y.1"])
def test_sublayout_directory_cannot_leave_the_links_directory(tmp_path: Path, name: str):
    with pytest.raises(InputError) as exc:
        DirLinkStore(str(tmp_path)).sub(name)
    assert exc.value.reason == "link-path-invalid"


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", ".git", "a\x00b", "a\nb", "x" * 201])
def test_step_names_that_are_paths_are_refused(name: str):
    with pytest.raises(InputError) as exc:
        check_step_name(name)
    assert exc.value.reason == "step-name-invalid"
    assert check_step_name("build-1.2_x") == "build-1.2_x"
