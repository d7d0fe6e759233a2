"""The working copy of a baseline that a scenario's changes are applied to, incrementally.

:class:`ScenarioState` recomputes only what changed:

- **a closure** can only lengthen walks, and only for the network nodes whose nearest store
  was the closed one: those nodes are searched again from the unchanged nodes around them
  and the remaining stores on them (:func:`~geo_service.engine.field_repair.repair_removed`).
- **a new store** can only shorten walks: a Dijkstra from the new store that goes on only
  through nodes it reaches strictly sooner than their current store (a pruned search).
- The same is done on the slope-aware time field (by direction of travel) when the network
  has elevations; on the flat, times are distances / speed.
- Only points on an edge with a changed end node, or sharing an edge with a changed store,
  are evaluated again (:meth:`~geo_service.engine.access.DistanceField.at`, the engine's own
  formula); straight-line distances only for the points whose nearest store closed (a
  query among the remaining stores) or that a new store is nearer to. Per area, only the
  areas holding a point whose indicators changed are counted again (their weighted
  quantiles from the baseline's sorted order with their segments re-sorted); the others
  keep the baseline's row — bit for bit the table of
  :func:`~geo_service.indicators.difficulty.area_indicators` (tested). Another threshold or car rate
  counts every area.
- A speed change recomputes the fields once (a full pass; distances are unchanged);
  a threshold or a projection changes no walk at all, only the indicators.

Both searches give node distances that are bit for bit those of a full recomputation
(tested; :mod:`geo_service.engine.field_repair`); the *identity* of the nearest store may
differ where two stores are exactly equally far.
One class because the field repair and the recount share the state's arrays and its marks
of what changed (which points to evaluate again, which areas to count again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geo_service.engine.access import Attachment, DistanceField, PointAccess, source_seeds
from geo_service.i18n import Message
from geo_service.indicators.difficulty import (
    AREA_COLUMNS,
    DifficultyResult,
    area_indicators,
    car_adjusted,
    point_indicators,
    sorted_weighted_quantile,
    store_counts,
)
from geo_service.planning.scenarios.baseline import (
    Baseline,
    straight_nearest_stores,
    walk_values,
)


@dataclass
class _Field:
    """One propagating field: the graph it propagates on, its reverse, and its arrays."""

    graph: sparse.csr_matrix  # from a resource outwards
    reverse: sparse.csr_matrix  # row a: the edges into a (weights of graph)
    value: np.ndarray
    label: np.ndarray


class ScenarioState:
    """The working copy of a baseline that changes are applied to, incrementally.

    Stores are indexed in one growing table: the baseline's counted stores, then those
    added; closed ones stay in it, inactive.
    """

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self.net = baseline.region.net
        self.stores = baseline.stores.copy()
        self.att = Attachment(*(np.array(getattr(baseline.store_att, f))
                                for f in ("edge", "offset", "connector")))
        self.active = np.ones(len(self.stores), dtype=bool)
        self.node = {k: np.array(v) for k, v in baseline.node.items()}
        self.point = {k: np.array(v) for k, v in baseline.point.items()}
        self.threshold_m = baseline.threshold_m
        self.demand = baseline.region.demand
        self.notes: list[Message | str] = []
        self._changed_nodes = np.zeros(self.net.n_nodes, dtype=bool)
        self._changed_edges = np.zeros(self.net.n_edges, dtype=bool)
        self.stats = {"nodes_searched_again": 0, "points_evaluated_again": 0,
                      "full_passes": 0, "areas_counted_again": 0}

    # fields ------------------------------------------------------------------------
    def _fields(self) -> list[tuple[str, _Field, str]]:
        net = self.net
        out = [("distance", _Field(net.distance_graph, net.distance_graph,
                                   self.node["distance"], self.node["nearest"]), "nearest")]
        if net.has_elevation:
            out.append(("seconds", _Field(net.time_graph_reverse, net.time_graph,
                                          self.node["seconds"], self.node["quickest"]),
                        "quickest"))
        return out

    def _store_seeds(self, which: np.ndarray,
                     kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where stores ``which`` enter the network (costs as DistanceField)."""
        return source_seeds(self.net, self.att.take(which),
                            "metres" if kind == "distance" else "seconds", which)

    def _flat_seconds(self, nodes: np.ndarray) -> None:
        if not self.net.has_elevation:
            self.node["seconds"][nodes] = self.node["distance"][nodes] / self.net.walking_speed_mps
            self.node["quickest"][nodes] = self.node["nearest"][nodes]

    def _mark(self, nodes: np.ndarray, store_edges: np.ndarray) -> None:
        self._changed_nodes[nodes] = True
        self._changed_edges[store_edges] = True
        self.stats["nodes_searched_again"] += len(nodes)

    # changes -------------------------------------------------------------------------
    def close(self, positions: Sequence[int]) -> None:
        """Close stores (positions in :attr:`stores`): repair the nodes they served."""
        which = np.unique(np.asarray(positions, dtype=np.int64))
        self.active[which] = False
        closed = np.zeros(len(self.stores), dtype=bool)
        closed[which] = True
        remaining = np.flatnonzero(self.active)
        # points on a closed store's edge may have walked to it directly, even where it is
        # no node's nearest (another store as near): they are evaluated again in any case
        self._changed_edges[self.att.edge[which]] = True
        lost = np.flatnonzero(np.isin(self.point["straight_nearest"], which))
        if len(lost):  # the straight line: only the points whose nearest store closed
            d, w = straight_nearest_stores(self.demand.geometry.to_numpy()[lost],
                                           self.stores.geometry.to_numpy()[remaining])
            self.point["straight"][lost] = d
            self.point["straight_nearest"][lost] = np.append(remaining, -1)[w]
        from geo_service.engine.field_repair import repair_removed  # numba: when it runs

        for kind, f, _ in self._fields():
            hit = repair_removed(f.graph, f.reverse, f.value, f.label, closed,
                                 self._store_seeds(remaining, kind))
            if len(hit) == 0:
                continue
            # every node it lowered is in `hit`
            self._mark(hit, self.att.edge[which])
            if kind == "distance":
                self._flat_seconds(hit)

    def append_stores(self, new: gpd.GeoDataFrame, *, source: str | None = None) -> np.ndarray:
        """Put stores (``store_id``, ``name``, ``category``, points in any CRS) into
        :attr:`stores`, active, without searching from them (:meth:`add` does; a full pass,
        :meth:`refresh_all`, counts them too); returns their positions."""
        new = new.to_crs(self.net.crs)
        att = self.baseline.region.attach(new, source=source)
        first = len(self.stores)
        self.stores = gpd.GeoDataFrame(pd.concat([self.stores, new[self.stores.columns]],
                                                 ignore_index=True),
                                       geometry="geometry", crs=self.net.crs)
        self.att = Attachment.concat([self.att, att])
        self.active = np.concatenate([self.active, np.ones(len(new), dtype=bool)])
        return np.arange(first, len(self.stores))

    def add(self, new: gpd.GeoDataFrame, *, source: str | None = None) -> np.ndarray:
        """Open stores (``store_id``, ``name``, ``category``, points in any CRS): a pruned
        search from each; returns their positions in :attr:`stores`."""
        which = self.append_stores(new, source=source)
        points = self.demand.geometry.to_numpy()
        for k in which:  # the straight line: the points a new store is strictly nearer to
            d = shapely.distance(points, self.stores.geometry.iloc[k])
            nearer = d < self.point["straight"]
            self.point["straight"][nearer] = d[nearer]
            self.point["straight_nearest"][nearer] = k
        from geo_service.engine.cutoff_dijkstra import improve_dijkstra  # numba: when it runs

        for kind, f, _ in self._fields():
            s_node, s_cost, s_label = self._store_seeds(which, kind)
            changed = np.unique(improve_dijkstra(f.graph, s_node, s_cost, s_label, f.value,
                                                 f.label))
            self._mark(changed, self.att.edge[which])
            if kind == "distance":
                self._flat_seconds(changed)
        return which

    def set_speed(self, mps: float) -> None:
        """Another flat walking speed: the network's times change, so the fields are
        computed again in one pass (distances stay as they were)."""
        self.net = self.net.with_speed(mps)
        self.refresh_all()

    def refresh_all(self) -> None:
        """Recompute every field and point from the active stores (one full pass)."""
        active = np.flatnonzero(self.active)
        dfield = DistanceField(self.net, self.att.take(active))
        for key, array in (("distance", dfield.node_distance), ("seconds", dfield.node_seconds)):
            self.node[key] = np.array(array)
        for key, array in (("nearest", dfield.node_nearest), ("quickest", dfield.node_quickest)):
            self.node[key] = np.where(array >= 0, active[np.maximum(array, 0)], -1)
        self._changed_nodes[:] = True
        self.stats["full_passes"] += 1

    # results --------------------------------------------------------------------------
    def access(self) -> PointAccess:
        """Per-point answers: the baseline's, evaluated again where anything changed."""
        active = np.flatnonzero(self.active)
        to_active = np.full(len(self.stores), -1, dtype=np.int64)
        to_active[active] = np.arange(len(active))
        net, att = self.net, self.baseline.region.demand_attachment
        edges = (self._changed_nodes[net.edge_u] | self._changed_nodes[net.edge_v]
                 | self._changed_edges)
        redo = np.flatnonzero(edges[att.edge])
        if len(redo):
            node = {k: (np.where(v >= 0, to_active[np.maximum(v, 0)], -1)
                        if k in ("nearest", "quickest") else v) for k, v in self.node.items()}
            got = DistanceField.from_nodes(net, self.att.take(active), node).at(att.take(redo))
            self.point["distance"][redo] = got.distance_m
            self.point["seconds"][redo] = got.seconds
            for key, values in (("nearest", got.nearest), ("quickest", got.quickest)):
                self.point[key][redo] = np.append(active, -1)[values]  # −1 stays −1
        self.stats["points_evaluated_again"] += len(redo)
        self._changed_nodes[:] = False
        self._changed_edges[:] = False
        return PointAccess(self.point["distance"], self.point["seconds"],
                           self.point["nearest"], self.point["quickest"])

    def result(self, *, car_rate: float | pd.Series | None = None,
               seconds: dict[str, float] | None = None,
               canonical: bool = False) -> DifficultyResult:
        """The indicators of the current state (per point and per area).

        The per-point table is the baseline's with the state's columns put in (the
        formulas of :func:`point_indicators`); ``canonical`` builds
        it with ``point_indicators`` itself, straight lines queried anew (the reference).
        """
        access = self.access()
        active = np.flatnonzero(self.active)
        to_active = np.full(len(self.stores), -1, dtype=np.int64)
        to_active[active] = np.arange(len(active))
        stores = self.stores.iloc[active].reset_index(drop=True)

        def mapped(v: np.ndarray) -> np.ndarray:
            return np.where(v >= 0, to_active[np.maximum(v, 0)], -1)

        access = PointAccess(access.distance_m, access.seconds, mapped(access.nearest),
                             mapped(access.quickest))
        region = self.baseline.region
        if not canonical:
            points = self._points_table(access, stores)
        elif len(stores):
            points = point_indicators(self.demand, access, stores, threshold_m=self.threshold_m)
        else:  # every store closed: no one reaches one (point_indicators needs a store row)
            points = point_indicators(self.demand, access, self.stores.iloc[:1],
                                      threshold_m=self.threshold_m)
            points["straight_m"], points["beyond_straight"] = np.inf, True
        if (not canonical and self.threshold_m == self.baseline.threshold_m
                and car_rate is self.baseline.car_rate and region.areas):
            areas = self.recount_areas(points, stores)
        else:
            areas = area_indicators(points, region.areas, stores,
                                    threshold_m=self.threshold_m, car_rate=car_rate)
            self.stats["areas_counted_again"] = len(areas)
        layer = self.baseline.layer
        after_region = replace(region, net=self.net, demand=self.demand,
                               resources={**region.resources, layer.id: stores},
                               notes=[*region.notes, *map(str, self.notes)],
                               threshold_m=self.threshold_m)
        return DifficultyResult(points, areas, stores, dict(seconds or {}),
                                after_region.notes, self.threshold_m, after_region, layer)

    def recount_areas(self, points: gpd.GeoDataFrame,
                      stores: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """:func:`~geo_service.indicators.difficulty.area_indicators`' table, bit for bit, with only
        the areas holding a point whose indicators changed counted again.

        Sums per area are pandas' grouped sums, as there; the weighted quantiles take
        the baseline's sorted order of the points, re-sorting only the changed areas'
        segments, and then the steps of
        :func:`~geo_service.indicators.difficulty.grouped_weighted_quantile` (whose cumulative sum
        runs over every area); the store counts are made for every area (cheap).
        """
        base_points = self.baseline.result.points
        changed = np.zeros(len(points), dtype=bool)
        for col in ("pop_total", "pop_65plus", "network_m", "walk_min", "reachable",
                    "beyond", "beyond_straight"):
            a, b = points[col].to_numpy(), base_points[col].to_numpy()
            if a.dtype.kind == "f":
                changed |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
            else:
                changed |= a != b
        out = self.baseline.result.areas.copy()
        dist, minutes = walk_values(points)
        w65 = points["pop_65plus"].to_numpy(dtype=float)
        columns = {c: out[c].to_numpy().copy() for c in AREA_COLUMNS}
        first, recounted = 0, 0
        for info in self.baseline.area_index():
            areas, which = info["areas"], info["which"]
            n = len(areas)
            rows = np.unique(which[changed & (which >= 0)])
            counts = store_counts(areas, stores, self.threshold_m)
            columns["stores_in_area"][first:first + n] = counts[0]
            columns["stores_near_area"][first:first + n] = counts[1]
            if len(rows):
                recounted += len(rows)
                again = np.zeros(n, dtype=bool)
                again[rows] = True
                # pandas' grouped sums over every point, as area_indicators makes them
                # (a subset's sums may round otherwise: pandas sums a lone group another
                # way); cheap beside the quantiles
                df = pd.DataFrame({"area": which, "pop_total": points["pop_total"].to_numpy(),
                                   "pop_65plus": w65,
                                   "beyond_65plus": w65 * points["beyond"].to_numpy(),
                                   "beyond_65plus_straight":
                                       w65 * points["beyond_straight"].to_numpy()})
                df = df[df["area"] >= 0]
                sums = df.groupby("area").sum().reindex(range(n), fill_value=0.0).iloc[rows]
                at = first + rows
                for col in ("pop_total", "pop_65plus", "beyond_65plus",
                            "beyond_65plus_straight"):
                    columns[col][at] = sums[col].to_numpy()
                pop = columns["pop_65plus"][at]
                with np.errstate(invalid="ignore", divide="ignore"):
                    for col, num in (("beyond_share", "beyond_65plus"),
                                     ("beyond_share_straight", "beyond_65plus_straight")):
                        columns[col][at] = np.where(pop > 0, columns[num][at] / pop, np.nan)
                for key, values in (("m", dist), ("min", minutes)):
                    order = _resorted(info[f"order_{key}"], which, values, again)
                    for q, name in ((0.5, "median"), (0.9, "p90")):
                        columns[f"{name}_{key}"][at] = sorted_weighted_quantile(
                            which[order], values[order], w65[order], q, n)[rows]
                table = pd.DataFrame({"area_id": columns["area_id"][at],
                                      "beyond_65plus": columns["beyond_65plus"][at]})
                columns["car_adjusted_65plus"][at] = car_adjusted(table,
                                                                  self.baseline.car_rate)
            first += n
        for col in AREA_COLUMNS:
            out[col] = columns[col]
        self.stats["areas_counted_again"] = recounted
        return out

    def _points_table(self, access: PointAccess, stores: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """:func:`point_indicators`' table from the state's arrays
        (``access`` indexed into ``stores``), without querying anything again."""
        points = self.baseline.result.points.copy()
        if self.demand is not self.baseline.region.demand:  # a projection
            for col in ("pop_total", "pop_65plus", "pop_75plus"):
                points[col] = self.demand[col].to_numpy()
        reach = np.isfinite(access.distance_m)
        ids = np.append(stores["store_id"].astype(str).to_numpy(), "")
        straight = np.array(self.point["straight"])
        points["network_m"] = np.where(reach, access.distance_m, np.nan)
        points["walk_min"] = np.where(np.isfinite(access.seconds), access.seconds / 60.0, np.nan)
        points["straight_m"] = straight
        points["nearest_store_id"] = np.where(access.nearest >= 0, ids[access.nearest], "")
        points["reachable"] = reach
        points["beyond"] = ~reach | (access.distance_m > self.threshold_m)
        points["beyond_straight"] = straight > self.threshold_m
        return points


def _resorted(order: np.ndarray, which: np.ndarray, values: np.ndarray,
              again: np.ndarray) -> np.ndarray:
    """The order of ``np.lexsort((values, which))`` over the points inside an area, from
    the baseline's ``order``: the segments of the areas ``again`` sorted anew (areas keep
    their points, so each segment keeps its place and length)."""
    out = order.copy()
    slots = np.flatnonzero(again[which[order]])
    if len(slots):
        members = np.sort(order[slots])  # by position, as lexsort breaks ties
        out[slots] = members[np.lexsort((values[members], which[members]))]
    return out
