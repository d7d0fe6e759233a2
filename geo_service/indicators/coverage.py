"""Per-area coverage of community resources: pure functions of arrays, no registry, no HTTP.

For each area of a boundary layer (小学校区, 日常生活圏域 …) and each resource category:

- ``located``: the resources (ids) with a location — or a mobile-sales stop — in the area;
- ``covering``: the services whose service area covers (part of) the area;
- ``share_65plus_within_walk``: the share of the area's people 65+ who live within the
  walking threshold of a resource of the category (None where no resource of it is
  located, or no one 65+ lives in the area).

A category appears for an area only when one of the three has something to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely


def population_within(seconds: np.ndarray, weights: np.ndarray, minutes: float, *,
                      tolerance_s: float = 0.0) -> float:
    """The sum of ``weights`` of the points whose walk takes at most ``minutes``."""
    return float(weights[seconds <= minutes * 60 + tolerance_s].sum())


def area_members(demand_area: np.ndarray, n_areas: int) -> list[np.ndarray]:
    """Per area (0 … ``n_areas`` − 1): the positions of its demand points, ascending (one
    sort, not a scan of every point per area). ``x[members[i]]`` holds the same values in
    the same order as ``x[demand_area == i]``, so its sums are bit for bit the same."""
    order = np.argsort(demand_area, kind="stable")
    cuts = np.searchsorted(demand_area[order], np.arange(n_areas + 1))
    return [order[cuts[i]:cuts[i + 1]] for i in range(n_areas)]


def area_coverage(
    area_ids: Sequence[str],
    names: Sequence[str],
    geometries: Sequence[shapely.Geometry],
    *,
    demand_area: np.ndarray,
    pop_65plus: np.ndarray,
    located_area: np.ndarray,
    located: Sequence[tuple[str, str]],
    covering: Sequence[Sequence[tuple[str, str]]],
    within_walk: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    only: str | None = None,
) -> list[dict[str, Any]]:
    """Coverage per area and category.

    Parameters
    ----------
    area_ids, names, geometries
        The areas (geometries are passed through to the rows).
    demand_area
        Per demand point: the index of its area, −1 for none.
    pop_65plus
        Per demand point: people 65+.
    located_area
        Per located point (resource or stop): the index of its area, −1 for none.
    located
        Per located point: (resource id, category).
    covering
        Per area: (resource id, category) of the services covering it.
    within_walk
        Per category with located resources: per demand point, whether a resource of the
        category lies within the walking threshold.
    labels
        Category → label, in the order categories are listed.
    only
        Give the row of this area id only.

    Returns
    -------
    One dict per area: ``area_id``, ``name``, ``geometry``, ``pop_65plus`` and
    ``categories`` (category → ``label``, ``located``, ``covering``,
    ``share_65plus_within_walk``).
    """
    cat_of: dict[int, dict[str, str]] = {}  # area → resource id → category (one pass)
    for (rid, cat), a in zip(located, located_area, strict=True):
        cat_of.setdefault(int(a), {})[rid] = cat
    out = []
    members = area_members(demand_area, len(area_ids))
    for i, aid in enumerate(area_ids):
        if only is not None and aid != only:
            continue
        inside = members[i]
        weights = pop_65plus[inside]
        pop65 = float(weights.sum())
        here = cat_of.get(i, {})
        per_cat = {}
        for cat, label in labels.items():
            located_ids = sorted({rid for rid, c in here.items() if c == cat})
            cover_ids = sorted(rid for rid, c in covering[i] if c == cat)
            share = (float(weights[within_walk[cat][inside]].sum() / pop65)
                     if cat in within_walk and pop65 > 0 else None)
            if located_ids or cover_ids or share is not None:
                per_cat[cat] = {"label": label, "located": located_ids, "covering": cover_ids,
                                "share_65plus_within_walk": share}
        out.append({"area_id": aid, "name": names[i], "geometry": geometries[i],
                    "pop_65plus": pop65, "categories": per_cat})
    return out
