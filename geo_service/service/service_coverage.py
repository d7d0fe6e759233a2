"""How much of an area the covering services reach: "covered", "partly" or "not covered".

:func:`geo_service.indicators.coverage.area_coverage` lists the services whose service area covers
(part of) an area — any overlap counts. A council asks more: do they reach *everyone* 65+
in the area? Here each covering service's reach is measured on the area's people 65+ (the
region's demand points, weighted by their people 65+):

- ``share_65plus``: the share of the area's people 65+ living inside the service's area
  (a municipality-wide service or one listing the area: all of them; a polygon or radius:
  the demand points inside it; a walking-time area: the demand points within that many
  minutes' walk of the resource or of one of its stops, on the network);
- per category, ``share_65plus_covered``: the share inside at least one of the
  category's covering services;
- ``status``: ``covered`` when that share is 1 (everyone 65+), ``partly`` when a covering
  service exists but reaches fewer (including a service area that overlaps the area where
  no one 65+ lives, and an area without people 65+), ``none`` without a covering service.

Pure functions of arrays first (hand-checkable); :func:`area_profiles` applies them to a
:class:`~geo_service.service.walking.WalkingService`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from geo_service.engine import saved
from geo_service.engine.access import BAND_TOLERANCE_S, DistanceField
from geo_service.indicators.coverage import area_members
from geo_service.registry.resources import Resource
from geo_service.registry.service_areas import service_area_geometry
from geo_service.registry.visibility import public_view

if TYPE_CHECKING:
    from geo_service.service.walking import Located, WalkingService

#: a union share at least this close to 1 counts as everyone (float sums)
FULL = 1 - 1e-9


def shares_in_area(in_area: np.ndarray, pop_65plus: np.ndarray,
                   masks: Sequence[np.ndarray]) -> tuple[list[float | None], float | None]:
    """Share of the area's people 65+ inside each mask, and inside their union.

    ``in_area`` and each mask are booleans per demand point; None when no one 65+ lives
    in the area (or, for the union, when there is no mask).
    """
    total = float(pop_65plus[in_area].sum())
    if total <= 0:
        return [None] * len(masks), None
    each: list[float | None] = [float(pop_65plus[in_area & m].sum()) / total for m in masks]
    if not masks:
        return each, None
    union = np.logical_or.reduce(np.asarray(masks, dtype=bool), axis=0)
    return each, float(pop_65plus[in_area & union].sum()) / total


def status(n_covering: int, share: float | None) -> str:
    """``covered``, ``partly`` or ``none`` (see the module)."""
    if n_covering == 0:
        return "none"
    return "covered" if share is not None and share >= FULL else "partly"


def service_mask(resource: Resource, walking: WalkingService, *, staff: bool) -> np.ndarray:
    """Per demand point of the region: inside ``resource``'s service area."""
    demand = walking.region.demand
    n = len(demand)
    sa = resource.service_area
    if sa.kind == "municipality":
        return np.ones(n, bool)
    mask = np.zeros(n, bool)
    if sa.kind == "walk":
        loc = walking.located(staff=staff)
        pick = np.flatnonzero(loc.resource_ids == resource.id)
        if len(pick):
            limit = (sa.minutes or 0) * 60 + BAND_TOLERANCE_S  # a search up to it only
            net = walking.net
            field = DistanceField.within_seconds(net, loc.attachment.take(pick), limit)
            # only a point on an edge with a reached end (or a resource on it) can be
            # within the limit: the others are not evaluated
            att, reached = walking.region.demand_attachment, np.isfinite(field.node_seconds)
            e = att.edge
            near = np.flatnonzero(reached[net.edge_u[e]] | reached[net.edge_v[e]]
                                  | np.isin(e, field.resources.edge))
            mask[near] = field.at(att.take(near)).seconds <= limit
            return mask
    geom = service_area_geometry(resource, walking.layers,
                                 walking_speed_mps=walking.net.walking_speed_mps)
    if geom is not None:  # the points it contains (an index of the points, not all tested)
        mask[walking.demand_tree().query(walking.net.to_metric(geom), predicate="contains")] = True
    return mask


def near_by_category(walking: WalkingService, loc: Located, category: str) -> np.ndarray:
    """Per demand point: a located resource of ``category`` within the threshold (a
    search up to the threshold only; the same answer as the category's field)."""
    att = loc.attachment.take(np.flatnonzero(loc.categories == category))

    def make() -> dict[str, np.ndarray]:
        field = DistanceField.within_metres(walking.net, att, walking.threshold_m)
        return {"near": np.asarray(field.at(walking.region.demand_attachment).distance_m
                                   <= walking.threshold_m)}

    # saved with the region by where the category's resources are (an edit of one
    # resource recomputes its category only, and a later process reads the rest)
    n = len(walking.region.demand)
    return saved.load_or_make(walking.region, f"near-{category}", ("demand",),
                              {"near": [walking.threshold_m, att.digest()]}, make,
                              valid=lambda entry: len(entry.get("near", ())) == n)["near"]


def covering_by_area(walking: WalkingService, layer: str, ids: list[str],
                     geoms_ll: np.ndarray, staff: bool) -> list[list[tuple[str, str]]]:
    """Per area of ``layer``: (id, category) of the services whose area reaches it, in
    registry order. One pass: every drawn service area is queried against an index of
    the areas at once (the same intersection test per pair); a radius or walking-time
    area around a staff-only location is left out of the public view."""
    from geo_service.service.walking import reveals_location

    services = [r for r in walking.resources(staff=staff) if r.service_area.kind != "none"]
    position = {aid: i for i, aid in enumerate(ids)}
    reach: list[np.ndarray] = []
    drawn: list[tuple[int, Any]] = []
    for k, r in enumerate(services):
        sa = r.service_area
        if sa.kind == "municipality":
            reach.append(np.arange(len(ids)))
        elif sa.kind == "areas" and sa.layer == layer:
            reach.append(np.array([position[a] for a in sa.area_ids if a in position],
                                  dtype=np.int64))
        else:
            reach.append(np.zeros(0, np.int64))
            if staff or not reveals_location(r):
                geom = service_area_geometry(r, walking.layers)
                if geom is not None:
                    drawn.append((k, geom))
    if drawn:
        which, area = shapely.STRtree(geoms_ll).query(
            np.array([g for _, g in drawn], dtype=object), predicate="intersects")
        order = np.argsort(which, kind="stable")
        which, area = which[order], area[order]
        cuts = np.searchsorted(which, np.arange(len(drawn) + 1))
        for j, (k, _) in enumerate(drawn):
            reach[k] = area[cuts[j]:cuts[j + 1]]
    out: list[list[tuple[str, str]]] = [[] for _ in ids]
    for r, areas in zip(services, reach, strict=True):
        for i in np.unique(areas):
            out[i].append((r.id, r.category))
    return out


def area_profiles(walking: WalkingService, layer_name: str, *, staff: bool,
                  area_id: str | None = None) -> list[dict[str, Any]]:
    """Per area of a layer: ``area_id``, ``name``, ``pop_65plus`` and per category
    (those :meth:`WalkingService.area_coverage` lists) ``label``, ``located``
    [{id, name}], ``covering`` [{id, name, share_65plus}], ``share_65plus_covered``,
    ``status`` and ``share_65plus_within_walk``."""
    layer = walking.area_layer(layer_name)
    rows = walking.area_coverage(layer.name, staff=staff, area_id=area_id)
    ids = [str(a) for a in layer.areas.reset_index(drop=True)["area_id"]]
    # the engine's own assignment (cached), as positions per area: each area's people are
    # counted over its own points only, not over the region's once per area
    members = area_members(walking._demand_area(layer), len(ids))
    index = {a: i for i, a in enumerate(ids)}
    pop65 = walking.region.demand["pop_65plus"].to_numpy(dtype=float)
    names = walking.cached(("names", staff), lambda: _names(walking, staff))

    def mask(rid: str) -> np.ndarray:  # kept per registry state (a walking-time area is a search)
        return walking.cached(("service_mask", rid, staff), lambda: service_mask(
            walking.resource(rid, staff=staff), walking, staff=staff))

    def name(rid: str) -> str:
        return names[rid] if rid in names else _name(walking, rid, staff)

    out = []
    for row in rows:
        inside = members[index[row["area_id"]]]
        everyone = np.ones(len(inside), bool)
        categories = {}
        for cat, c in row["categories"].items():
            each, union = shares_in_area(everyone, pop65[inside],
                                         [mask(r)[inside] for r in c["covering"]])
            categories[cat] = {
                "label": c["label"],
                "located": [{"id": r, "name": name(r)} for r in c["located"]],
                "covering": [{"id": r, "name": name(r), "share_65plus": s}
                             for r, s in zip(c["covering"], each, strict=True)],
                "share_65plus_covered": union,
                "status": status(len(c["covering"]), union),
                "share_65plus_within_walk": c["share_65plus_within_walk"],
            }
        out.append({"area_id": row["area_id"], "name": row["name"],
                    "pop_65plus": row["pop_65plus"], "categories": categories})
    return out


def _names(walking: WalkingService, staff: bool) -> dict[str, str]:
    """The name of every resource the viewer may see (one read of the registry, not one
    per row)."""
    out = {}
    for r in walking.resources(staff=staff):
        view = {"name": r.name} if staff else public_view(r)
        if view is not None:
            out[r.id] = str(view["name"])
    return out


def _name(walking: WalkingService, resource_id: str, staff: bool) -> str:
    r = walking.store.get(resource_id)
    if staff:
        return r.name
    view = public_view(r)
    return str(view["name"]) if view is not None else resource_id

