"""Alembic environment: runs on the connection the store hands over, or on the ini URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from geo_service.store.schema import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
# by hand:  alembic -x url=postgresql+psycopg://… upgrade head  (default: alembic.ini's URL)
url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
    "sqlalchemy.url")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
