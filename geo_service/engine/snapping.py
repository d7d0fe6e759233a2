"""Snapping: the exact nearest-edge search that attaches points to the walking network.

:class:`EdgeIndex` answers, for many points at once, which edge of a network
is nearest and where along it the nearest point lies, exactly as GEOS would
(``STRtree.query_nearest`` and ``line_locate_point``) but in NumPy for straight edges.
A network builds its indexes on first use (``WalkNetwork.edge_index``, ``main_edges``);
:mod:`geo_service.engine.access` attaches points with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy.spatial import cKDTree

if TYPE_CHECKING:  # the network builds its indexes: imported for annotations only
    from geo_service.engine.network import WalkNetwork


class EdgeIndex:
    """Exact nearest-edge search over a set of a network's edges.

    Straight edges (two vertices: all of a PBF network's) are searched in NumPy: a
    ``cKDTree`` over sample points along them (each segment cut into pieces of at most
    ``spacing`` metres, one sample at the middle of each piece, so every point of a segment
    lies within ``reach`` of one of its samples) gives candidates, whose exact point-to-
    segment distances GEOS's formula decides. A point whose nearest candidate segment lies
    at ``d`` has its nearest segment's nearest sample within ``d + reach``; the k nearest
    samples are enough once the k-th lies farther than that, else k grows (and at last
    every sample within ``d + reach`` is taken), so the answer is exact, not a heuristic.
    Edges with more vertices (curved OSM XML / GraphML streets) are searched by GEOS
    (``STRtree.query_nearest``); the nearer of the two answers wins.
    """

    #: candidates per point on the first pass, then on the next ones
    K = (8, 32, 128)
    #: points searched at once (bounds the memory of the candidate arrays), and measured
    #: at once
    BLOCK, SUB_BLOCK = 1 << 16, 1 << 13
    #: from how many points scipy's tree queries use every core
    THREADED = 1 << 12

    def __init__(self, net: WalkNetwork, edges: np.ndarray) -> None:
        edges = np.asarray(edges, dtype=np.int64)
        if net.straight_edges:
            straight = np.ones(len(edges), dtype=bool)
            start, end = net.node_xy[net.edge_u[edges]], net.node_xy[net.edge_v[edges]]
        else:
            geoms = net.edge_geometry[edges]
            straight = shapely.get_num_coordinates(geoms) == 2
            coords = shapely.get_coordinates(geoms[straight]).reshape(-1, 2, 2)
            start, end = coords[:, 0], coords[:, 1]
        #: network edge index of each straight segment (a row of the segment arrays)
        self.seg_edge = edges[straight]
        #: network edge → row of it in the segment arrays (−1: not a straight edge here;
        #: None: the rows are the network's edges)
        self.row: np.ndarray | None = None
        if len(self.seg_edge) != net.n_edges or not np.array_equal(
                self.seg_edge, np.arange(net.n_edges)):
            self.row = np.full(net.n_edges, -1, dtype=np.int64)
            self.row[self.seg_edge] = np.arange(len(self.seg_edge))
        # the segments' ends: a straight-edged network's are read from node_xy when needed
        self._ends = ((net.node_xy, net.edge_u, net.edge_v)
                      if net.straight_edges and self.row is None else None)
        self._start: np.ndarray | None = None if self._ends else start
        self._end: np.ndarray | None = None if self._ends else end
        self.curved = edges[~straight]
        self._curved_tree = (shapely.STRtree(net.edge_geometry[self.curved])
                             if len(self.curved) else None)
        self._net = net
        self._tree: cKDTree | None = None
        self.reach = 0.0
        n = len(self.seg_edge)
        if n:
            length = segment_length(start, end)
            spacing = max(float(np.quantile(length, 0.9)), 1e-3)
            pieces = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
            self.reach = float((length / (2 * pieces)).max())
            del length
            # every segment's midpoint (the middle of its one piece, for most), then the
            # middles of the pieces of longer segments
            multi = np.flatnonzero(pieces > 1)
            extra = np.repeat(multi, pieces[multi])
            rank = np.arange(len(extra)) - np.repeat(np.cumsum(pieces[multi]) - pieces[multi],
                                                     pieces[multi])
            frac = ((rank + 0.5) / pieces[extra])[:, None]
            samples = np.empty((n + len(extra), 2))
            np.add(start, end, out=samples[:n])
            samples[:n] *= 0.5
            samples[n:] = start[extra] + (end[extra] - start[extra]) * frac
            #: segment row of each sample
            self.sample_seg = np.concatenate([np.arange(n), extra]).astype(
                np.int32 if n < 2**31 else np.int64)
            self._tree = cKDTree(samples, balanced_tree=False, compact_nodes=False)
        from geo_service.memory import release_free_memory

        release_free_memory()  # the temporaries of millions of segments

    def start(self, seg: np.ndarray) -> np.ndarray:
        """The first vertex of segments (rows)."""
        if self._ends is not None:
            xy, u, _ = self._ends
            return xy[u[seg]]
        assert self._start is not None
        return self._start[seg]

    def end(self, seg: np.ndarray) -> np.ndarray:
        """The last vertex of segments (rows)."""
        if self._ends is not None:
            xy, _, v = self._ends
            return xy[v[seg]]
        assert self._end is not None
        return self._end[seg]

    def nearest(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The nearest edge (network edge index) of each point and its distance (m)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        edge = np.full(len(xy), -1, dtype=np.int64)
        dist = np.full(len(xy), np.inf)
        if self._tree is not None:
            # in Z-order, neighbours search the same part of the tree (3× faster queries)
            order = np.argsort(_morton(xy), kind="stable")
            for lo in range(0, len(xy), self.BLOCK):
                part = order[lo:lo + self.BLOCK]
                edge[part], dist[part] = self._nearest_straight(xy[part])
        if self._curved_tree is not None:
            (which, hit), d = self._curved_tree.query_nearest(
                shapely.points(xy), return_distance=True, all_matches=False)
            better = d < dist[which]
            edge[which[better]], dist[which[better]] = self.curved[hit[better]], d[better]
        return edge, dist

    def _nearest_straight(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._tree is not None
        n_samples = self._tree.n
        edge = np.empty(len(xy), dtype=np.int64)
        dist = np.empty(len(xy))
        todo = np.arange(len(xy))
        # a margin for rounding in the samples' positions and the distances (metres)
        margin = self.reach * (1 + 1e-9) + 1e-7
        # scipy's threads pay off for many points; for a request's few they cost more
        # than the query (a thread started per call of /reach)
        workers = -1 if len(xy) >= self.THREADED else 1
        for k in self.K:
            k = min(k, n_samples)
            sample_d, sample = self._tree.query(xy[todo], k=k, workers=workers)
            sample_d, sample = sample_d.reshape(len(todo), k), sample.reshape(len(todo), k)
            seg = self.sample_seg[sample]
            e, best = np.empty(len(todo), dtype=np.int64), np.empty(len(todo))
            pts = xy[todo]
            for lo in range(0, len(todo), self.SUB_BLOCK):  # cache-sized temporaries
                sub = slice(lo, lo + self.SUB_BLOCK)
                e[sub], best[sub] = self._pick(
                    seg[sub], self.distance(pts[sub][:, None, :], seg[sub]))
            edge[todo], dist[todo] = e, best
            done = (k == n_samples) | (sample_d[:, -1] > best + margin)
            todo = todo[~done]
            if len(todo) == 0:
                return edge, dist
        # the rest: every sample within d + reach
        found = self._tree.query_ball_point(xy[todo], dist[todo] + margin,
                                             workers=workers)
        counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
        flat = np.fromiter((i for f in found for i in f), dtype=np.int64, count=counts.sum())
        owner = np.repeat(np.arange(len(todo)), counts)
        seg = self.sample_seg[flat]
        d = self.distance(xy[todo][owner], seg)
        order = np.lexsort((self.seg_edge[seg], d, owner))
        first = order[np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]]
        edge[todo], dist[todo] = self.seg_edge[seg[first]], d[first]
        return edge, dist

    def _pick(self, seg: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the least distance and its edge (the lowest edge index on a tie)."""
        best = d.min(axis=1)
        edges = np.where(d == best[:, None], self.seg_edge[seg], np.iinfo(np.int64).max)
        return edges.min(axis=1), best

    def distance(self, xy: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Distance from points to straight segments (rows), as GEOS computes it."""
        a, b = self.start(seg), self.end(seg)
        delta = b - a
        len2 = delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1]
        px, py = xy[..., 0] - a[..., 0], xy[..., 1] - a[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (px * delta[..., 0] + py * delta[..., 1]) / len2
            s = (py * delta[..., 0] - px * delta[..., 1]) / len2
        to_a = np.sqrt(px * px + py * py)
        bx, by = xy[..., 0] - b[..., 0], xy[..., 1] - b[..., 1]
        to_b = np.sqrt(bx * bx + by * by)
        return np.where((r <= 0) | (len2 == 0), to_a,
                        np.where(r >= 1, to_b, np.abs(s) * np.sqrt(len2)))

    def locate(self, edge: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Distance along each ``edge`` from u to the point of it nearest to ``xy`` (m),
        as ``shapely.line_locate_point``."""
        row = edge if self.row is None else self.row[edge]
        offset = np.empty(len(edge))
        straight = row >= 0
        r = row[straight]
        a = self.start(r)
        delta = self.end(r) - a
        len2 = np.einsum("ij,ij->i", delta, delta)
        p = xy[straight] - a
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.einsum("ij,ij->i", p, delta) / len2
        offset[straight] = np.where(len2 > 0, np.clip(t, 0, 1), 0) * np.sqrt(len2)
        if not straight.all():
            rest = ~straight
            offset[rest] = shapely.line_locate_point(self._net.edge_geometry[edge[rest]],
                                                     shapely.points(xy[rest]))
        return offset


def _morton(xy: np.ndarray) -> np.ndarray:
    """Z-order keys of points (16 bits per axis over their bounding box)."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.uint64)
    lo = xy.min(axis=0)
    span = max(float((xy.max(axis=0) - lo).max()), 1e-9)
    q = np.nan_to_num((xy - lo) / span * 65535).clip(0, 65535).astype(np.uint64)

    def spread(v: np.ndarray) -> np.ndarray:
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333),
                            (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return spread(q[:, 0]) | (spread(q[:, 1]) << np.uint64(1))


def segment_length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lengths of straight segments from ``a`` to ``b``, summed as GEOS sums a two-vertex
    line's (the index's sample spacing; a straight-edged network's edge lengths)."""
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    return np.sqrt(dx * dx + dy * dy)
