"""Go: module build information embedded in binaries (Go 1.18+ inline format).

A binary holds ``\\xff Go buildinf:`` (16-byte aligned), a pointer size and flags
byte, then — when flag 2 is set — two varint-length-prefixed strings: the Go
version and the module info (``path``, ``mod``, ``dep``, ``=>`` replacement
lines between 16-byte sentinels). Older pointer-based headers are not read.
"""

from __future__ import annotations

from typing import Any

from assay.sbom.model import Component, purl
from assay.sbom.source import Tree

MAGIC = b"\xff Go buildinf:"


def wanted(path: str) -> bool:
    return False  # binaries are found by ``Tree.executables()``, not by name


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _elf_section(data: Any, wanted_name: bytes) -> tuple[int, int] | bool | None:
    """(offset, size) of a named ELF section; None when absent; False when not a parseable ELF."""
    import struct

    if len(data) < 64 or bytes(data[:4]) != b"\x7fELF":
        return False
    is64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    try:
        if is64:
            (shoff,) = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
        if not shoff or not shnum or shstrndx >= shnum:
            return False

        def section(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            if is64:
                (name,) = struct.unpack_from(e + "I", data, base)
                off, size = struct.unpack_from(e + "QQ", data, base + 0x18)
            else:
                (name,) = struct.unpack_from(e + "I", data, base)
                off, size = struct.unpack_from(e + "II", data, base + 0x10)
            return name, off, size

        _, stroff, strsize = section(shstrndx)
        names = bytes(data[stroff : stroff + strsize])
        for i in range(shnum):
            name, off, size = section(i)
            end = names.find(b"\0", name)
            if names[name:end] == wanted_name:
                return off, size
    except struct.error:
        return False
    return None


def extract(data: Any) -> bytes | None:
    """The build-info region of a binary (bytes or a memory map), or None.
    ELF binaries are located through their ``.go.buildinfo`` section; others are searched."""
    found = _elf_section(data, b".go.buildinfo")
    if found is None:
        return None
    if found is not False:
        off, _ = found  # type: ignore[misc]
        region = bytes(data[off : off + 32 + 64 * 1024])
        return region if region.startswith(MAGIC) else None
    i = data.find(MAGIC)
    while i >= 0 and i % 16:
        i = data.find(MAGIC, i + 1)
    if i < 0:
        return None
    return bytes(data[i : i + 32 + 64 * 1024])


def parse(blob: bytes) -> tuple[str, list[tuple[str, str, str]], str | None] | None:
    """(go version, [(kind, module path, version)], main package path) from a build-info region."""
    i = blob.find(MAGIC)
    if i < 0 or len(blob) < i + 32 or not blob[i + 15] & 2:
        return None
    try:
        n, pos = _uvarint(blob, i + 32)
        version = blob[pos : pos + n].decode()
        pos += n
        n, pos = _uvarint(blob, pos)
        info = blob[pos : pos + n]
    except (ValueError, UnicodeDecodeError):
        return None
    if len(info) >= 33 and info[-17] == 0x0A:
        info = info[16:-16]
    mods: list[tuple[str, str, str]] = []
    main_path = None
    for line in info.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) > 1:
            main_path = parts[1]
        elif parts[0] in ("mod", "dep") and len(parts) >= 3:
            mods.append((parts[0], parts[1], parts[2]))
        elif parts[0] == "=>" and len(parts) >= 3 and mods:
            kind = mods[-1][0]
            mods[-1] = (kind, parts[1], parts[2])
    return version, mods, main_path


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return purl("golang", name, version, namespace or None)


def catalog(tree: Tree, paths: list[str]) -> list[Component]:
    out: list[Component] = []
    for path, region in tree.binaries(extract):
        parsed = parse(region)
        if parsed is None:
            continue
        go_version, mods, _ = parsed
        stdlib_version = go_version.removeprefix("go").split(" ")[0]
        stdlib = Component("golang", "stdlib", stdlib_version, purl("golang", "stdlib", stdlib_version), path)
        deps = [Component("golang", p, v, _purl(p, v), path) for kind, p, v in mods if kind == "dep"]
        main = next((Component("golang", p, v, _purl(p, v), path) for kind, p, v in mods if kind == "mod"), None)
        if main is not None:
            main.depends_on = [stdlib.ref] + [d.ref for d in deps]
            out.append(main)
        out.append(stdlib)
        out.extend(deps)
    return out
