"""Shopping-difficulty indicators (買い物環境マップ), pure functions of points and distances.

Per demand point: walking distance and time to the nearest food store along the network,
the straight-line distance (MAFF-compatible), the nearest store and whether any store can
be reached at all.

Per area (any number of area layers):

=========================  ==============================================================
``pop_65plus``             people aged 65+ in the area
``beyond_65plus``          65+ whose walk to the nearest store exceeds the threshold, or
                           who cannot reach any store
``beyond_share``           ``beyond_65plus / pop_65plus`` (empty when no one is 65+)
``beyond_65plus_straight`` the same by straight line (MAFF: 500 m crow-fly)
``beyond_share_straight``  its share
``median_m``, ``p90_m``    65+-weighted median / 90th percentile walking distance (empty
                           when that person cannot reach a store)
``median_min``, ``p90_min`` the same in walking minutes
``car_adjusted_65plus``    ``beyond_65plus × (1 − car_rate)`` when a car-availability rate
                           is given (MAFF's "cannot use a car" adjustment)
``stores_in_area``         counted stores located in the area
``stores_near_area``       counted stores within the threshold (straight) of the area
=========================  ==============================================================

The demand point of each person is assigned to the area that contains it; the totals of
an area layer that covers all points equal the population total.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service import settings
from geo_service.engine.access import PointAccess
from geo_service.engine.region import Region
from geo_service.inputs.boundaries import AreaLayer
from geo_service.layers import ResourceLayer

AREA_COLUMNS = (
    "layer", "area_id", "name", "pop_total", "pop_65plus", "beyond_65plus", "beyond_share",
    "beyond_65plus_straight", "beyond_share_straight", "median_m", "p90_m", "median_min",
    "p90_min", "car_adjusted_65plus", "stores_in_area", "stores_near_area",
)


def straight_distances(points: gpd.GeoSeries, stores: gpd.GeoSeries) -> np.ndarray:
    """Straight-line distance (m) from each point to the nearest store (metric CRS)."""
    if len(stores) == 0:
        return np.full(len(points), np.inf)
    tree = shapely.STRtree(stores.to_numpy())
    (which, _), dist = tree.query_nearest(points.to_numpy(), return_distance=True,
                                          all_matches=False)
    out = np.full(len(points), np.inf)
    out[which] = dist
    return out


def point_indicators(demand: gpd.GeoDataFrame, access: PointAccess,
                     stores: gpd.GeoDataFrame, *, threshold_m: float) -> gpd.GeoDataFrame:
    """Per-point table: distances, time, nearest store id and the beyond flags.

    ``demand`` and ``stores`` must be in the same metric CRS; ``stores`` has ``store_id``.
    """
    straight = straight_distances(demand.geometry, stores.geometry)
    store_ids = stores["store_id"].astype(str).to_numpy()
    nearest = np.where(access.nearest >= 0, store_ids[np.maximum(access.nearest, 0)], "")
    out = demand[["point_id", "pop_total", "pop_65plus", "pop_75plus", "geometry"]].copy()
    out["network_m"] = np.where(access.reachable, access.distance_m, np.nan)
    out["walk_min"] = np.where(np.isfinite(access.seconds), access.seconds / 60.0, np.nan)
    out["straight_m"] = straight
    out["nearest_store_id"] = nearest
    out["reachable"] = access.reachable
    out["beyond"] = ~access.reachable | (access.distance_m > threshold_m)
    out["beyond_straight"] = straight > threshold_m
    return out


def grouped_weighted_quantile(group: np.ndarray, values: np.ndarray, weights: np.ndarray,
                              q: float, n_groups: int) -> np.ndarray:
    """The ``q`` quantile of ``values`` weighted by ``weights``, for each group
    ``0 … n_groups − 1`` at once (vectorised; inverse CDF, no blending).

    ``inf`` values (unreachable) take part; a group's result is NaN when it is ``inf`` or
    when its weights sum to zero.

    Groups without weight, and quantiles that fall on an ``inf`` value, give NaN.
    """
    order = np.lexsort((values, group))
    return sorted_weighted_quantile(group[order], values[order], weights[order], q, n_groups)


def sorted_weighted_quantile(g: np.ndarray, v: np.ndarray, w: np.ndarray, q: float,
                             n_groups: int) -> np.ndarray:
    """:func:`grouped_weighted_quantile` of arrays already in its order (by group, then
    value), for callers that keep them sorted (scenarios update a few points in place)."""
    cum = np.cumsum(w)
    starts = np.searchsorted(g, np.arange(n_groups), side="left")
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = np.where(ends > starts, cum[np.maximum(ends - 1, 0)] - base, 0.0)
    idx = np.searchsorted(cum, base + q * total, side="left")
    idx = np.clip(idx, starts, np.maximum(ends - 1, starts))
    out = np.full(n_groups, np.nan)
    ok = total > 0
    picked = v[np.minimum(idx[ok], len(v) - 1)]
    out[ok] = np.where(np.isfinite(picked), picked, np.nan)
    return out


def area_indicators(
    points: gpd.GeoDataFrame,
    layers: list[AreaLayer],
    stores: gpd.GeoDataFrame,
    *,
    threshold_m: float = settings.threshold_m,
    car_rate: float | pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """Aggregate per-point indicators to every area of every layer.

    Parameters
    ----------
    points
        Output of :func:`point_indicators` (metric CRS).
    layers
        Area layers (any CRS; re-projected to the points' CRS).
    stores
        Counted stores, metric CRS.
    car_rate
        Share of 65+ who can use a car: one number, or a Series indexed by ``area_id``
        (areas missing from it get no adjusted count).

    Returns
    -------
    One row per area with the columns of ``AREA_COLUMNS``, in the points' CRS.
    """
    frames = []
    dist = np.where(points["reachable"], points["network_m"], np.inf)
    minutes = np.where(np.isfinite(points["walk_min"]), points["walk_min"], np.inf)
    w65 = points["pop_65plus"].to_numpy(dtype=float)
    for layer in layers:
        areas = layer.areas.to_crs(points.crs).reset_index(drop=True)
        which = AreaLayer(layer.name, areas).assign(points.geometry)
        df = pd.DataFrame({"area": which, "pop_total": points["pop_total"].to_numpy(),
                           "pop_65plus": w65,
                           "beyond_65plus": w65 * points["beyond"].to_numpy(),
                           "beyond_65plus_straight": w65 * points["beyond_straight"].to_numpy()})
        df = df[df["area"] >= 0]
        sums = df.groupby("area").sum().reindex(range(len(areas)), fill_value=0.0)
        table = pd.DataFrame({"layer": layer.name, "area_id": areas["area_id"],
                              "name": areas["name"]})
        for col in ("pop_total", "pop_65plus", "beyond_65plus", "beyond_65plus_straight"):
            table[col] = sums[col].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["beyond_share"] = np.where(table["pop_65plus"] > 0,
                                             table["beyond_65plus"] / table["pop_65plus"], np.nan)
            table["beyond_share_straight"] = np.where(
                table["pop_65plus"] > 0,
                table["beyond_65plus_straight"] / table["pop_65plus"], np.nan)
        inside = which >= 0
        grp, n = which[inside], len(areas)
        quant = {
            "median_m": grouped_weighted_quantile(grp, dist[inside], w65[inside], 0.5, n),
            "p90_m": grouped_weighted_quantile(grp, dist[inside], w65[inside], 0.9, n),
            "median_min": grouped_weighted_quantile(grp, minutes[inside], w65[inside], 0.5, n),
            "p90_min": grouped_weighted_quantile(grp, minutes[inside], w65[inside], 0.9, n),
        }
        for key, values in quant.items():
            table[key] = values
        table["car_adjusted_65plus"] = car_adjusted(table, car_rate)
        table["stores_in_area"], table["stores_near_area"] = store_counts(areas, stores,
                                                                          threshold_m)
        frames.append(gpd.GeoDataFrame(table, geometry=areas.geometry, crs=points.crs))
    result = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(result[list(AREA_COLUMNS) + ["geometry"]], geometry="geometry",
                            crs=points.crs)


#: the columns that measure the walk to a store (unknown without stores)
MEASURED_COLUMNS = (
    "beyond_65plus", "beyond_share", "beyond_65plus_straight", "beyond_share_straight",
    "median_m", "p90_m", "median_min", "p90_min", "car_adjusted_65plus",
)


def areas_without_stores(demand: gpd.GeoDataFrame, layers: list[AreaLayer], *,
                         threshold_m: float = settings.threshold_m) -> gpd.GeoDataFrame:
    """The table of :func:`area_indicators` for a region without food stores: the areas
    with their people (and no store in or near them), every column of
    :data:`MEASURED_COLUMNS` empty — unknown, neither 0 nor everyone."""
    points = demand[["point_id", "pop_total", "pop_65plus", "pop_75plus", "geometry"]].copy()
    points["reachable"] = False
    points["network_m"] = points["walk_min"] = np.nan
    points["beyond"] = points["beyond_straight"] = False
    no_stores = gpd.GeoDataFrame({"store_id": []}, geometry=gpd.GeoSeries([], crs=demand.crs))
    table = area_indicators(points, layers, no_stores, threshold_m=threshold_m)
    table[list(MEASURED_COLUMNS)] = np.nan
    return table


def car_adjusted(table: pd.DataFrame, car_rate: float | pd.Series | None) -> np.ndarray:
    """Per area row: its people 65+ beyond the walk without a car (``car_rate``, one rate
    or one per ``area_id``; NaN without a rate)."""
    if car_rate is None:
        return np.full(len(table), np.nan)
    if isinstance(car_rate, pd.Series):
        rate = table["area_id"].map(car_rate).to_numpy(dtype=float)
    else:
        rate = np.full(len(table), float(car_rate))
    return table["beyond_65plus"].to_numpy() * (1.0 - rate)


def store_counts(areas: gpd.GeoDataFrame, stores: gpd.GeoDataFrame,
                 threshold_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Per area: the stores inside it and those within ``threshold_m`` of it (straight)."""
    if len(stores) == 0:
        zero = np.zeros(len(areas), dtype=np.int64)
        return zero, zero
    geoms = stores.geometry.to_numpy()
    _, inside = areas.sindex.query(geoms, predicate="intersects")
    _, near = areas.sindex.query(geoms, predicate="dwithin", distance=threshold_m)
    return (np.bincount(inside, minlength=len(areas)), np.bincount(near, minlength=len(areas)))


@dataclass
class DifficultyResult:
    """What a difficulty computation produced: per-point and per-area tables, the counted
    stores, how long each stage took, and the region and store layer it was made from."""

    points: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    stores: gpd.GeoDataFrame
    seconds: dict[str, float]
    notes: list[str]
    threshold_m: float
    region: Region
    layer: ResourceLayer

    def areas_by_layer(self) -> dict[str, int]:
        """Number of areas in each area layer, in layer order."""
        return {str(k): int(v) for k, v in self.areas.groupby("layer", sort=False).size().items()}

    def summary(self) -> dict[str, float]:
        """Headline numbers: areas, 65+, share beyond the threshold (network and straight)."""
        p65 = float(self.points["pop_65plus"].sum())
        beyond = float((self.points["pop_65plus"] * self.points["beyond"]).sum())
        straight = float((self.points["pop_65plus"] * self.points["beyond_straight"]).sum())
        return {
            "areas": int(len(self.areas)), "demand_points": int(len(self.points)),
            "stores": int(len(self.stores)), "pop_65plus": p65, "beyond_65plus": beyond,
            "beyond_share": beyond / p65 if p65 else float("nan"),
            "beyond_share_straight": straight / p65 if p65 else float("nan"),
            "unreachable_65plus": float(
                (self.points["pop_65plus"] * ~self.points["reachable"]).sum()),
            "seconds": float(sum(self.seconds.values())),
        }
