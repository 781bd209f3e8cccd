"""TUF repositories: published and pending role versions, the delegation index, target bytes.

Revision ID: 0009_tuf
Revises: 0008_broker
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_tuf"
down_revision = "0008_broker"


def upgrade() -> None:
    op.create_table(
        "tuf_metadata",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(160), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tuf_pending",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(160), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tuf_delegations",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(160), primary_key=True),
        sa.Column("delegator", sa.String(160), nullable=False),
    )
    op.create_table(
        "tuf_blobs",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("tuf_blobs", "tuf_delegations", "tuf_pending", "tuf_metadata"):
        op.drop_table(table)
