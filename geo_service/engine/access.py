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

The compiled searches (:mod:`~geo_service.engine.cutoff_dijkstra`, numba) are imported
when one first runs: a command that only reads saved results does without numba.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo_service import settings
from geo_service._errors import OutsideNetworkError
from geo_service.engine.network import WalkNetwork

if TYPE_CHECKING:
    from geo_service.engine.cutoff_dijkstra import Aim


@dataclass(frozen=True)
class Attachment:
    """Where points meet the network: edge index, offset from u (m), connector (m)."""

    edge: np.ndarray
    offset: np.ndarray
    connector: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def take(self, index: np.ndarray) -> Attachment:
        """The attachments at ``index`` (positions or a boolean mask)."""
        return Attachment(self.edge[index], self.offset[index], self.connector[index])

    def digest(self) -> str:
        """SHA-256 (hex) of the edges, offsets and connectors: what a result saved for
        these points is keyed by (:func:`~geo_service.engine.saved.load_or_make`)."""
        h = hashlib.sha256()
        for array in (self.edge, self.offset, self.connector):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    @staticmethod
    def concat(parts: Sequence[Attachment]) -> Attachment:
        """The attachments of ``parts``, one after another."""
        return Attachment(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("edge", "offset", "connector")))


@dataclass(frozen=True)
class PointAccess:
    """Per-point answers of a distance field.

    ``distance_m`` and ``seconds`` are ``inf`` where no resource can be reached;
    ``nearest`` is the index of the nearest resource (by distance) or −1, ``quickest`` that
    of the resource ``seconds`` is the walk to (on slopes it may differ from ``nearest``).
    """

    distance_m: np.ndarray
    seconds: np.ndarray
    nearest: np.ndarray
    quickest: np.ndarray

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
    index = net.edge_index
    edge, dist = index.nearest(xy)
    edge, dist = _prefer_main_network(net, xy, edge, dist)
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
    offset = index.locate(edge, xy)
    return Attachment(edge.astype(np.int64), np.clip(offset, 0, net.edge_length[edge]), dist)


def _prefer_main_network(net: WalkNetwork, xy: np.ndarray, edge: np.ndarray,
                         dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move points attached to a network fragment onto the main network if it is close.

    See ``settings.fragment_max_nodes`` / ``settings.fragment_snap_m``.
    """
    on_fragment = np.flatnonzero(net.edge_on_fragment[edge])
    if len(on_fragment) == 0 or settings.fragment_snap_m <= 0:
        return edge, dist
    main, index = net.main_edges
    if len(main) == 0:
        return edge, dist
    nearest, d = index.nearest(xy[on_fragment])
    which = np.flatnonzero(d <= settings.fragment_snap_m)
    edge, dist = edge.copy(), dist.copy()
    edge[on_fragment[which]] = nearest[which]
    dist[on_fragment[which]] = d[which]
    return edge, dist


class DistanceField:
    """Distance and time from every node to the nearest of a set of resources.

    Parameters
    ----------
    net
        The walking network.
    resources
        Attachment of the resource points (:func:`attach_points`).
    release_gil
        Search with the compiled Dijkstra that lets other threads run (see
        :func:`_nearest_source`), e.g. when building in a background thread.
    """

    def __init__(self, net: WalkNetwork, resources: Attachment, *,
                 release_gil: bool = False) -> None:
        self.net = net
        self.resources = resources
        n, k = net.n_nodes, len(resources)
        if k == 0:
            self.node_distance = np.full(n, np.inf)
            self.node_nearest = np.full(n, -1, dtype=np.int64)
            self.node_seconds = np.full(n, np.inf)
            self.node_quickest = self.node_nearest
            return
        self.node_distance, self.node_nearest = _nearest_source(
            net.distance_graph, *source_costs(net, resources, "metres"),
            release_gil=release_gil)
        if net.has_elevation:
            # Time *to* a resource: search the reversed graph from the resources.
            #: per node, the resource reached quickest (−1: none)
            self.node_seconds, self.node_quickest = _nearest_source(
                net.time_graph_reverse, *source_costs(net, resources, "seconds"),
                release_gil=release_gil)
        else:
            self.node_seconds = self.node_distance / net.walking_speed_mps
            self.node_quickest = self.node_nearest

    @classmethod
    def from_nodes(cls, net: WalkNetwork, resources: Attachment,
                   node: dict[str, np.ndarray]) -> DistanceField:
        """A field from given node arrays (``distance``, ``nearest``, ``seconds``,
        ``quickest``; no search): :meth:`at` evaluates points with the engine's formula."""
        out = cls.__new__(cls)
        out.net, out.resources = net, resources
        out.node_distance, out.node_nearest = node["distance"], node["nearest"]
        out.node_seconds, out.node_quickest = node["seconds"], node["quickest"]
        return out

    @classmethod
    def within_seconds(cls, net: WalkNetwork, resources: Attachment,
                       limit_s: float) -> DistanceField:
        """The field's times searched only up to ``limit_s``: :meth:`at` gives the
        ``seconds`` of the full field bit for bit for every point within ``limit_s`` of a
        resource (the same sums in the same order), and ``inf`` or a time above
        ``limit_s`` beyond it; distances and labels are not given (``inf``, −1). The
        search visits only the nodes within the limit (a walking-time service area of
        10 minutes: a few thousand nodes, not the network)."""
        n = net.n_nodes
        none = np.full(n, -1, dtype=np.int64)
        seconds = np.full(n, np.inf)
        node = {"distance": np.full(n, np.inf), "nearest": none, "seconds": seconds,
                "quickest": none}
        if len(resources) == 0:
            return cls.from_nodes(net, resources, node)
        if net.has_elevation:  # time *to* a resource: the reversed time graph
            from geo_service.engine.cutoff_dijkstra import cutoff_dijkstra

            u, v, w_u, w_v = source_costs(net, resources, "seconds")
            seconds[:] = cutoff_dijkstra(net.time_graph_reverse, np.concatenate([u, v]),
                                         np.concatenate([w_u, w_v]), limit_s, np.arange(n))
        else:  # seconds are metres / speed, as in __init__ (a margin for the division)
            metres = cls.within_metres(net, resources, limit_s * net.walking_speed_mps
                                       * (1 + 1e-9) + 1e-6).node_distance
            node["distance"] = metres
            seconds[:] = metres / net.walking_speed_mps
        return cls.from_nodes(net, resources, node)

    @classmethod
    def within_metres(cls, net: WalkNetwork, resources: Attachment,
                      limit_m: float) -> DistanceField:
        """The field's distances searched only up to ``limit_m`` (as
        :meth:`within_seconds` for times, but one pass of scipy's search from every
        resource: many resources cover much of the network): :meth:`at` gives the
        ``distance_m`` of the full field bit for bit for every point within ``limit_m``;
        times are not given."""
        n = net.n_nodes
        none = np.full(n, -1, dtype=np.int64)
        node = {"distance": np.full(n, np.inf), "nearest": none,
                "seconds": np.full(n, np.inf), "quickest": none}
        if len(resources):  # the pass of __init__, stopped at the limit
            node["distance"] = dijkstra(
                _with_virtual_sources(net.distance_graph,
                                      *source_costs(net, resources, "metres")),
                directed=True, indices=np.arange(n, n + len(resources)), min_only=True,
                limit=limit_m)[:n]
        return cls.from_nodes(net, resources, node)

    def edited(self, resources: Attachment, previous: np.ndarray) -> DistanceField:
        """The field of ``resources``, repaired from this one near what changed
        (:mod:`~geo_service.engine.field_repair`): bit for bit the values of
        ``DistanceField(net, resources)``, with a search only around the resources removed
        and added (a node exactly as near to two resources may name the other).

        ``previous[j]`` is the position in :attr:`resources` of the same point as
        ``resources[j]``, or −1 for a new one; the positions not named were removed.
        """
        net, previous = self.net, np.asarray(previous, dtype=np.int64)
        to_new = np.full(len(self.resources), -1, dtype=np.int64)
        kept = np.flatnonzero(previous >= 0)
        to_new[previous[kept]] = kept
        added = np.flatnonzero(previous < 0)
        passes = [("metres", net.distance_graph, net.distance_graph, self.node_distance,
                   self.node_nearest)]
        if net.has_elevation:
            passes.append(("seconds", net.time_graph_reverse, net.time_graph,
                           self.node_seconds, self.node_quickest))
        from geo_service.engine.cutoff_dijkstra import improve_dijkstra
        from geo_service.engine.field_repair import repair_removed

        made = []
        for kind, graph, reverse, old_value, old_label in passes:
            value, label = old_value.copy(), old_label.copy()
            # the removed first, labelled as before (the kept by their old positions) …
            repair_removed(graph, reverse, value, label, to_new < 0,
                           source_seeds(net, resources.take(kept), kind, previous[kept]))
            label = np.append(to_new, -1)[label]  # −1 (none) stays −1
            # … then the new ones, by their positions in ``resources``
            improve_dijkstra(graph, *source_seeds(net, resources.take(added), kind, added),
                             value, label)
            made.append((value, label))
        distance, nearest = made[0]
        seconds, quickest = made[1] if net.has_elevation else (
            distance / net.walking_speed_mps, nearest)
        return DistanceField.from_nodes(net, resources, {
            "distance": distance, "nearest": nearest, "seconds": seconds, "quickest": quickest})

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
        s_u = b / length * t_vu + self.node_seconds[u]
        s_v = (length - b) / length * t_uv + self.node_seconds[v]
        seconds = walk_c + np.minimum(s_u, s_v)
        quickest = np.where(s_u <= s_v, self.node_quickest[u], self.node_quickest[v])
        out = PointAccess(distance, seconds, nearest, quickest)
        if self._resource_edge[e].any():
            out = self._same_edge(points, out)
        reached = np.isfinite(out.distance_m)
        return PointAccess(out.distance_m, out.seconds, np.where(reached, out.nearest, -1),
                           np.where(reached, out.quickest, -1))

    @cached_property
    def _resource_edge(self) -> np.ndarray:
        """Per network edge: whether a resource is attached to it."""
        mask = np.zeros(self.net.n_edges, dtype=bool)
        mask[self.resources.edge] = True
        return mask

    def _same_edge(self, points: Attachment, at: PointAccess) -> PointAccess:
        """Improve answers of points that share an edge with a resource (direct walk)."""
        res = self.resources
        pairs = pd.DataFrame({"edge": points.edge, "point": np.arange(len(points))}).merge(
            pd.DataFrame({"edge": res.edge, "resource": np.arange(len(res))}), on="edge")
        p, r = pairs["point"].to_numpy(), pairs["resource"].to_numpy()
        e = points.edge[p]
        length = self.net.edge_length[e]
        along = res.offset[r] - points.offset[p]
        d = points.connector[p] + np.abs(along) + res.connector[r]
        t_uv, t_vu = (t[e] for t in self.net.edge_seconds)
        t = ((points.connector[p] + res.connector[r]) / self.net.walking_speed_mps
             + np.where(along >= 0, along / length * t_uv, -along / length * t_vu))
        distance, seconds = at.distance_m.copy(), at.seconds.copy()
        nearest, quickest = at.nearest.copy(), at.quickest.copy()
        best_d = pd.Series(d).groupby(p).idxmin().to_numpy()
        bp, bd, br = p[best_d], d[best_d], r[best_d]
        better = bd < distance[bp]
        distance[bp[better]], nearest[bp[better]] = bd[better], br[better]
        best_t = pd.Series(t).groupby(p).idxmin().to_numpy()
        tp, bt, tr = p[best_t], t[best_t], r[best_t]
        better = bt < seconds[tp]
        seconds[tp[better]], quickest[tp[better]] = bt[better], tr[better]
        return PointAccess(distance, seconds, nearest, quickest)


#: lon/lat ↔ metric round trips move points by ~1e-9 m; a person exactly on a band's edge
#: (common on hand-made grids) should not fall out of it because of that (seconds).
BAND_TOLERANCE_S = 1e-6


def isochrone_polygon(net: WalkNetwork, node_seconds: np.ndarray, minutes: float, *,
                      buffer_m: float = 40.0, simplify_m: float = 10.0) -> shapely.Geometry:
    """The area around the streets from which a resource is reached within ``minutes``.

    Parameters
    ----------
    net
        The walking network.
    node_seconds
        Walking time (s) from every node to the resource, e.g.
        :attr:`DistanceField.node_seconds`.
    minutes
        The band's limit.
    buffer_m, simplify_m
        Width added around each street whose both ends lie within the limit, and the
        tolerance the union is simplified with (metres).

    Returns
    -------
    A (Multi)Polygon in the network's metric CRS; empty when no street lies within.
    """
    limit = minutes * 60 + BAND_TOLERANCE_S
    inside = (node_seconds[net.edge_u] <= limit) & (node_seconds[net.edge_v] <= limit)
    lines = net.edge_geometry[inside]
    if len(lines) == 0:
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=2)).simplify(simplify_m)


class PointSearch:
    """Walks from one attached point to attached targets: metres on the distance graph,
    seconds on the slope-aware time graph (origin → target), each cut off at a limit.

    Searches start at the two ends of the origin's edge, each at the cost of walking there
    from the point, and visit only the nodes within the limit, stopping once the targets'
    edge ends are settled (:func:`~geo_service.engine.cutoff_dijkstra.cutoff_dijkstra`): the cost
    grows with that neighbourhood, not with the network. Targets are edge-projected at both
    ends, as in :class:`DistanceField`; a target on the origin's own edge is also reached
    directly along it. The answers are those of scipy's Dijkstra over the whole network
    from a virtual node at the point; a value past its limit is ``inf`` or a finite number
    above the limit.
    """

    def __init__(self, net: WalkNetwork, origin: Attachment) -> None:
        self.net, self.origin = net, origin
        e0 = self.edge = int(origin.edge[0])
        self.ends = np.array([net.edge_u[e0], net.edge_v[e0]])
        length, a, c = net.edge_length[e0], origin.offset[0], origin.connector[0]
        t_uv, t_vu = (float(t[e0]) for t in net.edge_seconds)
        #: the walk from the point to each end of its edge (m, s)
        self.to_ends = np.array([a + c, length - a + c])
        self.t_ends = (np.array([a / length * t_vu, (length - a) / length * t_uv])
                       + c / net.walking_speed_mps)

    def metres(self, targets: Attachment, limit: float) -> np.ndarray:
        """Shortest walking distance (m) to each target."""
        net, a = self.net, targets.offset
        length = net.edge_length[targets.edge]
        d = targets.connector + self._via_ends(net.distance_graph, self.to_ends, limit,
                                               targets.edge, a, length - a)
        same = np.flatnonzero(targets.edge == self.edge)
        direct = (self.origin.connector[0] + targets.connector[same]
                  + np.abs(a[same] - self.origin.offset[0]))
        d[same] = np.minimum(d[same], direct)
        return d

    def seconds(self, targets: Attachment, limit: float, *, aimed: bool = False
                ) -> np.ndarray:
        """Shortest walking time (s) from the point to each target (``aimed``: see
        :meth:`quickest`)."""
        return self.quickest(targets, limit, aimed=aimed)[0]

    def quickest(self, targets: Attachment, limit: float, *,
                 aimed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The quickest walk to each target: its seconds and its metres (the length of
        that walk, which on slopes may exceed :meth:`metres`; NaN where the target is not
        reached within ``limit``). One search, by time; ``aimed``, an A* toward the
        targets' edges (the same answers, touching fewer nodes for a few far targets)."""
        net, e, a, c = self.net, targets.edge, targets.offset, targets.connector
        length = net.edge_length[e]
        t_uv, t_vu = (t[e] for t in net.edge_seconds)
        speed = net.walking_speed_mps
        at = np.concatenate([net.edge_u[e], net.edge_v[e]])
        from geo_service.engine.cutoff_dijkstra import cutoff_dijkstra_along

        aim = time_aim(net) if aimed else None
        secs, metres = cutoff_dijkstra_along(net.time_graph, net.time_graph_lengths, self.ends,
                                             self.t_ends, self.to_ends, limit, at, aim=aim)
        n = len(e)
        s_u, s_v = secs[:n] + a / length * t_uv, secs[n:] + (length - a) / length * t_vu
        m_u, m_v = metres[:n] + a, metres[n:] + (length - a)
        s = np.minimum(s_u, s_v)
        m = np.where(s_u < s_v, m_u, np.where(s_v < s_u, m_v, np.fmin(m_u, m_v)))
        same = np.flatnonzero(e == self.edge)  # also straight along the origin's street
        along = a[same] - self.origin.offset[0]
        c0 = self.origin.connector[0]
        direct_s = c0 / speed + np.where(along >= 0, along / length[same] * t_uv[same],
                                         -along / length[same] * t_vu[same])
        direct_m = c0 + np.abs(along)
        via_s, via_m = s[same], m[same]
        s[same] = np.minimum(via_s, direct_s)
        m[same] = np.where(direct_s < via_s, direct_m,
                           np.where(via_s < direct_s, via_m, np.fmin(via_m, direct_m)))
        return s + c / speed, m + c

    def _via_ends(self, graph: sparse.csr_matrix, start_costs: np.ndarray, limit: float,
                  edge: np.ndarray, cost_from_u: np.ndarray,
                  cost_from_v: np.ndarray) -> np.ndarray:
        n = len(edge)
        at = np.concatenate([self.net.edge_u[edge], self.net.edge_v[edge]])
        from geo_service.engine.cutoff_dijkstra import cutoff_dijkstra

        k = cutoff_dijkstra(graph, self.ends, start_costs, limit, at)
        return np.minimum(k[:n] + cost_from_u, k[n:] + cost_from_v)


def time_aim(net: WalkNetwork) -> Aim:
    """How an A* by walking time over ``net`` aims (:class:`Aim`): at the network's least
    seconds per metre of straight line, less a billionth so that rounding never makes the
    estimate exceed a walk's time."""
    from geo_service.engine.cutoff_dijkstra import Aim  # numba: imported when searching

    return Aim(net.node_xy, net.straight_line_seconds_per_metre * (1 - 1e-9))


class TargetIndex:
    """Attached points with a spatial index of their edges' ends, to pick the few that a
    :class:`PointSearch` can reach within a distance before searching.

    A walk between two nodes is never shorter than the straight line between them times
    :attr:`WalkNetwork.chord_ratio`, so a target within ``metres`` of the origin has an
    edge end within ``metres / chord_ratio`` of an end of the origin's edge.
    """

    def __init__(self, net: WalkNetwork, attachment: Attachment) -> None:
        self.net, self.attachment = net, attachment
        ends = np.concatenate([net.edge_u[attachment.edge], net.edge_v[attachment.edge]])
        self._tree = cKDTree(net.node_xy[ends])

    def near(self, search: PointSearch, metres: float) -> np.ndarray:
        """Positions (ascending) of the targets that may lie within ``metres`` walk of the
        search's origin: a superset of those that do."""
        n = len(self.attachment)
        if n == 0 or not np.isfinite(metres):
            return np.arange(n)
        radius = metres / self.net.chord_ratio * (1 + 1e-9) + 1e-6
        found = self._tree.query_ball_point(self.net.node_xy[search.ends], radius)
        return np.unique(np.concatenate([np.asarray(f, dtype=np.int64) for f in found]) % n)


def source_costs(net: WalkNetwork, resources: Attachment, kind: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each resource enters the network and at what cost: the ends ``u`` and ``v``
    of its edge and the walk to each, in ``metres`` (along the edge and the connector) or
    ``seconds`` (the time *to* the resource from each end, as the reversed time graph is
    searched)."""
    e = resources.edge
    u, v, length = net.edge_u[e], net.edge_v[e], net.edge_length[e]
    a, c = resources.offset, resources.connector
    if kind == "metres":
        return u, v, a + c, length - a + c
    t_uv, t_vu = (t[e] for t in net.edge_seconds)
    walk_c = c / net.walking_speed_mps
    return u, v, a / length * t_uv + walk_c, (length - a) / length * t_vu + walk_c


def source_seeds(net: WalkNetwork, resources: Attachment, kind: str,
                 labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`source_costs` as the seeds of a search: nodes, costs and ``labels`` (one
    per resource), both ends of each resource's edge."""
    u, v, w_u, w_v = source_costs(net, resources, kind)
    return (np.concatenate([u, v]), np.concatenate([w_u, w_v]),
            np.concatenate([labels, labels]).astype(np.int64))


def _nearest_source(graph: sparse.csr_matrix, u: np.ndarray, v: np.ndarray, w_u: np.ndarray,
                    w_v: np.ndarray, *, release_gil: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per node of ``graph``: the least cost from any source and which source (−1: none).

    Source ``k`` reaches node ``u[k]`` at cost ``w_u[k]`` and ``v[k]`` at ``w_v[k]``.
    scipy's Dijkstra from virtual source nodes by default; with ``release_gil`` the
    compiled :func:`~geo_service.engine.cutoff_dijkstra.improve_dijkstra` from an empty
    field instead (the same costs; about half as fast, but other threads run meanwhile: a
    server rebuilding a field in the background keeps answering). Ties between sources may
    be labelled differently by the two.
    """
    n, k = graph.shape[0], len(u)
    if release_gil:
        from geo_service.engine.cutoff_dijkstra import improve_dijkstra

        cost, label = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        improve_dijkstra(graph, np.concatenate([u, v]), np.concatenate([w_u, w_v]),
                         np.tile(np.arange(k, dtype=np.int64), 2), cost, label)
        return cost, label
    dist, _, src = dijkstra(_with_virtual_sources(graph, u, v, w_u, w_v), directed=True,
                            indices=np.arange(n, n + k), min_only=True,
                            return_predecessors=True)
    return dist[:n], np.where(src[:n] >= 0, src[:n] - n, -1).astype(np.int64)


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
