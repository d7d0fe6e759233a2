"""The history of resources: every change, who made it, when, and the resource before and
after (JSON) in ``resource_history``; what :meth:`ResourceStore.undo` goes back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from geo_service.registry.resources import STORED, Resource
from geo_service.registry.store.base import StoreBase, as_utc
from geo_service.registry.store.schema import history


@dataclass(frozen=True)
class HistoryEntry:
    """One change: what, who, when, and the resource before and after (JSON)."""

    id: int
    resource_id: str
    action: str
    username: str | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def history_row(resource_id: str, action: str, user: str | None, before: Resource | None,
                after: Resource | None, at: datetime) -> dict[str, Any]:
    """The history row of one change (``before`` None for a creation)."""
    return {"resource_id": resource_id, "action": action, "username": user, "at": at,
            "before": before.model_dump(mode="json") if before else None,
            "after": after.model_dump(mode="json") if after else None}


def log_change(conn: Connection, resource_id: str, action: str, user: str | None,
               before: Resource | None, after: Resource | None, at: datetime) -> None:
    """Append one change to the history, in the transaction of ``conn``."""
    conn.execute(insert(history).values(
        **history_row(resource_id, action, user, before, after, at)))


def undone(conn: Connection, current: Resource) -> Resource:
    """What undoing the last change of ``current`` makes of it: the resource before that
    change, or ``current`` deleted when that change created it."""
    last = conn.execute(
        select(history).where(history.c.resource_id == current.id)
        .order_by(history.c.id.desc()).limit(1)
    ).one()  # a stored resource has at least its creation
    if last.before is None:  # the last change created it: undo = delete
        return current.model_copy(update={"deleted": True})
    return Resource.model_validate(last.before, context=STORED)


class ResourceHistory(StoreBase):
    """The history part of :class:`~geo_service.registry.store.ResourceStore`."""

    def history(self, resource_id: str) -> list[HistoryEntry]:
        """All recorded changes of a resource, oldest first."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(history).where(history.c.resource_id == resource_id)
                                .order_by(history.c.id)).all()
        return [HistoryEntry(r.id, r.resource_id, r.action, r.username, as_utc(r.at), r.before,
                             r.after) for r in rows]
