"""Registry resources located on the network, as the walking answers use them.

:class:`Located` holds the points of the resources a viewer sees, projected onto the
network, in registry order; :func:`located` makes it from each resource's points,
:func:`patched` from an earlier one with a few resources' points taken out and put in.
:func:`service_index` indexes the service areas.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from geo_service.engine.access import Attachment, TargetIndex
from geo_service.engine.network import WalkNetwork
from geo_service.registry.resources import Resource
from geo_service.registry.visibility import public_view

ServiceIndex = tuple[np.ndarray, np.ndarray, shapely.STRtree, np.ndarray]
#: :func:`patched` finds the points of this many resources or fewer one resource at a time
FEW = 8


@dataclass(frozen=True)
class Located:
    """Resources (and mobile-sales stops) with a location, projected onto the network."""

    resource_ids: np.ndarray  # per point: the resource id (a stop repeats its resource's id)
    categories: np.ndarray
    lonlat: np.ndarray
    attachment: Attachment
    resources: dict[str, Resource]
    index: TargetIndex  # over ``attachment``: the points a search may reach

    @cached_property
    def present(self) -> frozenset[str]:
        """The categories with at least one located point."""
        return frozenset(self.categories)

    def subset(self, pick: np.ndarray, categories: frozenset[str]) -> Located:
        """The points at ``pick`` (positions, in order) and the resources of
        ``categories``: a :class:`Located` of those categories alone."""
        att = self.attachment.take(pick)
        return Located(self.resource_ids[pick], self.categories[pick], self.lonlat[pick], att,
                       {i: r for i, r in self.resources.items() if r.category in categories},
                       TargetIndex(self.index.net, att))


def seen_points(r: Resource, staff: bool,
                bounds: tuple[float, float, float, float]) -> np.ndarray | None:
    """The points of ``r`` the viewer sees within ``bounds`` (a mobile-sales route: each
    stop; for the public as :func:`public_view` shows them), or None when the viewer does
    not see ``r``."""
    if staff:
        points = [(r.lon, r.lat)] if r.lon is not None and r.lat is not None else []
        points += [(st.lon, st.lat) for st in r.schedule.stops]
    else:
        view = public_view(r)
        if view is None:
            return None
        points = [(view["lon"], view["lat"])] if view["lon"] is not None else []
        points += [(st["lon"], st["lat"]) for st in view["schedule"]["stops"]]
    w, s, e, n = bounds
    return np.array([(x, y) for x, y in points if w <= x <= e and s <= y <= n],
                    dtype=float).reshape(-1, 2)


def located(net: WalkNetwork, parts: list[tuple[Resource, Points]]) -> Located:
    """:class:`Located` of resources and their points (lon/lat, attachment), in order."""
    lonlat = np.concatenate([p[0] for _, p in parts] + [np.zeros((0, 2))])
    att = Attachment.concat([p[1] for _, p in parts] + [_NO_POINTS])
    counts = [len(p[0]) for _, p in parts]
    ids = np.repeat(np.array([r.id for r, _ in parts], dtype=object), counts)
    cats = np.repeat(np.array([r.category for r, _ in parts], dtype=object), counts)
    return Located(ids, cats, lonlat, att, {r.id: r for r, _ in parts}, TargetIndex(net, att))


def patched(net: WalkNetwork, old: Located, order: list[str], touched: set[str],
             parts: dict[str, tuple[Resource, Points]]) -> Located:
    """``old`` with the points of the ``touched`` resources taken out and those of
    ``parts`` (the touched ones the viewer sees now) put in where ``order`` (every live id,
    in registry order) places them: the untouched keep their order among themselves, so
    each goes before the first untouched resource with points that follows it."""
    ids, few = old.resource_ids, len(touched) <= FEW
    if few:  # a comparison per id touched, in numpy: no Python step per point
        keep = np.ones(len(ids), dtype=bool)
        for rid in touched:
            keep &= ids != rid
    else:
        keep = np.fromiter((i not in touched for i in ids), dtype=bool, count=len(ids))
    ids = ids[keep]
    if few:
        where = {rid: order.index(rid) for rid in parts}

        def first(q: str) -> int | None:
            if q not in old.resources:
                return None
            hit = np.flatnonzero(ids == q)
            return int(hit[0]) if len(hit) else None
    else:
        where = {rid: k for k, rid in enumerate(order)}
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else (
            np.zeros(0, dtype=np.int64))
        positions = dict(zip(ids[starts], starts.tolist(), strict=True))

        def first(q: str) -> int | None:
            return positions.get(q)
    put = sorted(parts, key=where.__getitem__)
    anchors = []
    for rid in put:  # before the next untouched resource with points, else at the end
        found = next((pos for q in itertools.islice(order, where[rid] + 1, None)
                      if q not in touched and (pos := first(q)) is not None), len(ids))
        anchors.append(found)
    counts = [len(parts[rid][1][0]) for rid in put]
    at = np.repeat(np.array(anchors, dtype=np.int64), counts)
    new = [parts[rid][1] for rid in put]
    lonlat = np.insert(old.lonlat[keep], at, np.concatenate(
        [p[0] for p in new] + [np.zeros((0, 2))]), axis=0)
    added = Attachment.concat([p[1] for p in new] + [_NO_POINTS])
    att = Attachment(*(np.insert(getattr(old.attachment, f)[keep], at, getattr(added, f))
                       for f in ("edge", "offset", "connector")))
    resources = dict(old.resources)
    for rid in touched:
        resources.pop(rid, None)
    resources.update((rid, r) for rid, (r, _) in parts.items())
    return Located(
        np.insert(ids, at, np.repeat(np.array(put, dtype=object), counts)),
        np.insert(old.categories[keep], at, np.repeat(
            np.array([parts[rid][0].category for rid in put], dtype=object), counts)),
        lonlat, att, resources, TargetIndex(net, att))


Points = tuple[np.ndarray, Attachment]
_NO_POINTS = Attachment(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))


def service_index(rows: list[tuple[str, str, shapely.Geometry | None]]) -> ServiceIndex:
    """Ids, whole-city flags, an STRtree of the drawn service areas and which rows they
    are, from (id, service-area kind, geometry) rows: those of the live resources'
    :class:`~geo_service.registry.store.Change` rows."""
    ids = np.array([rid for rid, _, _ in rows], dtype=object)
    citywide = np.array([kind == "municipality" for _, kind, _ in rows], dtype=bool)
    which = np.array([k for k, (_, kind, geom) in enumerate(rows)
                      if kind != "municipality" and geom is not None], dtype=np.int64)
    tree = shapely.STRtree([rows[k][2] for k in which])
    return ids, citywide, tree, which
