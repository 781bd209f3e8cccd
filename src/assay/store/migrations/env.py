"""Alembic environment: runs on the connection assay hands over."""

from alembic import context

from assay.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
