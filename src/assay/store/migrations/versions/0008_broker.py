"""Key broker: key-encryption keys, versioned decryption policies, replay nonces and the release record.

Revision ID: 0008_broker
Revises: 0006_profiles
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_broker"
down_revision = "0006_profiles"

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "broker_keys",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("private_ref", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
    )
    op.create_table(
        "broker_policies",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("key_name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("written_by", sa.Text, nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "broker_nonces",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("key_name", sa.String(128), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "broker_releases",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("key_name", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_broker_releases_key", "broker_releases", ["project", "key_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_broker_releases_key", table_name="broker_releases")
    for table in ("broker_releases", "broker_nonces", "broker_policies", "broker_keys"):
        op.drop_table(table)
