"""Facility siting: where would k new places, or n stops of a new route, bring the most
people 65+ within walking range?

**Coverage sets.** One bounded search per candidate on the walking network
(:class:`~geo_service.engine.access.PointSearch`, cut off at the threshold, visiting only the
streets within it) gives the demand points it would serve; the sets are kept as a sparse
candidate × demand incidence matrix, never a dense one. Distances are the engine's:
points are projected onto their nearest edges, and a walk counts when it is at most the
threshold (plus :data:`COVER_TOLERANCE_M`, so a lon/lat round trip does not push a person
on the boundary out). Existing facilities stay where they are: people already within
*their* threshold of one (one multi-source pass, :class:`~geo_service.engine.access.DistanceField`)
are not counted as newly served.

**Reduction.** Demand that no candidate reaches, or that is already served, or that has no
one 65+, is left out; demand points reached by exactly the same candidates are merged into
one weighted group. The models below are solved over these groups; a candidate whose
groups another candidate also reaches (all of them) is left out of the MIP, as swapping it
for that one never loses anyone (the answer is filled up to k sites greedily).

**Maximal covering** (MCLP, Church & ReVelle 1974): choose k candidates maximising the
people 65+ newly within range::

    max Σ_g w_g y_g   s.t.  y_g ≤ Σ_{i covers g} x_i,  Σ_i x_i = k,  x ∈ {0,1}, 0 ≤ y ≤ 1

solved exactly with HiGHS (``highspy``), warm-started from the lazy greedy solution (with
whole people, an incumbent within one person of the bound is optimal, so HiGHS stops
there; with apportioned fractional people it closes the gap to 1e-9). When
the instance is larger than :data:`MIP_MAX_NONZEROS` or the time limit is reached, the best
solution found (HiGHS's or greedy's) is reported with its gap to an upper bound: the MIP's
dual bound, the LP relaxation, or the data-dependent bound of submodular coverage
(Leskovec et al. 2007: ``f(S) + the k largest marginal gains w.r.t. S``; greedy itself is
within ``1 − 1/e`` of the optimum), whichever is lowest.

**Set covering**: the fewest candidates that bring the share of people 65+ within range
(existing and new together) to a target; when even every candidate together falls short,
the answer says so and gives the best share achievable and how many sites reach it.

**Route stops**: the same maximal-covering model with a stop's catchment as the threshold
(300 m for a bus stop, ``STOP_CATCHMENT_M``); the chosen stops are then put in the order of
the shortest walk through them along the network (exact up to :data:`ROUTE_EXACT_MAX_STOPS`
stops, else nearest neighbour + 2-opt, stated as such).

Module settings: :data:`COVER_TOLERANCE_M`, :data:`MIP_TIME_LIMIT_S`,
:data:`MIP_MAX_NONZEROS`, :data:`STOP_CATCHMENT_M`, :data:`ROUTE_EXACT_MAX_STOPS`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from geo_service import settings
from geo_service._errors import InputError, OutsideNetworkError, sheet_row
from geo_service.engine.access import (
    Attachment,
    DistanceField,
    PointSearch,
    TargetIndex,
    attach_points,
)
from geo_service.engine.network import WalkNetwork
from geo_service.inputs.readers import (
    TABLE_SUFFIXES,
    find_column,
    points_from_table,
    read_points,
    read_table,
)

#: metres added to a threshold, so a point on the boundary is not lost to rounding
COVER_TOLERANCE_M = 1e-6
#: seconds HiGHS may take for one solve before the best solution found is reported
MIP_TIME_LIMIT_S = 30.0
#: incidence entries above which the MIP is not tried (greedy + bounds instead)
MIP_MAX_NONZEROS = 5_000_000
#: a stop's walking catchment (m): MLIT's bus-stop coverage
STOP_CATCHMENT_M = 300.0
#: route orders up to this many stops are exact (dynamic programming), above heuristic
ROUTE_EXACT_MAX_STOPS = 10

NAME_ALIASES = ("名称", "name", "施設名", "stop_name", "名前", "停留所名", "事業所名", "資源名")
ID_ALIASES = ("stop_id", "id", "施設id", "施設ID", "ID", "番号", "コード")


class SitingError(InputError):
    """A siting request cannot be answered as asked (k, candidates, target)."""


# ------------------------------------------------------------------------ candidates


@dataclass(frozen=True)
class Candidates:
    """Candidate sites: ids, names, metric coordinates and their attachment to the network."""

    ids: np.ndarray
    names: np.ndarray
    xy: np.ndarray
    attachment: Attachment
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def lonlat(self, net: WalkNetwork) -> np.ndarray:
        """The candidates' (lon, lat), EPSG:4326."""
        if len(self) == 0:
            return np.zeros((0, 2))
        return np.column_stack(net.to_geographic.transform(self.xy[:, 0], self.xy[:, 1]))


def candidates_from_points(net: WalkNetwork, points: gpd.GeoDataFrame, *, source: str = "",
                           rows: Sequence[int | None] | None = None,
                           max_snap_m: float = settings.max_snap_m) -> Candidates:
    """Candidates from points (any CRS) with optional name and id columns.

    Parameters
    ----------
    net
        The walking network.
    points
        Point geometries; a name column (名称, name, 施設名, stop_name …) and an id column
        (id, stop_id …) are used when present.
    source
        The file the points came from, for messages.
    rows
        The row number of each point as the user sees it (spreadsheet rows for tables);
        default 1, 2, ….
    max_snap_m
        A candidate farther than this from every walkable edge is refused.

    Raises
    ------
    SitingError
        When there are no points.
    OutsideNetworkError
        Naming the file, row and lon/lat of the first candidate outside the network.
    """
    if len(points) == 0:
        raise SitingError("no candidate sites: the set of candidates is empty",
                          file=source or None)
    if points.crs is None:
        raise InputError("candidate points have no CRS", file=source or None)
    rows = list(rows) if rows is not None else list(range(1, len(points) + 1))
    labels = [r if r is not None else i + 1 for i, r in enumerate(rows)]
    geoms = points.geometry.to_crs(net.crs).to_numpy()
    empty = shapely.is_empty(geoms) | np.array([g is None for g in geoms])
    if empty.any():
        raise InputError("candidate without a location", file=source or None,
                         row=rows[int(np.flatnonzero(empty)[0])], column="geometry")
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    name_col = find_column(points.columns, NAME_ALIASES)
    id_col = find_column(points.columns, ID_ALIASES)
    names = (points[name_col].fillna("").astype(str).to_numpy() if name_col
             else np.array([f"{Path(source).name or 'candidate'} row {r}" for r in labels]))
    ids = np.array([f"c{r}" for r in labels], dtype=object)
    if id_col:  # an id column may be there and empty (公共施設一覧's ID often is)
        given = points[id_col].fillna("").astype(str).str.strip().to_numpy()
        ids = np.where(given != "", given, ids)
    att = attach_points(net, xy, max_snap_m=math.inf)
    far = att.connector > max_snap_m
    if far.any():
        i = int(np.flatnonzero(far)[0])
        lon, lat = net.to_geographic.transform(*xy[i])
        raise OutsideNetworkError(
            f"candidate {names[i]!r} (id {ids[i]}) lies {att.connector[i]:.0f} m from the "
            "nearest walkable "
            f"street, outside the network (more than {max_snap_m:g} m; {int(far.sum())} of "
            f"{len(xy)} candidates): check lat/lon order and that the file belongs to this "
            "region", file=source or None, row=rows[i], column="lon/lat",
            value=(round(float(lon), 6), round(float(lat), 6)))
    return Candidates(ids.astype(object), names.astype(object), xy, att, source)


def read_candidates(net: WalkNetwork, path: str | Path, *,
                    max_snap_m: float = settings.max_snap_m) -> Candidates:
    """Candidates from a file: a 公共施設一覧 (名称, 緯度, 経度 …; CSV/Excel in UTF-8, UTF-8
    BOM or CP932), a bus-stop list (GTFS ``stops.txt``: stop_name, stop_lat, stop_lon; or
    any lon/lat table), a GTFS / GTFS-JP feed (zip or folder: its boarding stops, e.g. those
    of a cut route) or a vector point file (GeoJSON, GeoPackage …) with names."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".zip":  # a GTFS / GTFS-JP feed
        from geo_service.inputs.gtfs import read_bus_stops

        stops = read_bus_stops([path])
        return candidates_from_points(net, stops[["stop_id", "name", "geometry"]],
                                      source=f"{path} (stops.txt)", rows=[None] * len(stops),
                                      max_snap_m=max_snap_m)
    if path.suffix.lower() in TABLE_SUFFIXES:
        table = read_table(path)
        if len(table) == 0:
            raise SitingError("no candidate sites: the file has no rows", file=path)
        renames = {c: c.removeprefix("stop_") for c in table.columns
                   if c.lower() in ("stop_lat", "stop_lon")}
        points = points_from_table(table.rename(columns=renames), path)
        rows = [sheet_row(i) for i in range(len(points))]
    else:
        points = read_points(path)
        rows = list(range(1, len(points) + 1))
    return candidates_from_points(net, points, source=str(path), rows=rows,
                                  max_snap_m=max_snap_m)


def grid_candidates(net: WalkNetwork, spacing_m: float) -> Candidates:
    """Network nodes near the points of a square grid of ``spacing_m`` over the network:
    per grid point, the nearest node of the main network within half a spacing."""
    if not spacing_m > 0:
        raise SitingError("the grid spacing must be positive", column="--grid",
                          value=spacing_m)
    main = np.zeros(net.n_nodes, dtype=bool)
    on_main = ~net.edge_on_fragment
    main[net.edge_u[on_main]] = main[net.edge_v[on_main]] = True
    nodes = np.flatnonzero(main)
    lo, hi = net.node_xy[nodes].min(axis=0), net.node_xy[nodes].max(axis=0)
    gx = np.arange(lo[0], hi[0] + spacing_m, spacing_m)
    gy = np.arange(lo[1], hi[1] + spacing_m, spacing_m)
    if len(gx) * len(gy) > 2_000_000:
        raise SitingError(f"a {spacing_m:g} m grid over this network has "
                          f"{len(gx) * len(gy):,} points; use a wider spacing",
                          column="--grid", value=spacing_m)
    grid = np.column_stack([a.ravel() for a in np.meshgrid(gx, gy)])
    dist, which = cKDTree(net.node_xy[nodes]).query(grid, distance_upper_bound=spacing_m / 2)
    picked = np.unique(nodes[which[np.isfinite(dist)]])
    if len(picked) == 0:
        raise SitingError("no network node lies near the grid", column="--grid",
                          value=spacing_m)
    xy = net.node_xy[picked]
    att = attach_points(net, xy, max_snap_m=math.inf)
    ids = np.array([f"node-{net.node_id[n]}" for n in picked], dtype=object)
    names = np.array([f"格子点 {i + 1}" for i in range(len(picked))], dtype=object)
    return Candidates(ids, names, xy, att, f"grid {spacing_m:g} m")


# ------------------------------------------------------------------------ coverage sets


def coverage_sets(net: WalkNetwork, demand: Attachment, candidates: Attachment,
                  threshold_m: float) -> sparse.csr_matrix:
    """Which demand points each candidate reaches within ``threshold_m`` along the network.

    One cut-off search per candidate, visiting only the streets within the threshold, to
    the demand points a spatial index says may lie within it.

    Returns
    -------
    A boolean CSR matrix, candidates × demand points.
    """
    limit = threshold_m + COVER_TOLERANCE_M
    index = TargetIndex(net, demand)
    indptr = np.zeros(len(candidates) + 1, dtype=np.int64)
    cols: list[np.ndarray] = []
    for i in range(len(candidates)):
        search = PointSearch(net, candidates.take(np.array([i])))
        near = index.near(search, limit)
        d = search.metres(demand.take(near), limit)
        hit = near[d <= limit]
        cols.append(hit)
        indptr[i + 1] = indptr[i] + len(hit)
    indices = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr),
                             shape=(len(candidates), len(demand)))


def served_by_existing(net: WalkNetwork, demand: Attachment, existing: Attachment | None,
                       threshold_m: float) -> np.ndarray:
    """Per demand point: whether an existing facility lies within ``threshold_m`` (one
    multi-source pass)."""
    if existing is None or len(existing) == 0:
        return np.zeros(len(demand), dtype=bool)
    return DistanceField(net, existing).at(demand).distance_m <= threshold_m + COVER_TOLERANCE_M


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class CurvePoint:
    """The best coverage found with k new sites."""

    k: int
    covered_new: float
    greedy_new: float
    bound: float
    optimal: bool


@dataclass(frozen=True)
class SitingResult:
    """Sites chosen by maximal covering.

    ``chosen`` are candidate positions in report order (each adding the most of those left,
    given the ones before); ``gains`` the people 65+ each newly brings within range in that
    order (they sum to ``covered_new``). ``bound`` is an upper bound on what any k sites
    could newly cover (``bound_source`` says which); ``optimal`` when proven.
    """

    k: int
    chosen: np.ndarray
    gains: np.ndarray
    covered_new: float
    already: float
    total: float
    coverable: float
    method: str
    optimal: bool
    bound: float
    bound_source: str
    greedy_new: float
    seconds: float
    curve: list[CurvePoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """Relative gap to the bound: ``(bound − covered_new) / bound`` (0 when proven)."""
        return 0.0 if self.bound <= 0 else max(0.0, (self.bound - self.covered_new) / self.bound)

    @property
    def share_before(self) -> float:
        """Share of people 65+ within range of an existing facility."""
        return self.already / self.total if self.total > 0 else math.nan

    @property
    def share_after(self) -> float:
        """Share within range of an existing facility or a chosen site."""
        return (self.already + self.covered_new) / self.total if self.total > 0 else math.nan


@dataclass(frozen=True)
class SetCoverResult:
    """The fewest sites reaching a target share (``feasible``), or, when no number of
    candidates can, the best share achievable and the sites that reach it."""

    target_share: float
    feasible: bool
    chosen: np.ndarray
    gains: np.ndarray
    covered_new: float
    already: float
    total: float
    best_share: float
    method: str
    optimal: bool
    lower_bound: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def share_after(self) -> float:
        """Share of people 65+ within range with the chosen sites."""
        return (self.already + self.covered_new) / self.total if self.total > 0 else math.nan


@dataclass(frozen=True)
class RouteOrder:
    """Stops in walking order: positions into the stops given, the leg lengths (m) between
    consecutive stops, and whether the order is proven shortest."""

    order: np.ndarray
    legs_m: np.ndarray
    exact: bool
    note: str

    @property
    def length_m(self) -> float:
        """The walk from the first stop to the last through all others (m)."""
        return float(self.legs_m.sum())


# ------------------------------------------------------------------------ the problem


class SitingProblem:
    """A siting instance: demand weights, what existing facilities serve, and the demand
    each candidate would serve.

    Build with :meth:`from_network` (searches on the network) or directly from an
    incidence matrix; then :meth:`maximal_covering` or :meth:`set_covering`.

    Parameters
    ----------
    incidence
        Candidates × demand points, nonzero where the candidate serves the point (sparse).
    weights
        People 65+ per demand point.
    served
        Per demand point: already within range of an existing facility.
    """

    def __init__(self, incidence: sparse.spmatrix, weights: np.ndarray,
                 served: np.ndarray | None = None) -> None:
        cover = sparse.csr_matrix(incidence, dtype=bool)
        weights = np.asarray(weights, dtype=float)
        n_cand, n_dem = cover.shape
        if len(weights) != n_dem:
            raise SitingError(f"{len(weights)} weights for {n_dem} demand points")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise SitingError("people 65+ per demand point must be finite and non-negative")
        if n_cand == 0:
            raise SitingError("no candidate sites: the set of candidates is empty")
        served = (np.zeros(n_dem, dtype=bool) if served is None
                  else np.asarray(served, dtype=bool))
        if len(served) != n_dem:
            raise SitingError(f"{len(served)} served flags for {n_dem} demand points")
        self.n_candidates = n_cand
        self.total = float(weights.sum())
        self.already = float(weights[served].sum())
        self.incidence = cover
        open_ = ~served & (weights > 0)
        cols = cover.tocsc()
        cols.sort_indices()  # the same candidates give the same key
        reached = np.diff(cols.indptr) > 0
        keep = np.flatnonzero(open_ & reached)
        # demand points reached by the same candidates become one group
        groups: dict[bytes, int] = {}
        label = np.empty(len(keep), dtype=np.int64)
        for n, j in enumerate(keep):
            key = cols.indices[cols.indptr[j]:cols.indptr[j + 1]].tobytes()
            label[n] = groups.setdefault(key, len(groups))
        n_groups = len(groups)
        self.group_weight = np.bincount(label, weights[keep], minlength=n_groups)
        member = sparse.csr_matrix((np.ones(len(keep), dtype=bool), (keep, label)),
                                   shape=(n_dem, n_groups))
        #: candidates × groups
        self.cover = sparse.csr_matrix((cover @ member) > 0, dtype=bool)
        self.cover.sort_indices()
        self.coverable = float(self.group_weight.sum())

    @classmethod
    def from_network(cls, net: WalkNetwork, demand: Attachment, weights: np.ndarray,
                     candidates: Candidates | Attachment, *, threshold_m: float,
                     existing: Attachment | None = None,
                     existing_threshold_m: float | None = None,
                     also_served: np.ndarray | None = None) -> SitingProblem:
        """Coverage sets by cut-off searches from each candidate (:func:`coverage_sets`)
        and the demand existing facilities serve (:func:`served_by_existing`, at
        ``existing_threshold_m``, by default ``threshold_m``); ``also_served`` marks more
        demand points already served (e.g. by existing mobile-sales stops at their own
        catchment)."""
        if not threshold_m > 0:
            raise SitingError("the walking threshold must be positive", column="threshold",
                              value=threshold_m)
        att = candidates.attachment if isinstance(candidates, Candidates) else candidates
        if len(att) == 0:
            raise SitingError("no candidate sites: the set of candidates is empty")
        incidence = coverage_sets(net, demand, att, threshold_m)
        served = served_by_existing(net, demand, existing,
                                    threshold_m if existing_threshold_m is None
                                    else existing_threshold_m)
        if also_served is not None:
            served = served | np.asarray(also_served, dtype=bool)
        return cls(incidence, weights, served)

    # -------------------------------------------------------------- evaluation

    def _check_k(self, k: int) -> None:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise SitingError("k must be a whole number ≥ 1", column="k", value=k)
        if k > self.n_candidates:
            raise SitingError(f"k = {k} is more than the {self.n_candidates} candidate "
                              "sites; give more candidates or a smaller k", column="k",
                              value=k)

    def newly_covered(self, chosen: Sequence[int] | np.ndarray) -> float:
        """People 65+ newly within range when ``chosen`` (candidate positions) are opened."""
        chosen = np.asarray(chosen, dtype=np.int64)
        if len(chosen) == 0:
            return 0.0
        hit = np.zeros(len(self.group_weight), dtype=bool)
        hit[self.cover[chosen].indices] = True
        return float(self.group_weight[hit].sum())

    def ordered(self, chosen: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``chosen`` in greedy order (each adds the most of those left) with each one's
        marginal gain."""
        order, gains = _lazy_greedy(self.cover[np.asarray(chosen, dtype=np.int64)],
                                    self.group_weight, len(chosen))
        return np.asarray(chosen, dtype=np.int64)[order], gains

    def greedy(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Lazy greedy: k candidate positions in the order chosen, and their gains."""
        self._check_k(k)
        return _lazy_greedy(self.cover, self.group_weight, k)

    def greedy_bound(self, order: np.ndarray, k: int) -> float:
        """Upper bound on the best coverage of k sites from a greedy run: the least over
        its prefixes S of f(S) + the k largest marginal gains w.r.t. S."""
        w = self.group_weight
        hit = np.zeros(len(w), dtype=bool)
        best = math.inf
        for r in range(len(order) + 1):
            gains = self.cover @ np.where(hit, 0.0, w)
            top = np.sort(gains)[::-1][:k].sum()
            best = min(best, float(w[hit].sum() + top))
            if r < len(order):
                hit[self.cover[order[r]].indices] = True
        return min(best, self.coverable)

    # -------------------------------------------------------------- maximal covering

    def maximal_covering(self, k: int, *, time_limit_s: float = MIP_TIME_LIMIT_S,
                         exact: bool = True, curve: bool = True) -> SitingResult:
        """Choose k candidates maximising the people 65+ newly within range.

        Parameters
        ----------
        k
            Number of new sites (1 … number of candidates).
        time_limit_s
            For the solve with k sites; past it the best solution found is reported with
            its gap. The curve's solves for 1 … k − 1 share one more budget of this size;
            points it does not reach give greedy's value and the bound.
        exact
            False: lazy greedy only, with the bound of submodular coverage.
        curve
            Also the best coverage for 1 … k − 1 sites (one more solve each).
        """
        self._check_k(k)
        started = time.perf_counter()
        g_order, g_gains = _lazy_greedy(self.cover, self.group_weight, k)
        greedy_new = float(g_gains.sum())
        notes: list[str] = []
        model = None
        if not exact:
            method = "greedy (asked)"
        elif len(self.group_weight) == 0:
            method = "trivial (no one can be newly served)"
        elif self.cover.nnz > MIP_MAX_NONZEROS:
            method = "greedy (instance too large for the MIP)"
            notes.append(f"{self.cover.nnz:,} coverage entries exceed MIP_MAX_NONZEROS "
                         f"({MIP_MAX_NONZEROS:,}); greedy with an LP bound")
        else:
            method = "exact (HiGHS)"
            model = _MclpModel(self.cover, self.group_weight)
        chosen, covered, bound, source, optimal = self._solve_k(
            k, model, g_order, greedy_new, method, notes, time_limit_s)
        if model is not None and not optimal:
            method = "best found within the time limit (HiGHS)"
        order, gains = self.ordered(chosen)
        points = []
        if curve:
            deadline = time.perf_counter() + time_limit_s
            for kk in range(1, k + 1):
                greedy_kk = float(g_gains[:kk].sum())
                if kk == k:
                    c, b, opt = covered, bound, optimal
                else:
                    left = deadline - time.perf_counter()
                    _, c, b, _, opt = self._solve_k(
                        kk, model if left > 0 else None, g_order[:kk], greedy_kk,
                        method if left > 0 else "curve budget spent", [], left)
                points.append(CurvePoint(kk, c, greedy_kk, b, opt))
            if not all(p.optimal for p in points):
                notes.append("coverage curve: some points are not proven optimal (their "
                             "bound is given)")
        return SitingResult(k, order, gains, covered, self.already, self.total,
                            self.coverable, method, optimal, bound, source, greedy_new,
                            time.perf_counter() - started, points, notes)

    def _solve_k(self, k: int, model: _MclpModel | None, g_order: np.ndarray,
                 greedy_new: float, method: str, notes: list[str],
                 time_limit_s: float) -> tuple[np.ndarray, float, float, str, bool]:
        """(chosen, newly covered, upper bound, bound's source, proven optimal) for k."""
        if len(self.group_weight) == 0:
            return g_order, 0.0, 0.0, "nothing coverable", True
        g_bound = self.greedy_bound(g_order, k)
        if greedy_new >= g_bound - _eps(g_bound):
            return g_order, greedy_new, greedy_new, "greedy meets its bound", True
        if model is None:
            bound, source = g_bound, "submodular bound"
            if method.startswith("greedy (instance"):
                lp = _lp_bound(self.cover, self.group_weight, k, time_limit_s)
                if lp is not None and lp < bound:
                    bound, source = lp, "LP relaxation"
            return g_order, greedy_new, bound, source, greedy_new >= bound - _eps(bound)
        chosen, value, dual, status = model.solve(k, time_limit_s)
        if value < greedy_new:
            chosen, value = g_order, greedy_new
        if status == "optimal":
            return chosen, value, value, "optimal (HiGHS)", True
        notes.append(f"k = {k}: HiGHS stopped ({status}) after {time_limit_s:.3g} s")
        bound, source = (dual, "MIP dual bound") if dual < g_bound else (g_bound,
                                                                           "submodular bound")
        return chosen, value, bound, source, value >= bound - _eps(bound)

    # -------------------------------------------------------------- set covering

    def set_covering(self, target_share: float, *,
                     time_limit_s: float = MIP_TIME_LIMIT_S) -> SetCoverResult:
        """The fewest candidates that bring the share of people 65+ within range (existing
        and new together) to ``target_share``; when impossible, the best share achievable
        and the fewest sites reaching it (``feasible`` False)."""
        if not 0 < target_share <= 1:
            raise SitingError("the target share must lie in (0, 1]", column="target_share",
                              value=target_share)
        started = time.perf_counter()
        notes: list[str] = []
        best_share = ((self.already + self.coverable) / self.total if self.total > 0
                      else math.nan)
        need = target_share * self.total - self.already
        feasible = need <= self.coverable + _eps(self.total)
        if not feasible:
            notes.append(f"infeasible: every candidate together brings the share to "
                         f"{best_share:.1%}, short of {target_share:.1%}")
            need = self.coverable
        need -= _eps(self.total)
        if need <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return SetCoverResult(target_share, feasible, empty, np.zeros(0), 0.0,
                                  self.already, self.total, best_share, "nothing needed",
                                  True, 0, time.perf_counter() - started, notes)
        g_order, g_gains = _lazy_greedy(self.cover, self.group_weight, self.n_candidates,
                                        target=need)
        chosen, optimal, lower = g_order, False, 1
        method = "greedy"
        if self.cover.nnz <= MIP_MAX_NONZEROS:
            x, status, dual = _highs_set_cover(self.cover, self.group_weight, need,
                                               time_limit_s)
            method = "exact (HiGHS)"
            if x is not None and len(x) <= len(chosen):
                chosen = x
            optimal = status == "optimal"
            lower = len(chosen) if optimal else max(1, math.ceil(dual - 1e-6))
            if not optimal:
                method = "best found within the time limit (HiGHS)"
                notes.append(f"HiGHS stopped ({status}) after {time_limit_s:g} s; at least "
                             f"{lower} sites are needed")
        order, gains = self.ordered(chosen)
        return SetCoverResult(target_share, feasible, order, gains, float(gains.sum()),
                              self.already, self.total, best_share, method, optimal, lower,
                              time.perf_counter() - started, notes)


def _eps(scale: float) -> float:
    return 1e-9 * max(1.0, abs(scale))


def _lazy_greedy(cover: sparse.csr_matrix, w: np.ndarray, k: int, *,
                 target: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Lazy greedy max coverage (Minoux): up to k rows of ``cover`` (or until ``target``
    is covered), each adding the most weight; ties to the lower index."""
    hit = np.zeros(cover.shape[1], dtype=bool)
    gains0 = cover @ w if cover.shape[1] else np.zeros(cover.shape[0])
    heap = [(-float(g), i, 0) for i, g in enumerate(gains0)]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    total = 0.0
    while len(chosen) < k and heap and total < target:
        neg, i, r = heapq.heappop(heap)
        if r == len(chosen):
            cols = cover.indices[cover.indptr[i]:cover.indptr[i + 1]]
            hit[cols] = True
            chosen.append(i)
            gains.append(-neg)
            total += -neg
            continue
        cols = cover.indices[cover.indptr[i]:cover.indptr[i + 1]]
        g = float(w[cols[~hit[cols]]].sum())
        heapq.heappush(heap, (-g, i, len(chosen)))
    return np.array(chosen, dtype=np.int64), np.array(gains, dtype=float)


# ------------------------------------------------------------------------ HiGHS models


_banner_lock = threading.Lock()
_banner_shown = False


def _highs() -> Any:
    """A silent HiGHS instance with gaps set for proven optima.

    HiGHS writes its banner to the standard output (the C library's, past Python's
    ``sys.stdout``) when the first instance of a process is made; that one is made with
    the output descriptor pointed at ``os.devnull``, so the CLI's table stays clean.
    """
    import highspy

    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.setOptionValue("mip_abs_gap", 1e-7)
    return h


def _coverage_lp(cover: sparse.csr_matrix, w: np.ndarray, cost_x: float, cost_y: np.ndarray,
                 extra_row: tuple[np.ndarray, np.ndarray, float, float],
                 integer: bool) -> Any:
    """The LP: x (candidates, binary) then y (groups, [0, 1]); rows y_g − Σ x_i ≤ 0, then
    one extra row (coefficients on x, on y, lower, upper)."""
    import highspy

    n_c, n_g = cover.shape
    link = sparse.hstack([-cover.T.astype(float), sparse.identity(n_g)])
    extra = sparse.csr_matrix(np.concatenate(extra_row[:2])[None, :])
    a = sparse.vstack([link, extra]).tocsc()
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_c + n_g, n_g + 1
    lp.col_cost_ = np.concatenate([np.full(n_c, cost_x), cost_y])
    lp.col_lower_ = np.zeros(n_c + n_g)
    lp.col_upper_ = np.ones(n_c + n_g)
    lp.row_lower_ = np.concatenate([np.full(n_g, -highspy.kHighsInf), [extra_row[2]]])
    lp.row_upper_ = np.concatenate([np.zeros(n_g), [extra_row[3]]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_c + n_g, n_g + 1
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer:
        lp.integrality_ = ([highspy.HighsVarType.kInteger] * n_c
                           + [highspy.HighsVarType.kContinuous] * n_g)
    return lp


def _status(h: Any) -> str:
    import highspy

    s = h.getModelStatus()
    if s == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if s == highspy.HighsModelStatus.kTimeLimit:
        return "time limit"
    return str(h.modelStatusToString(s))


def _start(h: Any, cover: sparse.csr_matrix, chosen: np.ndarray) -> None:
    """Give HiGHS a feasible starting solution (x = chosen, y = the groups they cover)."""
    import highspy

    n_c, n_g = cover.shape
    x = np.zeros(n_c)
    x[chosen] = 1
    y = np.zeros(n_g)
    if len(chosen):
        y[cover[chosen].indices] = 1
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([x, y]).tolist()
    sol.value_valid = True
    h.setSolution(sol)


class _MclpModel:
    """One HiGHS MCLP model, re-solved for several k (only the cardinality row changes).

    Candidates whose coverage is contained in another's (:func:`_undominated`) are left
    out of the model: one of them in a solution can always be swapped for the other
    without loss, so the optimum over the rest with ``Σ x ≤ k`` is the optimum; a solution
    with fewer than k sites is filled up greedily (gaining nothing more, or more)."""

    def __init__(self, cover: sparse.csr_matrix, w: np.ndarray) -> None:
        import highspy

        self.full, self.w = cover, w
        self.keep = _undominated(cover)
        self.cover = cover[self.keep]
        n_c, n_g = self.cover.shape
        self.h = _highs()
        if np.array_equal(w, np.round(w)):
            # whole people: an incumbent within 1 of the bound is proven optimal
            self.h.setOptionValue("mip_abs_gap", 1 - 1e-6)
        lp = _coverage_lp(self.cover, w, 0.0, w, (np.ones(n_c), np.zeros(n_g), 0.0, 1.0),
                          True)
        lp.sense_ = highspy.ObjSense.kMaximize
        self.h.passModel(lp)
        self.row = n_g
        #: per k solved: the model positions of the sites found
        self.solutions: dict[int, np.ndarray] = {}

    def solve(self, k: int, time_limit_s: float) -> tuple[np.ndarray, float, float, str]:
        """(chosen, objective, dual bound, status) with k sites."""
        h = self.h
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.0)))
        h.changeRowBounds(self.row, 0.0, float(k))
        h.clearSolver()
        warm = self._warm(k)
        _start(h, self.cover, warm)
        h.run()
        status = _status(h)
        n_c = self.cover.shape[0]
        x = np.asarray(h.getSolution().col_value[:n_c])
        chosen = np.flatnonzero(x > 0.5)
        info = h.getInfo()
        dual = (float(info.mip_dual_bound) if status != "optimal"
                else float(info.objective_function_value))
        if len(chosen) == 0 or len(chosen) > k:  # no solution: the warm start
            chosen = warm
        chosen = _fill_up(self.full, self.w, self.keep[chosen], k)
        hit = np.zeros(self.full.shape[1], dtype=bool)
        hit[self.full[chosen].indices] = True
        self.solutions[k] = np.searchsorted(self.keep, chosen[np.isin(chosen, self.keep)])
        return chosen, float(self.w[hit].sum()), dual, status

    def _warm(self, k: int) -> np.ndarray:
        """The best start known for k sites (model positions): greedy, or a solution
        found for k − 1 sites plus the best addition, or one for k + 1 less its least
        useful site."""
        starts = [_lazy_greedy(self.cover, self.w, k)[0]]
        if k - 1 in self.solutions:
            starts.append(_fill_up(self.cover, self.w, self.solutions[k - 1], k))
        if k + 1 in self.solutions and len(self.solutions[k + 1]) > k:
            bigger = self.solutions[k + 1]
            order, _ = _lazy_greedy(self.cover[bigger], self.w, k)
            starts.append(bigger[order])
        return max(starts, key=lambda c: _covered(self.cover, self.w, c))


def _covered(cover: sparse.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> float:
    """The weight of the columns any of ``chosen`` rows reaches."""
    hit = np.zeros(cover.shape[1], dtype=bool)
    if len(chosen):
        hit[cover[np.asarray(chosen, dtype=np.int64)].indices] = True
    return float(w[hit].sum())


def _undominated(cover: sparse.csr_matrix) -> np.ndarray:
    """Positions of the rows of ``cover`` not contained in another row (of two equal rows
    the first is kept); all rows when there are too many to compare cheaply."""
    n = cover.shape[0]
    size = np.diff(cover.indptr)
    if n > 20_000:
        return np.arange(n)
    c = cover.astype(np.int32)
    inter = (c @ c.T).tocoo()
    i, j, shared = inter.row, inter.col, inter.data
    inside = (i != j) & (shared == size[i]) & ((size[j] > size[i]) | (j < i))
    dominated = np.zeros(n, dtype=bool)
    dominated[i[inside]] = True
    dominated[size == 0] = True
    keep = np.flatnonzero(~dominated)
    return keep if len(keep) else np.arange(min(n, 1))


def _fill_up(cover: sparse.csr_matrix, w: np.ndarray, chosen: np.ndarray,
             k: int) -> np.ndarray:
    """``chosen`` completed to k rows by greedy marginal gain (ties to the lower index)."""
    picked = [int(c) for c in chosen]
    if len(picked) >= k:
        return np.array(picked[:k], dtype=np.int64)
    hit = np.zeros(cover.shape[1], dtype=bool)
    if picked:
        hit[cover[np.array(picked)].indices] = True
    taken = np.zeros(cover.shape[0], dtype=bool)
    taken[picked] = True
    while len(picked) < k:
        gains = cover @ np.where(hit, 0.0, w)
        gains[taken] = -1
        best = int(np.argmax(gains))
        picked.append(best)
        taken[best] = True
        hit[cover.indices[cover.indptr[best]:cover.indptr[best + 1]]] = True
    return np.array(picked, dtype=np.int64)


def _lp_bound(cover: sparse.csr_matrix, w: np.ndarray, k: int,
              time_limit_s: float) -> float | None:
    """The LP relaxation's optimum of the MCLP with k sites, or None if not solved."""
    import highspy

    n_c, n_g = cover.shape
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    lp = _coverage_lp(cover, w, 0.0, w, (np.ones(n_c), np.zeros(n_g), float(k), float(k)),
                      False)
    lp.sense_ = highspy.ObjSense.kMaximize
    h.passModel(lp)
    h.run()
    if _status(h) != "optimal":
        return None
    return float(h.getInfo().objective_function_value)


def _highs_set_cover(cover: sparse.csr_matrix, w: np.ndarray, need: float,
                     time_limit_s: float) -> tuple[np.ndarray | None, str, float]:
    """min Σ x with Σ w y ≥ need: (chosen or None, status, dual bound). Candidates whose
    coverage another contains are left out (swapping one for the other never loses)."""
    import highspy

    keep = _undominated(cover)
    full, cover = cover, cover[keep]
    n_c, n_g = cover.shape
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_abs_gap", 1 - 1e-6)  # the number of sites is whole
    lp = _coverage_lp(cover, w, 1.0, np.zeros(n_g),
                      (np.zeros(n_c), w, float(need), highspy.kHighsInf), True)
    lp.sense_ = highspy.ObjSense.kMinimize
    h.passModel(lp)
    _start(h, cover, _lazy_greedy(cover, w, n_c, target=need)[0])
    h.run()
    status = _status(h)
    info = h.getInfo()
    dual = float(info.mip_dual_bound) if status != "optimal" else float(
        info.objective_function_value)
    x = np.asarray(h.getSolution().col_value[:n_c])
    chosen = keep[np.flatnonzero(x > 0.5)]
    if len(chosen) == 0 or _covered(full, w, chosen) < need - _eps(need):
        return None, status, dual
    return chosen, status, dual


# ------------------------------------------------------------------------ route order


def order_stops(net: WalkNetwork, stops: Attachment) -> RouteOrder:
    """The stops in the order of the shortest walk through all of them along the network
    (open path, any first stop): exact up to :data:`ROUTE_EXACT_MAX_STOPS` stops, else
    nearest neighbour from every start improved by 2-opt (stated in ``note``)."""
    n = len(stops)
    if n <= 1:
        return RouteOrder(np.arange(n), np.zeros(0), True, "one stop")
    d = np.empty((n, n))
    for i in range(n):
        d[i] = PointSearch(net, stops.take(np.array([i]))).metres(stops, math.inf)
    d = np.minimum(d, d.T)  # the distance graph is symmetric; guard rounding
    np.fill_diagonal(d, 0.0)
    if not np.isfinite(d).all():
        return RouteOrder(np.arange(n), np.full(n - 1, np.nan), False,
                          "not ordered: the stops lie on separate parts of the network")
    if n <= ROUTE_EXACT_MAX_STOPS:
        order = _held_karp_path(d)
        exact, note = True, "shortest walk through the stops (exact)"
    else:
        order = _nn_two_opt(d)
        exact, note = False, ("walking order by nearest neighbour + 2-opt (not proven "
                              "shortest)")
    legs = d[order[:-1], order[1:]]
    return RouteOrder(order, legs, exact, note)


def _held_karp_path(d: np.ndarray) -> np.ndarray:
    """Shortest Hamiltonian path (any start and end) by dynamic programming."""
    n = len(d)
    full = (1 << n) - 1
    cost = np.full((1 << n, n), np.inf)
    prev = np.full((1 << n, n), -1, dtype=np.int64)
    for i in range(n):
        cost[1 << i, i] = 0.0
    for mask in range(1, 1 << n):
        for last in range(n):
            c = cost[mask, last]
            if not (mask >> last) & 1 or not np.isfinite(c):
                continue
            for nxt in range(n):
                if (mask >> nxt) & 1:
                    continue
                m2 = mask | (1 << nxt)
                if c + d[last, nxt] < cost[m2, nxt]:
                    cost[m2, nxt] = c + d[last, nxt]
                    prev[m2, nxt] = last
    last = int(np.argmin(cost[full]))
    path, mask = [last], full
    while prev[mask, last] >= 0:
        p = int(prev[mask, last])
        mask ^= 1 << last
        last = p
        path.append(last)
    return np.array(path[::-1], dtype=np.int64)


def _path_length(d: np.ndarray, p: Sequence[int]) -> float:
    return float(sum(d[a, b] for a, b in itertools.pairwise(p)))


def _nn_two_opt(d: np.ndarray) -> np.ndarray:
    """An open path through all points: nearest neighbour from every start, each improved
    by 2-opt segment reversals (the prefix and suffix included) until none shortens it."""
    n = len(d)
    best: list[int] = []
    best_len = math.inf
    for start in range(n):
        path, left = [start], set(range(n)) - {start}
        while left:
            nxt = min(left, key=lambda j: (d[path[-1], j], j))
            path.append(nxt)
            left.remove(nxt)
        improved = True
        while improved:
            improved = False
            # reverse path[i + 1 : j]: edges (i, i+1) and (j-1, j) change; i = -1 or j = n
            # (an end of the path) change only one edge
            for i in range(-1, n - 1):
                for j in range(i + 2, n + 1):
                    a, b = path[i] if i >= 0 else -1, path[i + 1]
                    c, e = path[j - 1], path[j] if j < n else -1
                    before = (d[a, b] if a >= 0 else 0.0) + (d[c, e] if e >= 0 else 0.0)
                    after = (d[a, c] if a >= 0 else 0.0) + (d[b, e] if e >= 0 else 0.0)
                    if after < before - 1e-9:
                        path[i + 1:j] = path[i + 1:j][::-1]
                        improved = True
        if (length := _path_length(d, path)) < best_len:
            best, best_len = path, length
    return np.array(best, dtype=np.int64)
