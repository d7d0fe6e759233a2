"""Distance fields kept by the points they were made from, and repaired from the last.

A registry state (:mod:`~geo_service.service.registry_state`) asks for one field per
category and viewer. :class:`FieldPool` gives the same field for the same points (staff and
public share one when they see the same), and makes a changed category's field by
repairing the last one near the points removed and added
(:meth:`~geo_service.engine.access.DistanceField.edited`) when few changed, else anew.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from geo_service.engine.access import Attachment, DistanceField
from geo_service.engine.network import WalkNetwork

if TYPE_CHECKING:
    from geo_service.service.registry_state import RegistryState

#: A field is repaired from the last one of its category when at most this share of its
#: points changed (or at most :data:`REPAIR_MIN_POINTS`), else made anew.
REPAIR_MAX_SHARE = 0.25
REPAIR_MIN_POINTS = 8


class FieldPool:
    """Distance fields kept by the points they were made from (any category or role).

    A field asked for a category's new points is repaired from the one last made for that
    category and role (:meth:`DistanceField.edited`: a search around the points removed
    and added only, the same values as a field made anew) when at most
    :data:`REPAIR_MAX_SHARE` of its points changed, or at most :data:`REPAIR_MIN_POINTS`;
    otherwise (an import of many) it is made anew.
    """

    def __init__(self, net: WalkNetwork, *, release_gil: bool) -> None:
        self.net, self.release_gil = net, release_gil
        self._fields: dict[bytes, DistanceField] = {}
        #: (category, staff) → the points of the field last made for it, and the field
        self._last: dict[tuple[str, bool], tuple[np.ndarray, DistanceField]] = {}
        self._lock = threading.Lock()
        #: fields made anew and repaired (for tests and logs)
        self.made = self.repaired = 0

    def get(self, lonlat: np.ndarray, attachment: Attachment,
            key: tuple[str, bool]) -> DistanceField:
        """The field of the points at ``lonlat`` (attached as ``attachment``), made once;
        ``key`` (category, staff) names the field it may be repaired from."""
        points = np.ascontiguousarray(lonlat)
        found = self._fields.get(points.tobytes())
        if found is None:
            found = self._make(points, attachment, self._last.get(key))
            with self._lock:
                found = self._fields.setdefault(points.tobytes(), found)
        self._last[key] = (points, found)
        return found

    def _make(self, points: np.ndarray, attachment: Attachment,
              last: tuple[np.ndarray, DistanceField] | None) -> DistanceField:
        if last is not None:
            previous = same_points(last[0], points)
            changed = int((previous < 0).sum()) + len(last[0]) - int((previous >= 0).sum())
            if changed <= max(REPAIR_MIN_POINTS, REPAIR_MAX_SHARE * len(points)):
                self.repaired += 1
                return last[1].edited(attachment, previous)
        self.made += 1
        return DistanceField(self.net, attachment, release_gil=self.release_gil)

    def keep(self, states: list[RegistryState | None]) -> None:
        """Forget the fields none of ``states`` uses."""
        used = {id(f) for s in states if s is not None for f, _ in s.fields.values()}
        with self._lock:
            self._fields = {k: f for k, f in self._fields.items() if id(f) in used}


def same_points(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Per row of ``new`` (lon/lat): the position of the same point in ``old``, or −1 for
    a new one (points repeated pair up in order)."""
    where: dict[bytes, list[int]] = {}
    for k, row in enumerate(old):
        where.setdefault(row.tobytes(), []).append(k)
    out = np.full(len(new), -1, dtype=np.int64)
    for k, row in enumerate(new):
        found = where.get(row.tobytes())
        if found:
            out[k] = found.pop(0)
    return out
