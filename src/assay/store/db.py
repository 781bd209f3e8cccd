"""Opening the database and applying migrations."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text

from assay.errors import EnvironmentFailure, InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL: the given one (``postgresql://`` → psycopg 3) or SQLite in the data directory."""
    if not url:
        return f"sqlite:///{data_dir / 'assay.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("postgresql+psycopg://", "sqlite:///")):
        return url
    raise InputError(
        "bad-database-url", f"unsupported database URL {url!r}", hint="use postgresql://... or omit for SQLite"
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cur = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, full fsync and a busy timeout, and manual transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, pool_size=8, max_overflow=16
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # driver-specific connection errors
        raise EnvironmentFailure("database-unavailable", f"cannot open the database: {exc}") from None
    return engine


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration up to head (idempotent; serialised across processes)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7234001)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
