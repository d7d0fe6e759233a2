"""Persistence of the resource registry: SQLite by default, PostgreSQL + PostGIS by URL.

>>> store = open_store("sqlite:///data/registry.sqlite3")      # created on first use
>>> store = open_store("postgresql+psycopg://user:pw@host/db")  # shared deployment

:func:`open_store` brings the schema to the latest Alembic migration before returning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.store.areas import RegionMismatchError
from geo_service.registry.store.base import (
    NotFoundError,
    PreconditionFailedError,
    RegistryBusyError,
)
from geo_service.registry.store.history import HistoryEntry
from geo_service.registry.store.queries import (
    Change,
    Page,
    ResourceFilter,
    SortKey,
    months_before,
)
from geo_service.registry.store.repository import Authorize, ResourceStore
from geo_service.registry.store.users import (
    LoginRecord,
    Role,
    User,
    check_username,
    username_key,
)

__all__ = [
    "Authorize", "Change", "DEFAULT_BUSY_SECONDS", "HistoryEntry", "LoginRecord",
    "NotFoundError", "Page",
    "PreconditionFailedError", "RegionMismatchError", "RegistryBusyError", "ResourceFilter",
    "ResourceStore", "Role", "SortKey", "StoreSpec", "User", "check_username",
    "create_store_engine", "migrate", "months_before", "open_store", "owner_only",
    "spec_of", "username_key",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def owner_only(path: Path) -> None:
    """Create ``path`` (empty) if absent, and make it readable and writable by its owner
    only (0600): the registry holds password hashes, the key signs tokens."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


#: How long a SQLite write waits for another's to finish before it fails with "database is
#: locked" (the API answers 503 with Retry-After): ``SQLITE_BUSY_SECONDS`` of the service.
DEFAULT_BUSY_SECONDS = 5.0


def create_store_engine(url: str, *, busy_seconds: float = DEFAULT_BUSY_SECONDS) -> Engine:
    """A SQLAlchemy engine for a store URL; SQLite files get WAL mode, their folder, and
    mode 0600 (SQLite gives its WAL and shared-memory files the same mode).

    Parameters
    ----------
    url
        ``sqlite:///path/file.sqlite3``, ``sqlite://`` (in memory) or
        ``postgresql+psycopg://user:password@host/database``.
    busy_seconds
        SQLite: how long a write waits for the write lock (``PRAGMA busy_timeout``); then
        it raises :class:`~geo_service.registry.store.RegistryBusyError`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            database.parent.mkdir(parents=True, exist_ok=True)
            owner_only(database)
            for side in (database.with_name(f"{database.name}-{s}") for s in ("wal", "shm")):
                if side.exists():  # left by an earlier version, perhaps readable by all
                    owner_only(side)
            engine = create_engine(url, connect_args={"check_same_thread": False})
        else:
            from sqlalchemy.pool import StaticPool

            engine = create_engine(url, connect_args={"check_same_thread": False},
                                   poolclass=StaticPool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={round(busy_seconds * 1000)}")
            cur.close()

        @event.listens_for(engine, "handle_error")
        def _busy(context: ExceptionContext) -> None:
            if "database is locked" in str(context.original_exception):
                raise RegistryBusyError(
                    f"the registry stayed locked by another write for {busy_seconds:g} s; "
                    "nothing was written") from context.sqlalchemy_exception

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}; "
                     "use sqlite:///FILE or postgresql+psycopg://…")


@dataclass(frozen=True)
class StoreSpec:
    """What opens a store again in another process, bound to the same region (its
    boundary layers, bounds, walking speed and responsible-area layer): e.g. for an
    import written by a process of its own (see :func:`spec_of`)."""

    url: str = field(repr=False)  # it may hold a password
    busy_seconds: float
    layers: dict[str, AreaLayer]
    bounds: tuple[float, float, float, float] | None
    walking_speed_mps: float | None
    area_layer: str | None

    def open(self) -> ResourceStore:
        """The store (its schema is already at the latest migration: the server's)."""
        store = open_store(self.url, layers=self.layers, run_migrations=False,
                           busy_seconds=self.busy_seconds, analyze=False)
        if self.bounds is not None and self.walking_speed_mps is not None:
            store.use_region(self.layers, self.bounds, self.walking_speed_mps,
                             area_layer=self.area_layer)
        return store


def spec_of(store: ResourceStore, *, busy_seconds: float) -> StoreSpec | None:
    """How another process opens ``store`` (:class:`StoreSpec`); None for a SQLite
    database in memory, which only this process sees."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return StoreSpec(url.render_as_string(hide_password=False), busy_seconds,
                     dict(store.layers), store.bounds, store.walking_speed_mps,
                     store.area_layer)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` with the package's Alembic migrations
    (a database already at the head is left without loading Alembic: every command
    opens the registry)."""
    if revision == "head" and _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _head_revision() -> str | None:
    """The one revision of the migrations no other revises (read from the scripts'
    ``revision`` and ``down_revision`` lines); None when that is not plain."""
    revisions, revised = set(), set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*=\s*"([^"]+)"\s*$', text, flags=re.M)
        down = re.search(r'^down_revision\s*=\s*(?:"([^"]+)"|None)\s*$', text, flags=re.M)
        if rev is None or down is None:
            if script.name != "__init__.py":
                return None
            continue
        revisions.add(rev.group(1))
        if down.group(1):
            revised.add(down.group(1))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database's Alembic version is the migrations' head."""
    head = _head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # no version table yet: a new database
        return False
    return [r[0] for r in rows] == [head]


def open_store(url: str, *, layers: Mapping[str, AreaLayer] | None = None,
               run_migrations: bool = True, analyze: bool = True,
               busy_seconds: float = DEFAULT_BUSY_SECONDS) -> ResourceStore:
    """Open (and on first use create) the registry at ``url``.

    Parameters
    ----------
    url
        The database URL (see :func:`create_store_engine`).
    layers
        Boundary layers by name, for drawing ``areas`` service areas.
    run_migrations
        Upgrade the schema to the latest revision first (default).
    analyze
        Refresh the query planner's statistics (default; a write, on SQLite under its
        write lock).
    busy_seconds
        SQLite: how long a write waits for another's (see :func:`create_store_engine`).
    """
    engine = create_store_engine(url, busy_seconds=busy_seconds)
    if run_migrations:
        migrate(engine)
    store = ResourceStore(engine, layers=layers)
    if analyze:
        store.analyze()
    return store
