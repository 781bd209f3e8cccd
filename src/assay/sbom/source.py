"""File trees to catalogue: a directory, a single file, or an image's layers applied in order.

Catalogers only see ``Tree``: a list of paths (relative, ``/``-separated) and a
reader. For images, each layer's tar is read once, in order; whiteouts
(``.wh.NAME``) delete a path from lower layers and opaque whiteouts
(``.wh..wh..opq``) hide a whole lower directory. Only files a cataloger
might want are kept in memory (``wanted``).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from assay.errors import InputError
from assay.formats import safejson
from assay.oci.store import Store


class Tree(Protocol):
    """A read-only file tree."""

    def paths(self) -> Iterator[str]: ...

    def read(self, path: str) -> bytes: ...

    def binaries(self, reduce: Callable[[Any], bytes | None]) -> Iterator[tuple[str, bytes]]:
        """(path, region) for native executables where ``reduce`` (given the file's bytes, possibly
        memory-mapped) finds a region of interest."""
        ...


EXEC_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")


class DirTree:
    """A directory on disk, walked once (symlinked directories are not followed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: list[str] | None = None
        self._exec: list[str] = []

    def _walk(self) -> list[str]:
        if self._paths is not None:
            return self._paths
        if self.root.is_file():
            self._paths = [self.root.name]
            if os.access(self.root, os.X_OK):
                self._exec.append(self.root.name)
            return self._paths
        out: list[str] = []
        stack = [("", str(self.root))]
        while stack:
            prefix, directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if e.name not in (".git", "__pycache__"):
                            stack.append((prefix + e.name + "/", e.path))
                    elif e.is_file(follow_symlinks=False):
                        out.append(prefix + e.name)
                        st = e.stat(follow_symlinks=False)
                        if st.st_mode & 0o111 and st.st_size >= 64:
                            self._exec.append(prefix + e.name)
                except OSError:
                    continue
        out.sort()
        self._paths = out
        return out

    def paths(self) -> Iterator[str]:
        return iter(self._walk())

    def read(self, path: str) -> bytes:
        p = self.root if self.root.is_file() else self.root / path
        return p.read_bytes()

    def binaries(self, reduce: Callable[[Any], bytes | None]) -> Iterator[tuple[str, bytes]]:
        import mmap

        self._walk()
        for path in self._exec:
            p = self.root if self.root.is_file() else self.root / path
            try:
                with p.open("rb") as f:
                    if not f.read(4).startswith(EXEC_MAGIC):
                        continue
                    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                        region = reduce(m)
            except (OSError, ValueError):
                continue
            if region is not None:
                yield path, region


class MemoryTree:
    """The union filesystem of image layers (only wanted files keep their contents)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | None] = {}  # None: present but not kept
        self.binary_paths: set[str] = set()  # executables whose kept bytes are a reduced region

    def binaries(self, reduce: Callable[[Any], bytes | None]) -> Iterator[tuple[str, bytes]]:
        for path in sorted(self.binary_paths):
            data = self.files.get(path)
            region = reduce(data) if data is not None else None
            if region is not None:
                yield path, region

    def paths(self) -> Iterator[str]:
        return iter(sorted(self.files))

    def read(self, path: str) -> bytes:
        data = self.files.get(path)
        if data is None:
            raise FileNotFoundError(path)
        return data

    def apply_layer(
        self,
        fileobj: BinaryIO,
        wanted: Callable[[str], bool],
        reduce_binary: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        """Apply one layer tar (optionally gzip-compressed) on top of the tree; executables are
        passed to ``reduce_binary`` and only the region it returns is kept."""
        head = fileobj.read(2)
        fileobj.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=fileobj) if head == b"\x1f\x8b" else fileobj  # type: ignore[assignment]
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    name = member.name.lstrip("/")
                    while name.startswith("./"):
                        name = name[2:].lstrip("/")
                    head_dir, _, base = name.rpartition("/")
                    if base == ".wh..wh..opq":
                        prefix = head_dir + "/"
                        for p in [p for p in self.files if p.startswith(prefix)]:
                            del self.files[p]
                        continue
                    if base.startswith(".wh."):
                        target = (head_dir + "/" if head_dir else "") + base[4:]
                        self.files.pop(target, None)
                        for p in [p for p in self.files if p.startswith(target + "/")]:
                            del self.files[p]
                        continue
                    if member.isdir():
                        continue
                    if member.isfile():
                        self.binary_paths.discard(name)
                        if wanted(name):
                            f = tar.extractfile(member)
                            self.files[name] = f.read() if f is not None else None
                        elif reduce_binary is not None and member.mode & 0o111 and member.size >= 64:
                            f = tar.extractfile(member)
                            data = f.read() if f is not None else b""
                            region = reduce_binary(data) if data.startswith(EXEC_MAGIC) else None
                            self.files[name] = region
                            if region is not None:
                                self.binary_paths.add(name)
                        else:
                            self.files[name] = None
                    elif member.issym() or member.islnk():
                        self.files[name] = None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError("layer-malformed", f"an image layer is not a readable tar: {exc}") from None


def image_tree(
    s: Store,
    repo: str,
    digest: str,
    wanted: Callable[[str], bool],
    reduce_binary: Callable[[bytes], bytes | None] | None = None,
) -> tuple[MemoryTree, dict[str, str]]:
    """The union tree of an image (its config's os/arch returned too); indexes pick linux/amd64 or the first."""
    import json
    import tempfile

    from assay.oci.store import INDEX_TYPES

    data, media_type, _ = s.get_manifest(repo, digest)
    doc = json.loads(data)
    if media_type in INDEX_TYPES:
        manifests = doc.get("manifests", [])
        chosen = next(
            (m for m in manifests if (m.get("platform") or {}).get("architecture") == "amd64"),
            manifests[0] if manifests else None,
        )
        if chosen is None:
            raise InputError("image-empty", f"index {digest} lists no manifests")
        data, media_type, _ = s.get_manifest(repo, str(chosen["digest"]))
        doc = json.loads(data)
    config = safejson.loads(s.get_blob(repo, doc["config"]["digest"]), what="image config") if doc.get("config") else {}
    if not isinstance(config, dict):
        raise InputError("image-config-malformed", f"the config of {digest} is not a JSON object")
    tree = MemoryTree()
    for layer in doc.get("layers", []):
        with tempfile.TemporaryFile() as spool:
            s.fetch_blob(repo, str(layer["digest"]), spool)
            spool.seek(0)
            tree.apply_layer(spool, wanted, reduce_binary)
    return tree, {"os": str(config.get("os", "")), "architecture": str(config.get("architecture", ""))}


def tar_tree(
    data: bytes, wanted: Callable[[str], bool], reduce_binary: Callable[[bytes], bytes | None] | None = None
) -> MemoryTree:
    """A single tar archive as a tree."""
    tree = MemoryTree()
    tree.apply_layer(io.BytesIO(data), wanted, reduce_binary)
    return tree
