"""Alembic environment for Switchboard.

Switchboard runs Alembic from code (`schema/migrate.py`), handing it an open
connection through `config.attributes["connection"]`; offline (`migrate --sql`)
it renders SQL for the URL's dialect instead. The version table has Switchboard's
own name so it can never collide with the platform's migration bookkeeping.
"""
from alembic import context

from schema.indexes import ledger_metadata
from schema.tables import metadata

VERSION_TABLE = "switchboard_alembic_version"


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=[metadata, ledger_metadata],
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=[metadata, ledger_metadata],
        version_table=VERSION_TABLE,
        render_as_batch=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
