"""The baseline of a what-if: one full distance-field pass over a region, read-only.

:class:`Baseline` holds the numbers of :func:`~geo_service.jobs.pipeline.compute_difficulty`
(counted stores, node fields, per-point answers and the indicators) with every array made
read-only; a scenario works on copies (:class:`~geo_service.planning.scenarios.state.
ScenarioState`), so the baseline is never modified.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service._errors import InputError
from geo_service.engine.access import Attachment, DistanceField
from geo_service.engine.region import Region
from geo_service.i18n import msg
from geo_service.indicators.difficulty import DifficultyResult, area_indicators, point_indicators
from geo_service.inputs.boundaries import AreaLayer
from geo_service.inputs.layer_points import counted
from geo_service.layers import ResourceLayer


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


@dataclass(eq=False)
class Baseline:
    """The baseline of a region: counted stores, node fields and per-point answers (one
    full pass) and the indicators; every array read-only."""

    region: Region
    layer: ResourceLayer
    threshold_m: float
    car_rate: float | pd.Series | None
    stores: gpd.GeoDataFrame  # counted stores, metric CRS (store_id, name, category)
    store_att: Attachment
    node: dict[str, np.ndarray]  # distance, nearest, seconds, quickest
    point: dict[str, np.ndarray]  # the same per demand point, and the straight line's
    result: DifficultyResult
    #: per area layer, made once when first needed (:meth:`area_index`)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def area_index(self) -> list[dict[str, Any]]:
        """Per area layer of the region: its areas in the points' CRS (``areas``), each
        demand point's area (``which``, −1 for none; the assignment of
        :func:`~geo_service.indicators.difficulty.area_indicators`) and the baseline's order of the
        points inside by area, then walk (``order_m``) and by area, then minutes
        (``order_min``): what the per-area recount of a scenario reuses."""
        if "areas" not in self.cache:
            points = self.result.points
            out = []
            dist, minutes = walk_values(points)
            for layer in self.region.areas:
                areas = layer.areas.to_crs(points.crs).reset_index(drop=True)
                which = AreaLayer(layer.name, areas).assign(points.geometry)
                inside = np.flatnonzero(which >= 0)
                out.append({"areas": areas, "which": _frozen(which),
                            "order_m": _frozen(inside[np.lexsort((dist[inside],
                                                                  which[inside]))]),
                            "order_min": _frozen(inside[np.lexsort((minutes[inside],
                                                                    which[inside]))])})
            self.cache["areas"] = out
        return list(self.cache["areas"])

    @classmethod
    def saved(cls, region: Region, *, layer: ResourceLayer,
              threshold_m: float | None = None) -> Baseline:
        """The baseline of a saved region, loaded from its cache when it was computed
        before from the same files (network, demand, areas, resources, region.json), the
        same store layer definition and threshold; else computed (:meth:`compute`) and
        saved for the next command (:mod:`~geo_service.engine.saved`). A region built in
        memory is computed each time."""
        from geo_service.engine import saved

        threshold_m = region.threshold_m if threshold_m is None else threshold_m
        name = f"baseline-{layer.id}"
        key = region.saved_key("demand", "areas", "resources", "meta", extra={
            "baseline": [layer.id, repr(layer.categories), repr(layer.operator_types),
                         float(threshold_m)]})
        if key is None:
            return cls.compute(region, layer=layer, threshold_m=threshold_m)
        entry = saved.load_entry(region.cache_folder(), name, key)
        if entry is not None:
            try:
                return cls._from_entry(region, layer, threshold_m, entry)
            except (KeyError, ValueError, OSError):
                pass  # an entry of another shape: computed again below
        base = cls.compute(region, layer=layer, threshold_m=threshold_m)
        arrays = {f"node_{k}": v for k, v in base.node.items()}
        arrays |= {f"point_{k}": v for k, v in base.point.items()}
        arrays |= {f"att_{f}": getattr(base.store_att, f) for f in ("edge", "offset",
                                                                       "connector")}
        arrays |= {"points": saved.frame_bytes(base.result.points),
                   "areas": saved.frame_bytes(base.result.areas),
                   "seconds": np.array(base.result.seconds["baseline"])}
        saved.save_entry(region.cache_folder(create=True), name, key, arrays)
        region.remember_network()
        return base

    @classmethod
    def _from_entry(cls, region: Region, layer: ResourceLayer, threshold_m: float,
                    entry: dict[str, np.ndarray]) -> Baseline:
        from geo_service.engine.saved import frame_from

        stores = counted(region.resources[layer.id], layer).to_crs(region.net.crs)
        node = {k: _frozen(entry[f"node_{k}"]) for k in ("distance", "nearest", "seconds",
                                                          "quickest")}
        point = {k: _frozen(entry[f"point_{k}"]) for k in (
            "distance", "nearest", "seconds", "quickest", "straight", "straight_nearest")}
        if len(node["distance"]) != region.net.n_nodes or len(point["distance"]) != len(
                region.demand) or len(entry["att_edge"]) != len(stores):
            raise ValueError("the entry does not fit the region")
        att = Attachment(*(_frozen(entry[f"att_{f}"]) for f in ("edge", "offset",
                                                                 "connector")))
        result = DifficultyResult(frame_from(entry["points"], geo=True),
                                  frame_from(entry["areas"], geo=True), stores,
                                  {"baseline": float(entry["seconds"])}, list(region.notes),
                                  threshold_m, region, layer)
        return cls(region, layer, threshold_m, None, stores, att, node, point, result)

    @classmethod
    def compute(cls, region: Region, *, layer: ResourceLayer,
                threshold_m: float | None = None,
                car_rate: float | pd.Series | None = None) -> Baseline:
        """The baseline (the numbers of :func:`~geo_service.jobs.pipeline.compute_difficulty`)."""
        threshold_m = region.threshold_m if threshold_m is None else threshold_m
        started = time.perf_counter()
        stores = counted(region.resources[layer.id], layer).to_crs(region.net.crs)
        if stores.empty:
            raise InputError(msg("no stores of the counted categories {categories}",
                                 categories=layer.included_ids))
        att = region.attach(stores, source="stores")
        dfield = DistanceField(region.net, att)
        access = dfield.at(region.demand_attachment)
        points = point_indicators(region.demand, access, stores, threshold_m=threshold_m)
        areas = area_indicators(points, region.areas, stores, threshold_m=threshold_m,
                                car_rate=car_rate)
        result = DifficultyResult(points, areas, stores,
                                  {"baseline": time.perf_counter() - started},
                                  list(region.notes), threshold_m, region, layer)
        node = {"distance": dfield.node_distance, "nearest": dfield.node_nearest,
                "seconds": dfield.node_seconds, "quickest": dfield.node_quickest}
        straight, straight_nearest = straight_nearest_stores(region.demand.geometry.to_numpy(),
                                                             stores.geometry.to_numpy())
        point = {"distance": access.distance_m, "nearest": access.nearest,
                 "seconds": access.seconds, "quickest": access.quickest,
                 "straight": straight, "straight_nearest": straight_nearest}
        att = Attachment(*(_frozen(getattr(att, f)) for f in ("edge", "offset", "connector")))
        return cls(region, layer, threshold_m, car_rate, stores, att,
                   {k: _frozen(v) for k, v in node.items()},
                   {k: _frozen(v) for k, v in point.items()}, result)


def straight_nearest_stores(points: np.ndarray, stores: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Straight-line distance (m) from each point to the nearest store and that store's
    position (−1 and ``inf`` without stores): the query of
    :func:`~geo_service.indicators.difficulty.straight_distances`, keeping which store it was."""
    dist = np.full(len(points), np.inf)
    which = np.full(len(points), -1, dtype=np.int64)
    if len(stores) == 0 or len(points) == 0:
        return dist, which
    (at, store), d = shapely.STRtree(stores).query_nearest(points, return_distance=True,
                                                           all_matches=False)
    dist[at], which[at] = d, store
    return dist, which


def walk_values(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The walk (m) and minutes per point as :func:`area_indicators` ranks them (inf for
    no store reached)."""
    dist = np.where(points["reachable"], points["network_m"], np.inf).astype(float)
    minutes = np.where(np.isfinite(points["walk_min"]), points["walk_min"], np.inf)
    return dist, minutes.astype(float)
