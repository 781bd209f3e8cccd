"""Persistence: SQLAlchemy 2 Core tables, engines and Alembic migrations.

Owns: the schema, opening SQLite (WAL, embedded default) or PostgreSQL, and
applying migrations at start. May import: ``errors`` only.
Invariants: the schema changes only through migrations in
``store/migrations/versions``; SQLite runs in WAL mode with full fsync so a
committed transaction survives a crash of the process or the machine.
"""
