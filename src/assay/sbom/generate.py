"""``assay sbom TARGET``: resolve the target to a tree, run every cataloger, write a document."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.sbom import cyclonedx, spdx
from assay.sbom.catalog import catalog_all, golang, wanted
from assay.sbom.model import Component
from assay.sbom.source import DirTree, Tree, image_tree

FORMATS = ("cyclonedx-json", "spdx-json")


def _timestamp() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        datetime.fromtimestamp(int(epoch), UTC)
        if epoch and epoch.isascii() and epoch.isdigit() and len(epoch) <= 11
        else datetime.now(UTC)
    )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def open_tree(target: str, auth: Any = None) -> tuple[Tree, dict[str, Any]]:
    """A directory or file on disk, else ``oci:LAYOUT`` or an image reference."""
    from assay.oci.reference import is_image_argument

    path = Path(target)
    if not is_image_argument(target):
        return DirTree(path), {"name": str(path), "type": "application"}
    from assay.oci.target import open_target

    t = open_target(target, auth)
    digest, _, _ = t.resolve()
    tree, platform = image_tree(t.store, t.repository, digest, wanted, golang.extract)
    return tree, {"name": t.name, "type": "container", "version": digest, "sha256": digest.split(":", 1)[1], **platform}


def catalog(target: str, auth: Any = None) -> tuple[list[Component], dict[str, Any]]:
    tree, subject = open_tree(target, auth)
    return catalog_all(tree), subject


def document(components: list[Component], subject: dict[str, Any], fmt: str) -> dict[str, Any]:
    from assay import __version__

    if fmt == "spdx-json":
        return spdx.document(subject, components, _timestamp(), __version__)
    return cyclonedx.document(subject, components, _timestamp(), __version__)
