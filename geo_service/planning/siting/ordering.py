"""The walking order of a route's stops: the shortest walk through all of them along the
network, exact up to :data:`~geo_service.planning.siting.ROUTE_EXACT_MAX_STOPS` stops
(dynamic programming), else nearest neighbour + 2-opt."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geo_service.engine.access import Attachment, PointSearch
from geo_service.engine.network import WalkNetwork
from geo_service.planning import siting  # the package's settings, read when called


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
    if n <= siting.ROUTE_EXACT_MAX_STOPS:
        order = _held_karp_path(d)
        exact, note = True, "shortest walk through the stops (exact)"
    else:
        order = nn_two_opt(d)
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


def path_length(d: np.ndarray, p: Sequence[int]) -> float:
    """The length of the open path ``p`` through the points of the distance matrix ``d``."""
    return float(sum(d[a, b] for a, b in itertools.pairwise(p)))


def nn_two_opt(d: np.ndarray) -> np.ndarray:
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
        if (length := path_length(d, path)) < best_len:
            best, best_len = path, length
    return np.array(best, dtype=np.int64)
