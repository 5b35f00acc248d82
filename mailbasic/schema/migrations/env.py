"""Alembic environment: online migrations only, serialised by an advisory lock."""

from alembic import context
from sqlalchemy import create_engine, text

from mailbasic.schema import Base

# Any fixed number shared by every mailbasic installation: two upgrades started at once
# (two hosts deploying) run one after the other instead of into each other.
MIGRATION_LOCK = 0x6D61696C

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no sqlalchemy.url in the configuration")
    engine = create_engine(url)
    with engine.connect() as connection:
        # Fail fast instead of queueing behind live traffic holding locks.
        connection.execute(text("SET lock_timeout = '5s'"))
        connection.execute(text("SET statement_timeout = '60s'"))
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              compare_type=True, compare_server_default=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


run_migrations_online()
