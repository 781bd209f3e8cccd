"""Registry token service: each project's push rule (``push: any|ci-only`` and its CI rules).

Revision ID: 0010_registry
Revises: 0008_broker
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_registry"
down_revision = "0009_tuf"


def upgrade() -> None:
    op.create_table(
        "registry_push_policies",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_push_policies")
