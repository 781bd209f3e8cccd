"""The local OSV index: ``DIR/osv.sqlite`` with one row per record and one per (ecosystem, package).

``import_osv`` reads an OSV export (a zip such as ``all.zip``, a directory of
``*.json`` records, or one JSON file) in one transaction; records already
present are replaced when the import's ``modified`` is not older.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.errors import InputError
from assay.formats import safejson
from assay.sbom.model import pypi_name
from assay.vuln import osv

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, modified TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS affected (
  ecosystem TEXT NOT NULL, release TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_pkg ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_record ON affected (record);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def normalise_name(ecosystem: str, name: str) -> str:
    return pypi_name(name) if ecosystem == "PyPI" else name


def split_ecosystem(value: str) -> tuple[str, str]:
    base, _, release = value.partition(":")
    return base, release


def _documents(source: Path) -> Iterator[tuple[str, Any]]:
    if source.is_dir():
        for p in sorted(source.rglob("*.json")):
            yield str(p), _load(p.read_bytes(), str(p))
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            for info in z.infolist():
                if info.filename.endswith(".json"):
                    yield f"{source}:{info.filename}", _load(z.read(info), info.filename)
    elif source.is_file():
        doc = _load(source.read_bytes(), str(source))
        for i, d in enumerate(doc if isinstance(doc, list) else [doc]):
            yield f"{source}[{i}]", d
    else:
        raise InputError("file-not-found", f"{source}: no such file or directory")


def _load(data: bytes, where: str) -> Any:
    try:
        return safejson.loads(data, what=where, max_bytes=1024 * 1024 * 1024)
    except InputError as exc:
        raise InputError("osv-malformed", exc.message) from None


class VulnDB:
    """An OSV index in a directory."""

    def __init__(self, directory: Path, create: bool = False) -> None:
        path = directory / "osv.sqlite"
        if not path.exists() and not create:
            raise InputError("vulndb-missing", f"{directory} holds no vulnerability index; run `assay vulndb import`")
        directory.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.executescript(SCHEMA)
        self._cache: dict[str, osv.Record] = {}

    def close(self) -> None:
        self.conn.close()

    def import_osv(self, source: Path) -> dict[str, int]:
        """Load records; returns counts (imported, skipped as older, withdrawn)."""
        counts = {"imported": 0, "older": 0, "withdrawn": 0}
        with self.conn:
            for where, doc in _documents(source):
                record = osv.parse(doc, where)
                row = self.conn.execute("SELECT modified FROM records WHERE id = ?", (record.id,)).fetchone()
                if row is not None and row[0] > record.modified:
                    counts["older"] += 1
                    continue
                self.conn.execute("DELETE FROM affected WHERE record = ?", (record.id,))
                self.conn.execute(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                    (record.id, record.modified, json.dumps(doc, separators=(",", ":"))),
                )
                rows = {
                    (*split_ecosystem(a.ecosystem), normalise_name(split_ecosystem(a.ecosystem)[0], a.name))
                    for a in record.affected
                }
                self.conn.executemany(
                    "INSERT INTO affected VALUES (?, ?, ?, ?)", [(e, r, n, record.id) for e, r, n in rows]
                )
                counts["withdrawn" if record.withdrawn else "imported"] += 1
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('lastUpdate', ?)",
                (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),),
            )
        return counts

    def meta(self) -> dict[str, str]:
        out = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        out["records"] = str(self.conn.execute("SELECT count(*) FROM records").fetchone()[0])
        return out

    def candidates(self, ecosystem: str, release: str, names: list[str]) -> list[tuple[osv.Record, str]]:
        """Records naming any of ``names`` in ``ecosystem`` (and the release, when both sides have one)."""
        out = []
        for name in dict.fromkeys(normalise_name(ecosystem, n) for n in names):
            rows = self.conn.execute(
                "SELECT record, release FROM affected WHERE ecosystem = ? AND name = ?", (ecosystem, name)
            ).fetchall()
            for record_id, rel in rows:
                if release and rel and rel != release:
                    continue
                out.append((self._record(record_id), name))
        return out

    def _record(self, record_id: str) -> osv.Record:
        rec = self._cache.get(record_id)
        if rec is None:
            doc = json.loads(self.conn.execute("SELECT doc FROM records WHERE id = ?", (record_id,)).fetchone()[0])
            rec = self._cache[record_id] = osv.parse(doc)
        return rec
