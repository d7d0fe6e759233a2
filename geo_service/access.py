"""The engine: attaching points to the network, distance fields, isochrones.

Points (residents, stores, stops) are attached by **projection onto the nearest walkable
edge**: an :class:`Attachment` records the edge, the offset along it from ``u`` and the
straight connector from the point to the edge.

A :class:`DistanceField` is one multi-source shortest-path pass (scipy's Dijkstra with
``min_only=True``) from all resources of a layer at once. Each resource is a virtual node
with edges to both ends of its edge; the pass gives every network node its distance to the
nearest resource, which resource that is, and (on a separate pass over the reversed time
graph, so uphill and downhill are told apart) the shortest walking time to any resource.
A point's answer is then O(1)::

    connector + min(a + D[u], (L − a) + D[v])

with resources on the point's own edge handled directly (``|a_point − a_resource|``).
Unreachable points (islands) get ``inf``, never 0 or a large finite number.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from geo_service import settings
from geo_service._errors import OutsideNetworkError
from geo_service.network import WalkNetwork, tobler_speed


@dataclass(frozen=True)
class Attachment:
    """Where points meet the network: edge index, offset from u (m), connector (m)."""

    edge: np.ndarray
    offset: np.ndarray
    connector: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


@dataclass(frozen=True)
class PointAccess:
    """Per-point answers of a distance field.

    ``distance_m`` and ``seconds`` are ``inf`` where no resource can be reached;
    ``nearest`` is the index of the nearest resource (by distance) or −1.
    """

    distance_m: np.ndarray
    seconds: np.ndarray
    nearest: np.ndarray

    @property
    def reachable(self) -> np.ndarray:
        """Boolean mask of points that reach at least one resource."""
        return np.isfinite(self.distance_m)


def attach_points(
    net: WalkNetwork,
    xy: np.ndarray,
    *,
    max_snap_m: float = settings.max_snap_m,
    ids: np.ndarray | None = None,
    source: str | None = None,
) -> Attachment:
    """Project points (metric ``xy``, in the network's CRS) onto their nearest edges.

    Raises
    ------
    OutsideNetworkError
        When a point is farther than ``max_snap_m`` from every walkable edge; the message
        names the point and how many others share the problem.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        empty = np.zeros(0)
        return Attachment(np.zeros(0, dtype=np.int64), empty, empty)
    points = shapely.points(xy)
    (which, edge), dist = net.edge_tree.query_nearest(points, return_distance=True,
                                                      all_matches=False)
    order = np.argsort(which, kind="stable")
    edge, dist = edge[order], dist[order]
    edge, dist = _prefer_main_network(net, points, edge, dist)
    far = dist > max_snap_m
    if far.any():
        first = int(np.flatnonzero(far)[0])
        label = ids[first] if ids is not None else first
        lon, lat = net.to_geographic.transform(*xy[first])
        raise OutsideNetworkError(
            f"{int(far.sum())} of {len(xy)} points lie more than {max_snap_m:g} m from the "
            f"walking network; the first is at lon {lon:.6f}, lat {lat:.6f}, "
            f"{dist[first]:.0f} m away. Check the CRS or lat/lon order, or use a network "
            "that covers these points", file=source, row=label)
    offset = shapely.line_locate_point(net.edge_geometry[edge], points)
    return Attachment(edge.astype(np.int64), np.clip(offset, 0, net.edge_length[edge]), dist)


def _prefer_main_network(net: WalkNetwork, points: np.ndarray, edge: np.ndarray,
                         dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move points attached to a network fragment onto the main network if it is close.

    See ``settings.fragment_max_nodes`` / ``settings.fragment_snap_m``.
    """
    on_fragment = np.flatnonzero(net.edge_on_fragment[edge])
    if len(on_fragment) == 0 or settings.fragment_snap_m <= 0:
        return edge, dist
    main, tree = net.main_edges
    if len(main) == 0:
        return edge, dist
    (which, nearest), d = tree.query_nearest(points[on_fragment], return_distance=True,
                                             max_distance=settings.fragment_snap_m,
                                             all_matches=False)
    edge, dist = edge.copy(), dist.copy()
    edge[on_fragment[which]] = main[nearest]
    dist[on_fragment[which]] = d
    return edge, dist


class DistanceField:
    """Distance and time from every node to the nearest of a set of resources.

    Parameters
    ----------
    net
        The walking network.
    resources
        Attachment of the resource points (:func:`attach_points`).
    """

    def __init__(self, net: WalkNetwork, resources: Attachment) -> None:
        self.net = net
        self.resources = resources
        n, k = net.n_nodes, len(resources)
        if k == 0:
            self.node_distance = np.full(n, np.inf)
            self.node_nearest = np.full(n, -1, dtype=np.int64)
            self.node_seconds = np.full(n, np.inf)
            return
        e = resources.edge
        u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length[e]
        a, c = resources.offset, resources.connector
        dist, _, src = dijkstra(
            _with_virtual_sources(net.distance_graph, u, v, a + c, length - a + c),
            directed=True, indices=np.arange(n, n + k), min_only=True,
            return_predecessors=True)
        self.node_distance = dist[:n]
        self.node_nearest = np.where(src[:n] >= 0, src[:n] - n, -1).astype(np.int64)
        if net.has_elevation:
            t_uv, t_vu = (t[e] for t in net.edge_seconds)
            walk_c = c / net.walking_speed_mps
            # Time *to* a resource: search the reversed graph from the resources.
            self.node_seconds = dijkstra(
                _with_virtual_sources(net.time_graph.T.tocsr(), u, v,
                                      a / length * t_uv + walk_c,
                                      (length - a) / length * t_vu + walk_c),
                directed=True, indices=np.arange(n, n + k), min_only=True)[:n]
        else:
            self.node_seconds = self.node_distance / net.walking_speed_mps

    def at(self, points: Attachment) -> PointAccess:
        """Distance, walking time and nearest resource for attached points, O(1) each."""
        net, e = self.net, points.edge
        u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length[e]
        b, c = points.offset, points.connector
        via_u = b + self.node_distance[u]
        via_v = (length - b) + self.node_distance[v]
        distance = c + np.minimum(via_u, via_v)
        nearest = np.where(via_u <= via_v, self.node_nearest[u], self.node_nearest[v])
        t_uv, t_vu = (t[e] for t in net.edge_seconds)
        walk_c = c / net.walking_speed_mps
        seconds = walk_c + np.minimum(b / length * t_vu + self.node_seconds[u],
                                      (length - b) / length * t_uv + self.node_seconds[v])
        distance, seconds, nearest = self._same_edge(points, distance, seconds, nearest)
        nearest = np.where(np.isfinite(distance), nearest, -1)
        return PointAccess(distance, seconds, nearest)

    def _same_edge(self, points: Attachment, distance: np.ndarray, seconds: np.ndarray,
                   nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Improve answers of points that share an edge with a resource (direct walk)."""
        res = self.resources
        pairs = pd.DataFrame({"edge": points.edge, "point": np.arange(len(points))}).merge(
            pd.DataFrame({"edge": res.edge, "resource": np.arange(len(res))}), on="edge")
        if pairs.empty:
            return distance, seconds, nearest
        p, r = pairs["point"].to_numpy(), pairs["resource"].to_numpy()
        e = points.edge[p]
        length = self.net.edge_length[e]
        along = res.offset[r] - points.offset[p]
        d = points.connector[p] + np.abs(along) + res.connector[r]
        t_uv, t_vu = (t[e] for t in self.net.edge_seconds)
        t = ((points.connector[p] + res.connector[r]) / self.net.walking_speed_mps
             + np.where(along >= 0, along / length * t_uv, -along / length * t_vu))
        distance, seconds, nearest = distance.copy(), seconds.copy(), nearest.copy()
        best_d = pd.Series(d).groupby(p).idxmin().to_numpy()
        bp, bd, br = p[best_d], d[best_d], r[best_d]
        better = bd < distance[bp]
        distance[bp[better]], nearest[bp[better]] = bd[better], br[better]
        best_t = pd.Series(t).groupby(p).min()
        tp = best_t.index.to_numpy()
        seconds[tp] = np.minimum(seconds[tp], best_t.to_numpy())
        return distance, seconds, nearest


def node_distances_from(net: WalkNetwork, origin: Attachment, *,
                        limit_m: float = np.inf) -> np.ndarray:
    """Network distance from one attached origin to every node, ``inf`` past ``limit_m``."""
    e = origin.edge[:1]
    u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length[e]
    a, c = origin.offset[:1], origin.connector[:1]
    n = net.n_nodes
    graph = _with_virtual_sources(net.distance_graph, u, v, a + c, length - a + c)
    return dijkstra(graph, directed=True, indices=n, limit=limit_m)[:n]


@dataclass(frozen=True)
class LocalSearch:
    """Cut-off distances and walking times from one attached point (:func:`local_search`).

    ``nodes`` are the (sorted) node indices searched: every node within the cut-offs lies
    among them; ``local_index`` gives each network node's position in ``nodes`` (−1 for
    the others). ``dist2``/``secs2`` hold, per searched node, the metres and seconds from
    each end of the origin's edge (``inf`` past the cut-off); ``to_ends``/``t_ends`` the
    walk from the origin to those ends.
    """

    net: WalkNetwork
    origin: Attachment
    nodes: np.ndarray
    local_index: np.ndarray
    dist2: np.ndarray
    secs2: np.ndarray
    to_ends: np.ndarray
    t_ends: np.ndarray

    def _local(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``nodes`` in :attr:`nodes` (0 where not searched), and which were."""
        pos = self.local_index[np.asarray(nodes)]
        found = pos >= 0
        return np.where(found, pos, 0), found

    def _dist(self, pos: np.ndarray, found: np.ndarray) -> np.ndarray:
        d = np.minimum(self.dist2[0, pos] + self.to_ends[0], self.dist2[1, pos] + self.to_ends[1])
        return np.where(found, d, np.inf)

    def _secs(self, pos: np.ndarray, found: np.ndarray) -> np.ndarray:
        s = np.minimum(self.secs2[0, pos] + self.t_ends[0], self.secs2[1, pos] + self.t_ends[1])
        return np.where(found, s, np.inf)

    def distance_to(self, nodes: np.ndarray) -> np.ndarray:
        """Metres from the origin to ``nodes`` (``inf`` beyond the cut-off)."""
        return self._dist(*self._local(nodes))

    def seconds_to(self, nodes: np.ndarray) -> np.ndarray:
        """Walking seconds from the origin to ``nodes`` (``inf`` beyond the cut-off)."""
        return self._secs(*self._local(nodes))

    def at(self, targets: Attachment) -> tuple[np.ndarray, np.ndarray]:
        """Metres and seconds from the origin to attached points (edge-projected at both
        ends; a target on the origin's own edge is also reached directly along it).

        A value past its cut-off may be ``inf`` or a finite number above the cut-off.
        """
        net, origin = self.net, self.origin
        lu, lv = (self.local_index[end[targets.edge]] for end in (net.edge_u, net.edge_v))
        same_all = targets.edge == origin.edge[0]
        near = np.flatnonzero((lu >= 0) | (lv >= 0) | same_all)  # the others stay inf
        d_all, s_all = np.full(len(targets), np.inf), np.full(len(targets), np.inf)
        e, lu, lv, same = targets.edge[near], lu[near], lv[near], same_all[near]
        length, a, c = net.edge_length[e], targets.offset[near], targets.connector[near]
        t_uv, t_vu = (t[e] for t in net.edge_seconds)
        at_u, at_v = (np.maximum(lu, 0), lu >= 0), (np.maximum(lv, 0), lv >= 0)
        d = c + np.minimum(self._dist(*at_u) + a, self._dist(*at_v) + (length - a))
        s = c / net.walking_speed_mps + np.minimum(
            self._secs(*at_u) + a / length * t_uv, self._secs(*at_v) + (length - a) / length * t_vu)
        if same.any():
            along = a[same] - origin.offset[0]
            cc = origin.connector[0] + c[same]
            d[same] = np.minimum(d[same], cc + np.abs(along))
            direct = cc / net.walking_speed_mps + np.where(
                along >= 0, along / length[same] * t_uv[same], -along / length[same] * t_vu[same])
            s[same] = np.minimum(s[same], direct)
        d_all[near], s_all[near] = d, s
        return d_all, s_all


def local_search(net: WalkNetwork, origin: Attachment, *, limit_m: float,
                 limit_s: float) -> LocalSearch:
    """Single-source search from one attached point, cut off at ``limit_m`` metres (on the
    distance graph) and ``limit_s`` seconds (on the slope-aware time graph).

    Gives the same answers as a search over the whole network (scipy's Dijkstra from both
    ends of the origin's edge with these cut-offs), but only touches the nodes near the
    origin: a walk is never shorter than the straight line between its ends (scaled by the
    network's least edge-length / chord ratio, 1 when edges run node to node) and never
    faster than the fastest walking speed (Tobler's peak on a 5 % descent), so every node
    within a cut-off lies within a straight-line radius of the edge's ends. Those nodes
    are taken from :attr:`WalkNetwork.node_tree`, the sub-graph between them is searched,
    and its cost grows with the area within the cut-off, not with the network's size.
    """
    e = int(origin.edge[0])
    ends = np.array([net.edge_u[e], net.edge_v[e]])
    length, a, c = net.edge_length[e], origin.offset[0], origin.connector[0]
    t_uv, t_vu = (float(t[e]) for t in net.edge_seconds)
    walk_c = c / net.walking_speed_mps
    to_ends = np.array([a + c, length - a + c])
    t_ends = np.array([a / length * t_vu + walk_c, (length - a) / length * t_uv + walk_c])
    lim_d = max(limit_m - to_ends.min(), 0.0)
    lim_t = max(limit_s - t_ends.min(), 0.0)
    fastest = (float(tobler_speed(np.array([-0.05]), net.walking_speed_mps)[0])
               if net.has_elevation else net.walking_speed_mps)
    chord_ratio, same_structure = _net_facts(net)
    radius = max(lim_d, lim_t * fastest) / chord_ratio
    if np.isfinite(radius):
        xy_u, xy_v = net.node_xy[ends]
        reach = radius * (1 + 1e-6) + 1e-3 + float(np.hypot(*(xy_v - xy_u)))
        nodes = np.sort(np.asarray(net.node_tree.query_ball_point(xy_u, reach),
                                   dtype=np.int64))
        lut = np.full(net.n_nodes, -1, dtype=np.int32)
        lut[nodes] = np.arange(len(nodes), dtype=np.int32)
        dist_g, time_g = _subgraphs([net.distance_graph, net.time_graph], nodes, lut,
                                    same_structure=same_structure)
    else:
        nodes = np.arange(net.n_nodes)
        lut = nodes.astype(np.int32)
        dist_g, time_g = net.distance_graph, net.time_graph
    local = lut[ends]
    d2 = dijkstra(dist_g, directed=True, indices=local, limit=lim_d)
    s2 = dijkstra(time_g, directed=True, indices=local, limit=lim_t)
    return LocalSearch(net, origin, nodes, lut, d2, s2, to_ends, t_ends)


_NET_FACTS: weakref.WeakKeyDictionary[WalkNetwork, tuple[float, bool]] = (
    weakref.WeakKeyDictionary())


def _net_facts(net: WalkNetwork) -> tuple[float, bool]:
    """The least ratio of an edge's length to the straight line between its nodes (≤ 1),
    and whether the distance and time graphs share one sparsity structure (computed once)."""
    if net not in _NET_FACTS:
        chord = np.hypot(*(net.node_xy[net.edge_u] - net.node_xy[net.edge_v]).T)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(chord > 0, net.edge_length / chord, np.inf)
        dg, tg = net.distance_graph, net.time_graph
        same = (np.array_equal(dg.indptr, tg.indptr) and np.array_equal(dg.indices, tg.indices))
        _NET_FACTS[net] = (float(min(1.0, ratio.min(initial=1.0))), same)
    return _NET_FACTS[net]


def _subgraphs(graphs: Sequence[sparse.csr_matrix], nodes: np.ndarray, lut: np.ndarray, *,
               same_structure: bool) -> list[sparse.csr_matrix]:
    """The rows of ``nodes`` (sorted; ``lut`` maps every node to its position in ``nodes``
    or −1) of each graph, with edges to other nodes sent to one extra sink node (index
    ``len(nodes)``, no edges out, so it never shortens a path); O(edges of those rows).
    The selection is computed once when the graphs share their sparsity structure."""
    out: list[sparse.csr_matrix] = []
    k = len(nodes)
    for g in graphs:
        if not (same_structure and out):
            starts = g.indptr[nodes]
            counts = g.indptr[nodes + 1] - starts
            indptr = np.zeros(k + 2, dtype=np.int32)
            np.cumsum(counts, out=indptr[1:k + 1])
            indptr[k + 1] = indptr[k]
            take = np.arange(indptr[k]) + np.repeat(starts - indptr[:k], counts)
            cols = lut[g.indices[take]]
            cols[cols < 0] = k
        out.append(sparse.csr_matrix((g.data[take], cols, indptr), shape=(k + 1, k + 1)))
    return out


def _with_virtual_sources(graph: sparse.csr_matrix, u: np.ndarray, v: np.ndarray,
                          w_u: np.ndarray, w_v: np.ndarray) -> sparse.csr_matrix:
    """Append one row per source with out-edges to ``u`` and ``v`` (duplicates min-reduced).

    The virtual nodes only have outgoing edges, so the base CSR arrays are reused as
    they are and only ``k`` rows are added.
    """
    n, k = graph.shape[0], len(u)
    same = u == v  # a resource on a loop edge reaches its node by the shorter way round
    w_u = np.where(same, np.minimum(w_u, w_v), w_u)
    cols = np.column_stack([u, v])
    weights = np.column_stack([w_u, w_v])
    counts = np.where(same, 1, 2)
    take = np.column_stack([np.ones(k, bool), ~same])
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([graph.indices, cols[take]])
    data = np.concatenate([graph.data, weights[take]])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + k, n + k))
