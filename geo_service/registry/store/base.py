"""What the parts of the store share: the engine and its transactions, the clock, and
the errors every part may raise.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from geo_service.i18n import Message, msg

#: what can be missing, as a 404 names it
_KINDS = {"resource": msg("resource"), "user": msg("user"), "scenario": msg("scenario"),
          "region": msg("region"), "area layer": msg("area layer")}


class NotFoundError(LookupError):
    """No (live) resource or user with that id (``message``, where given, a catalogue
    message an API answers in the request's language)."""

    def __init__(self, what: str, key: str, message: str | Message | None = None) -> None:
        self.what, self.key = what, key
        super().__init__(message or msg("no {what} with id {key!r}",
                                        what=_KINDS.get(what, what), key=key))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with its arguments (for an error raised in a worker process)."""
        return type(self), (self.what, self.key, self.args[0])


class RegistryBusyError(RuntimeError):
    """A write waited longer than the busy timeout for another to finish (SQLite's write
    lock, held by an import say) and gave up: nothing was written; try again shortly."""


class PreconditionFailedError(RuntimeError):
    """A write required versions of a resource that it no longer has (nothing written)."""

    def __init__(self, resource_id: str, current: int, expected: Collection[int]) -> None:
        self.resource_id, self.current, self.expected = resource_id, current, expected
        asked = ", ".join(str(v) for v in sorted(expected)) or "none"
        super().__init__(f"resource {resource_id!r} is at version {current}, not {asked}: "
                         "it was changed meanwhile; read it again and reapply your change")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with its arguments (for an error raised in a worker process)."""
        return type(self), (self.resource_id, self.current, self.expected)


def now_utc() -> datetime:
    """The time of a change (UTC, with its zone)."""
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """A stored time in UTC with its zone (SQLite keeps the UTC time without its zone)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class StoreBase:
    """The engine of a store, for reading and for write transactions; the parts of
    :class:`~geo_service.registry.store.ResourceStore` build on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: the same pool for reads outside a transaction: on PostgreSQL a read is then one
        #: round trip instead of BEGIN, query, ROLLBACK (each statement there sees its own
        #: snapshot either way, under READ COMMITTED; SQLite starts no transaction for reads)
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def postgis(self) -> bool:
        """Whether the backend is PostgreSQL with PostGIS."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def writing(self, conn: Connection | None = None) -> Iterator[Connection]:
        """A write transaction (on ``conn``, if given, which must be outside one).

        On SQLite it holds the database's write lock from its start (``BEGIN IMMEDIATE``;
        the driver would begin only at the first write, after the reads), so what it reads
        stays current until it commits; on PostgreSQL the rows to change are locked as
        they are read (``SELECT … FOR UPDATE``)."""
        with (self.engine.connect() if conn is None else nullcontext(conn)) as conn, \
                conn.begin():
            if not self.postgis:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
