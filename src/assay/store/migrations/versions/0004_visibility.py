"""Project visibility: ``members`` (the default, also for existing projects) or ``public`` (issue 17).

Revision ID: 0004_visibility
Revises: 0003_evidence
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_visibility"
down_revision = "0003_evidence"


def upgrade() -> None:
    op.add_column("projects", sa.Column("visibility", sa.String(16), nullable=False, server_default="members"))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("visibility")
