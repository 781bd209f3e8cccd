"""Profiles: entities, versioned profiles, latest state and history of evaluations, alert sinks and outbox.

Revision ID: 0006_profiles
Revises: 0005_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_profiles"
down_revision = "0005_leases"

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "profile_entities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("tag_regexp", sa.Text, nullable=True),
        sa.Column("insecure", sa.Integer, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.UniqueConstraint("project", "kind", "name", name="uq_profile_entities"),
    )
    op.create_table(
        "profiles",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("alert", sa.String(16), nullable=False),
        sa.Column("interval", sa.Integer, nullable=False),
        sa.Column("next_run", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "profile_versions",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
    )
    op.create_table(
        "profile_state",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("profile", sa.String(128), primary_key=True),
        sa.Column("entity_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("target", sa.String(700), primary_key=True),
        sa.Column("rule", sa.String(256), primary_key=True),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(71), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
        sa.Column("evaluated", sa.BigInteger, nullable=False),
        sa.Column("alerted", sa.String(16), nullable=True),
    )
    op.create_index("ix_profile_state_digest", "profile_state", ["project", "digest"])
    op.create_table(
        "profile_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(128), nullable=False),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("entity", sa.String(512), nullable=False),
        sa.Column("target", sa.String(700), nullable=False),
        sa.Column("digest", sa.String(71), nullable=True),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("checks", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_profile_history_project", "profile_history", ["project", "id"])
    op.create_index("ix_profile_history_entity", "profile_history", ["project", "entity_id", "id"])
    op.create_table(
        "alert_sinks",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("sink", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("entity", sa.String(512), nullable=False),
        sa.Column("target", sa.String(700), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["state", "next_attempt"])


def downgrade() -> None:
    for name in ("alert_outbox", "alert_sinks", "profile_history", "profile_state", "profile_versions"):
        op.drop_table(name)
    op.drop_table("profiles")
    op.drop_table("profile_entities")
