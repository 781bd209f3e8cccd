"""Checksums files as ``sha256sum`` writes and checks them.

Owns: hashing listed files and comparing them to a checksums file (the I/O
side); the line format itself lives in :mod:`assay.formats.checksums`.
May import: ``crypto``, ``formats``, ``errors``.
Invariants: behaviour matches ``sha256sum -c`` (statuses, exit status,
``--ignore-missing`` and "no file was verified"), except that assay treats a
file with no properly formatted line as bad input (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from assay.crypto.digest import sha256_file
from assay.errors import AssayError
from assay.formats import checksums as fmt


def create(paths: list[str], *, tag: bool = False) -> str:
    """Checksums file text for ``paths`` (GNU format, or BSD with ``tag``)."""
    return "".join(fmt.format_line(p, sha256_file(p).hex(), tag=tag) + "\n" for p in paths)


@dataclass
class FileResult:
    """Outcome for one listed file: ``ok``, ``failed`` or ``missing``."""

    name: str
    status: str
    expected: str
    actual: str | None = None

    def line(self) -> str:
        """The line ``sha256sum -c`` prints for this file."""
        # sha256sum -c escapes a status line only when the name holds a newline.
        escaped = "\n" in self.name
        shown = fmt.escape(self.name) if escaped else self.name
        prefix = "\\" if escaped else ""
        word = {"ok": "OK", "failed": "FAILED", "missing": "FAILED open or read"}[self.status]
        return f"{prefix}{shown}: {word}"


@dataclass
class Report:
    """Everything a checksums verification found."""

    results: list[FileResult] = field(default_factory=list)
    bad_lines: tuple[int, ...] = ()
    ignored_missing: int = 0

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.results)

    @property
    def missing(self) -> int:
        return sum(r.status == "missing" for r in self.results)

    @property
    def verified(self) -> int:
        return sum(r.status in ("ok", "failed") for r in self.results)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.missing == 0 and self.verified > 0

    def warnings(self) -> list[str]:
        """The WARNING lines ``sha256sum -c`` prints to stderr."""
        out = []
        if self.bad_lines:
            n = len(self.bad_lines)
            out.append(f"WARNING: {n} line{'s are' if n > 1 else ' is'} improperly formatted")
        if self.missing:
            n = self.missing
            out.append(f"WARNING: {n} listed file{'s' if n > 1 else ''} could not be read")
        if self.failed:
            n = self.failed
            out.append(f"WARNING: {n} computed checksum{'s' if n > 1 else ''} did NOT match")
        return out


def verify(
    text: str, *, source: str, ignore_missing: bool = False, strict: bool = False, base: str | None = None
) -> Report:
    """Check every listed file against its expected digest (names relative to ``base`` when given)."""
    parsed = fmt.parse(text, strict=strict, source=source)
    report = Report(bad_lines=parsed.bad_lines)
    for line in parsed.lines:
        path = os.path.join(base, line.name) if base else line.name
        if not os.path.exists(path) or os.path.isdir(path):
            if ignore_missing and not os.path.exists(path):
                report.ignored_missing += 1
                continue
            report.results.append(FileResult(line.name, "missing", line.digest))
            continue
        try:
            actual = sha256_file(path, show_progress=False).hex()
        except AssayError:
            report.results.append(FileResult(line.name, "missing", line.digest))
            continue
        status = "ok" if actual == line.digest else "failed"
        report.results.append(FileResult(line.name, status, line.digest, actual))
    return report
