"""Alembic environment: runs on the connection the store hands over or, by hand, on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from geo_service.registry.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
# by hand:  alembic -x url=postgresql+psycopg://… upgrade head  (default: the service's
# database, as geo_service.config.ServiceSettings names it)
url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
    "sqlalchemy.url")
if not url and connection is None:
    from geo_service.config import ServiceSettings

    url = ServiceSettings().database_url
if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    from geo_service.registry.store import create_store_engine  # a SQLite file's folder is created

    assert url  # no connection handed over: the URL was filled in above
    engine = create_store_engine(url)
    with engine.begin() as conn:
        _run(conn)
