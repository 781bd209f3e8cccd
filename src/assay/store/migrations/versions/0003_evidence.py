"""Evidence store, the transparency log's search index and the artifact repository (issue 17).

Revision ID: 0003_evidence
Revises: 0001_log
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_evidence"
down_revision = "0002_access"


def upgrade() -> None:
    op.create_table(
        "evidence_blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("predicate_type", sa.String(512), nullable=True),
        sa.Column("signer", sa.String(1024), nullable=True),
        sa.Column("issuer", sa.String(1024), nullable=True),
        sa.Column("claims", sa.Text, nullable=True),
        sa.Column("verified", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("verified_time", sa.BigInteger, nullable=False),
        sa.Column("log_entry", sa.String(128), nullable=True),
        sa.Column("uploader", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("project", "digest", name="uq_evidence_project_digest"),
    )
    op.create_index("ix_evidence_project_time", "evidence", ["project", "verified", "verified_time"])
    op.create_table(
        "evidence_subjects",
        sa.Column("evidence_id", sa.BigInteger, sa.ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_index("ix_evidence_subjects_lookup", "evidence_subjects", ["project", "digest", "evidence_id"])
    op.create_table(
        "evidence_trust",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("trusted_root", sa.Text, nullable=True),
        sa.Column("keys", sa.Text, nullable=False),
        sa.Column("identities", sa.Text, nullable=False),
        sa.Column("repository_policy", sa.Text, nullable=True),
        sa.Column("unverified_retention_days", sa.Integer, nullable=True),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_search",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("leaf_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_log_search_idx", "log_search", ["idx"])
    op.create_table(
        "artifacts",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("vsa_digest", sa.String(64), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("publisher", sa.String(512), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])


def downgrade() -> None:
    for table in ("artifacts", "log_search", "evidence_trust", "evidence_subjects", "evidence", "evidence_blobs"):
        op.drop_table(table)
