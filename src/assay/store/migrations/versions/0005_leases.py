"""Leases for background jobs that one server process at a time runs (audit anchoring first).

Revision ID: 0005_leases
Revises: 0003_evidence
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_leases"
down_revision = "0004_visibility"


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
