"""The walking network: reading OSM sources into arrays the engine can search.

A :class:`WalkNetwork` holds nodes and undirected edges in a metric CRS, each edge with its
true geometry oriented from ``u`` to ``v`` and its length in metres, plus two sparse graphs:

- ``distance_graph``: symmetric CSR matrix of edge lengths. Parallel edges are reduced to
  the shortest one *before* the CSR is built (scipy sums duplicate COO entries).
- ``time_graph``: directed CSR matrix of walking seconds. Without elevation it is the
  distance graph divided by the walking speed. With elevation it follows **Tobler's hiking
  function** scaled to the flat speed ``v0``::

      v(S) = v0 · exp(-3.5 · (|S + 0.05| − 0.05))      S = dz/dx along the direction of travel

  so walking uphill is slower than the same slope downhill, and gentle descents (≈ −3°)
  are the fastest. Slopes are taken per geometry segment (DEM sampled at every vertex) or,
  when only node elevations are known, as the edge's mean slope.

Sources (:func:`load_walk_network` picks one by file name):

- OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``) and raw Overpass JSON (as osmnx
  caches it): read into Overpass elements, filtered to walkable ways, built into a graph as
  osmnx builds a walking graph and simplified by osmnx;
- OSM PBF (``.osm.pbf``, ``.pbf``): streamed with pyosmium into arrays by
  :mod:`geo_service.engine.pbf_reader` (pyrosm's walking filter, every way cut into one edge per
  pair of consecutive nodes, not simplified), cached beside the file
  (``<file>.walk-v1.npz``) so that a second read of an unchanged file skips parsing;
- osmnx GraphML (``.graphml``), taken as it is (osmnx graphs are already filtered);
- online, by place name or bounding box through osmnx (cached in ``settings.cache_dir()``).

Walking ignores one-way restrictions; footways, paths, steps and pedestrian streets
count; motorways, ``foot=no``, private access and areas do not.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo_service import settings
from geo_service._errors import EmptyNetworkError, InputError
from geo_service.inputs.crs import metric_crs_for, transform_geometry

if TYPE_CHECKING:  # networkx is imported only where osmnx graphs are read
    import networkx as nx

# Way tags that make a way unusable on foot (the osmnx "walk" filter, applied to files).
_EXCLUDED_HIGHWAYS = frozenset({
    "abandoned", "bus_guideway", "construction", "corridor", "elevator", "escalator",
    "motorway", "motorway_link", "motor", "no", "planned", "platform", "proposed",
    "raceway", "razed", "rest_area", "services", "service_area", "bus_stop", "disused",
})
_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})


def is_walkable(tags: dict[str, Any]) -> bool:
    """Whether an OSM way with these tags can be walked.

    Parameters
    ----------
    tags
        The way's OSM tags.

    Returns
    -------
    True for any ``highway`` except motorways, construction and similar; False for
    ``foot=no``, ``access=private|no`` (unless foot is explicitly allowed), ``area=yes``
    and ``service=private``. Cycleways count only with an explicit foot permission.
    """
    highway = tags.get("highway")
    if not highway or highway in _EXCLUDED_HIGHWAYS:
        return False
    foot = tags.get("foot")
    if foot == "no" or tags.get("area") == "yes" or tags.get("service") == "private":
        return False
    if tags.get("access") in ("private", "no") and foot not in _FOOT_ALLOWED:
        return False
    return not (highway == "cycleway" and foot not in _FOOT_ALLOWED)


def tobler_speed(slope: np.ndarray, flat_speed_mps: float) -> np.ndarray:
    """Walking speed (m/s) on a slope ``dz/dx`` by Tobler's hiking function.

    Scaled so that ``tobler_speed(0) == flat_speed_mps``; the fastest speed is at a
    5 % descent (slope −0.05), uphill is always slower than the same slope downhill
    (for |slope| > 0).
    """
    return flat_speed_mps * np.exp(-3.5 * (np.abs(np.asarray(slope) + 0.05) - 0.05))


@dataclass(frozen=True, eq=False, init=False)
class WalkNetwork:
    """An undirected walking network in a metric CRS, ready for array searches.

    Build one with :func:`load_walk_network` or :meth:`from_edges`. Attributes:
    ``node_id`` (original ids), ``node_xy`` (metres), ``edge_u``/``edge_v`` (node
    indices), ``edge_geometry`` (LineStrings from u to v), ``edge_length`` (metres),
    ``vertex_z`` (per-vertex elevations of every edge, or None), ``walking_speed_mps``.

    A network whose edges are all straight (``edge_geometry=None``, as the PBF reader
    builds them: one edge per pair of consecutive way nodes) holds no geometries until
    ``edge_geometry`` is first read: lengths and the nearest-edge index
    (:attr:`edge_index`) come from ``node_xy`` (2M shapely LineStrings are ~600 MB).
    """

    crs: CRS
    node_id: np.ndarray
    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    walking_speed_mps: float = settings.walking_speed_mps
    node_z: np.ndarray | None = None
    vertex_z: np.ndarray | None = field(default=None, repr=False)
    source: str = ""

    def __init__(self, crs: CRS, node_id: np.ndarray, node_xy: np.ndarray,
                 edge_u: np.ndarray, edge_v: np.ndarray, edge_geometry: np.ndarray | None,
                 walking_speed_mps: float = settings.walking_speed_mps,
                 node_z: np.ndarray | None = None, vertex_z: np.ndarray | None = None,
                 source: str = "") -> None:
        values = {"crs": crs, "node_id": node_id, "node_xy": node_xy, "edge_u": edge_u,
                  "edge_v": edge_v, "walking_speed_mps": walking_speed_mps,
                  "node_z": node_z, "vertex_z": vertex_z, "source": source,
                  # straight u → v segments, geometries built only when asked for
                  "straight_edges": edge_geometry is None}
        if edge_geometry is not None:
            values["edge_geometry"] = edge_geometry  # fills the cached_property
        for name, value in values.items():
            object.__setattr__(self, name, value)

    #: whether every edge is the straight segment between its nodes' ``node_xy`` (and
    #: ``edge_geometry`` is built from them on first use)
    straight_edges: bool = False

    @cached_property
    def edge_geometry(self) -> np.ndarray:
        """LineStrings from u to v (built on first use for a straight-edged network)."""
        return shapely.linestrings(np.stack([self.node_xy[self.edge_u],
                                             self.node_xy[self.edge_v]], axis=1))

    def _given_geometry(self) -> np.ndarray | None:
        """The geometries to hand to a copy: None when they are straight segments."""
        return None if self.straight_edges else self.edge_geometry

    # construction -------------------------------------------------------------------
    @classmethod
    def from_edges(
        cls,
        node_id: np.ndarray,
        node_xy: np.ndarray,
        edge_u: np.ndarray,
        edge_v: np.ndarray,
        edge_geometry: np.ndarray | None,
        *,
        crs: CRS | str,
        node_z: np.ndarray | None = None,
        walking_speed_mps: float = settings.walking_speed_mps,
        source: str = "",
    ) -> WalkNetwork:
        """Build a network from node and edge arrays already in a metric CRS.

        Edge geometries that run from v to u are reversed; missing geometries become
        straight lines; zero-length edges are dropped. ``node_z`` (metres) enables the
        slope-aware time model.
        """
        crs = CRS.from_user_input(crs)
        if crs.is_geographic:
            raise InputError(f"a WalkNetwork must be in a metric CRS, not {crs.to_string()}",
                             file=source or None)
        node_xy = np.asarray(node_xy, dtype=float)
        edge_u = np.asarray(edge_u, dtype=np.int64)
        edge_v = np.asarray(edge_v, dtype=np.int64)
        if len(edge_u) == 0:
            raise EmptyNetworkError("the source holds no walkable edges", file=source or None)
        if edge_geometry is None and node_z is None:  # straight lines, built lazily
            keep = _segment_length(node_xy[edge_u], node_xy[edge_v]) > 1e-9
            net = cls(crs=crs, node_id=np.asarray(node_id), node_xy=node_xy,
                      edge_u=edge_u[keep], edge_v=edge_v[keep], edge_geometry=None,
                      walking_speed_mps=walking_speed_mps, source=source)
            if len(net.edge_u) == 0:
                raise EmptyNetworkError("every edge has zero length", file=source or None)
            return net
        if edge_geometry is None:  # straight lines, built from u to v
            edge_geometry = shapely.linestrings(
                np.stack([node_xy[edge_u], node_xy[edge_v]], axis=1)
            )
        else:
            edge_geometry = _orient_geometries(np.asarray(edge_geometry, dtype=object),
                                               node_xy[edge_u], node_xy[edge_v])
        keep = shapely.length(edge_geometry) > 1e-9
        vertex_z = None
        if node_z is not None:
            node_z = np.asarray(node_z, dtype=float)
            vertex_z = _interpolate_vertex_z(edge_geometry, node_z[edge_u], node_z[edge_v])
        net = cls(
            crs=crs, node_id=np.asarray(node_id), node_xy=node_xy,
            edge_u=edge_u[keep], edge_v=edge_v[keep], edge_geometry=edge_geometry[keep],
            walking_speed_mps=walking_speed_mps, node_z=node_z,
            vertex_z=None if vertex_z is None else _select_ragged(vertex_z, edge_geometry, keep),
            source=source,
        )
        if len(net.edge_u) == 0:
            raise EmptyNetworkError("every edge has zero length", file=source or None)
        return net

    def with_dem(self, dem_path: str | Path) -> WalkNetwork:
        """Return a copy whose elevations are sampled from a DEM GeoTIFF at every vertex."""
        node_z = sample_raster(dem_path, self.node_xy, self.crs)
        coords = shapely.get_coordinates(self.edge_geometry)
        vertex_z = sample_raster(dem_path, coords, self.crs)
        # Where the DEM has no data, fall back to interpolating the node elevations.
        if np.isnan(node_z).any():
            raise InputError(
                f"{int(np.isnan(node_z).sum())} network nodes lie outside the DEM or on "
                "no-data cells; use a DEM that covers the whole network", file=dem_path)
        fallback = _interpolate_vertex_z(self.edge_geometry, node_z[self.edge_u],
                                         node_z[self.edge_v])
        vertex_z = np.where(np.isnan(vertex_z), fallback, vertex_z)
        return WalkNetwork(
            crs=self.crs, node_id=self.node_id, node_xy=self.node_xy, edge_u=self.edge_u,
            edge_v=self.edge_v, edge_geometry=self.edge_geometry,
            walking_speed_mps=self.walking_speed_mps, node_z=node_z, vertex_z=vertex_z,
            source=self.source,
        )

    def with_speed(self, walking_speed_mps: float) -> WalkNetwork:
        """Return a copy with another flat walking speed (m/s)."""
        if not walking_speed_mps > 0:
            raise InputError("walking speed must be positive", column="speed",
                             value=walking_speed_mps)
        return WalkNetwork(
            crs=self.crs, node_id=self.node_id, node_xy=self.node_xy, edge_u=self.edge_u,
            edge_v=self.edge_v, edge_geometry=self._given_geometry(),
            walking_speed_mps=walking_speed_mps, node_z=self.node_z, vertex_z=self.vertex_z,
            source=self.source,
        )

    def to_crs(self, crs: CRS | str) -> WalkNetwork:
        """The network in another metric CRS (nodes and edge vertices transformed;
        straight-edged networks stay without built geometries)."""
        crs = CRS.from_user_input(crs)
        tr = Transformer.from_crs(self.crs, crs, always_xy=True)
        xy = np.column_stack(tr.transform(self.node_xy[:, 0], self.node_xy[:, 1]))
        geoms = self._given_geometry()
        if geoms is not None:
            geoms = _transform_geometries(geoms, tr)
        return WalkNetwork.from_edges(self.node_id, xy, self.edge_u, self.edge_v, geoms,
                                      crs=crs, node_z=self.node_z,
                                      walking_speed_mps=self.walking_speed_mps,
                                      source=self.source)

    # derived arrays -----------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (parallel edges included)."""
        return len(self.edge_u)

    @property
    def has_elevation(self) -> bool:
        """Whether walking times follow the slope model."""
        return self.vertex_z is not None

    @cached_property
    def edge_length(self) -> np.ndarray:
        """Edge lengths in metres (length of the projected geometry)."""
        if self.straight_edges:  # GEOS's own sum for a two-vertex line, without building it
            return _segment_length(self.node_xy[self.edge_u], self.node_xy[self.edge_v])
        return shapely.length(self.edge_geometry)

    @cached_property
    def edge_seconds(self) -> tuple[np.ndarray, np.ndarray]:
        """Walking seconds along each edge, (u → v, v → u)."""
        if self.vertex_z is None:
            t = self.edge_length / self.walking_speed_mps
            return t, t
        coords, index = shapely.get_coordinates(self.edge_geometry, return_index=True)
        same = index[1:] == index[:-1]
        seg_len = np.hypot(*(coords[1:] - coords[:-1]).T)[same]
        seg_dz = (self.vertex_z[1:] - self.vertex_z[:-1])[same]
        seg_edge = index[1:][same]
        slope = np.divide(seg_dz, seg_len, out=np.zeros_like(seg_dz), where=seg_len > 0)
        forward = seg_len / tobler_speed(slope, self.walking_speed_mps)
        backward = seg_len / tobler_speed(-slope, self.walking_speed_mps)
        n = self.n_edges
        return (np.bincount(seg_edge, forward, minlength=n),
                np.bincount(seg_edge, backward, minlength=n))

    @cached_property
    def distance_graph(self) -> sparse.csr_matrix:
        """Symmetric CSR matrix of the shortest edge length between each node pair."""
        u, v, w = self.edge_u, self.edge_v, self.edge_length
        return _csr_min(np.concatenate([u, v]), np.concatenate([v, u]),
                        np.concatenate([w, w]), self.n_nodes)[0]

    @property
    def time_graph(self) -> sparse.csr_matrix:
        """Directed CSR matrix of walking seconds (row = from, column = to)."""
        return self._time_graph_and_lengths[0]

    @property
    def time_graph_lengths(self) -> np.ndarray:
        """Per entry of ``time_graph.data``: the length (m) of the edge it comes from (of
        parallel edges, the quickest), to sum the metres of the quickest walks."""
        return self._time_graph_and_lengths[1]

    @cached_property
    def _time_graph_and_lengths(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        if self.vertex_z is None:
            graph = self.distance_graph
            return graph / self.walking_speed_mps, graph.data
        t_uv, t_vu = self.edge_seconds
        u, v, length = self.edge_u, self.edge_v, self.edge_length
        return _csr_min(np.concatenate([u, v]), np.concatenate([v, u]),
                        np.concatenate([t_uv, t_vu]), self.n_nodes,
                        companion=np.concatenate([length, length]))

    @cached_property
    def edge_on_fragment(self) -> np.ndarray:
        """Whether each edge lies on a small disconnected piece (see ``settings``)."""
        _, label = connected_components(self.distance_graph, directed=False)
        size = np.bincount(label)
        small = (size < settings.fragment_max_nodes) & (size < size.max())
        return small[label[self.edge_u]]

    @cached_property
    def main_edges(self) -> tuple[np.ndarray, EdgeIndex]:
        """Indices of the edges not on fragments, and a nearest-edge index over them."""
        keep = np.flatnonzero(~self.edge_on_fragment)
        return keep, EdgeIndex(self, keep)

    @cached_property
    def edge_index(self) -> EdgeIndex:
        """Exact nearest-edge search over all edges, for attaching points."""
        return EdgeIndex(self, np.arange(self.n_edges))

    @cached_property
    def chord_ratio(self) -> float:
        """The least ratio of an edge's length to the straight line between its nodes,
        at most 1: a walk between two nodes is never shorter than this times the straight
        line between them (< 1 only where a street's geometry falls short of its nodes)."""
        chord = np.hypot(*(self.node_xy[self.edge_u] - self.node_xy[self.edge_v]).T)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(chord > 0, self.edge_length / chord, np.inf)
        return float(min(1.0, ratio.min(initial=1.0)))

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index over edge geometries, for attaching points."""
        return shapely.STRtree(self.edge_geometry)

    @cached_property
    def to_geographic(self) -> Transformer:
        """Transformer from the network's metric CRS to EPSG:4326 (lon, lat)."""
        return Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    @cached_property
    def from_geographic(self) -> Transformer:
        """Transformer from EPSG:4326 (lon, lat) to the network's metric CRS."""
        return Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    def to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A geometry in the network's metric CRS, converted to lon/lat (EPSG:4326)."""
        return transform_geometry(geom, self.to_geographic)

    def to_metric(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A lon/lat (EPSG:4326) geometry, converted to the network's metric CRS."""
        return transform_geometry(geom, self.from_geographic)

    def bounds_lonlat(self, *, pad_m: float = 0.0) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the nodes, with ``pad_m`` metres added
        on every side (measured in the metric CRS, then converted: never in degrees)."""
        if pad_m == 0:
            lon, lat = self.to_geographic.transform(self.node_xy[:, 0], self.node_xy[:, 1])
            return (float(np.min(lon)), float(np.min(lat)), float(np.max(lon)),
                    float(np.max(lat)))
        (x0, y0), (x1, y1) = self.node_xy.min(axis=0) - pad_m, self.node_xy.max(axis=0) + pad_m
        w, s, e, n = self.to_geographic.transform_bounds(x0, y0, x1, y1, densify_pts=21)
        return float(w), float(s), float(e), float(n)

    # persistence --------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network to a compressed ``.npz`` file (geometry as WKB)."""
        arrays: dict[str, Any] = {
            "crs": np.array(self.crs.to_wkt()), "node_id": self.node_id,
            "node_xy": self.node_xy, "edge_u": self.edge_u, "edge_v": self.edge_v,
            "edge_wkb": np.array(shapely.to_wkb(self.edge_geometry), dtype=object),
            "speed": np.array(self.walking_speed_mps), "source": np.array(self.source),
        }
        if self.vertex_z is not None:
            arrays["node_z"] = self.node_z
            arrays["vertex_z"] = self.vertex_z
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> WalkNetwork:
        """Read a network written by :meth:`save`."""
        with np.load(path, allow_pickle=True) as f:
            return cls(
                crs=CRS.from_wkt(str(f["crs"])), node_id=f["node_id"], node_xy=f["node_xy"],
                edge_u=f["edge_u"], edge_v=f["edge_v"],
                edge_geometry=shapely.from_wkb(f["edge_wkb"]),
                walking_speed_mps=float(f["speed"]),
                node_z=f.get("node_z"),
                vertex_z=f.get("vertex_z"),
                source=str(f["source"]),
            )


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
            length = _segment_length(start, end)
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
        for k in self.K:
            k = min(k, n_samples)
            sample_d, sample = self._tree.query(xy[todo], k=k, workers=-1)
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
        found = self._tree.query_ball_point(xy[todo], dist[todo] + margin, workers=-1)
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


def _segment_length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lengths of straight segments, summed as GEOS sums a two-vertex line's."""
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    return np.sqrt(dx * dx + dy * dy)


# ----------------------------------------------------------------------------------
# loaders


def load_walk_network(
    source: str | Path,
    *,
    dem: str | Path | None = None,
    walking_speed_mps: float = settings.walking_speed_mps,
) -> WalkNetwork:
    """Read a walking network from a file, choosing the reader by its name.

    Parameters
    ----------
    source
        ``.osm.pbf``/``.pbf`` (streamed, cached beside it), ``.osm``/``.xml``/``.osm.bz2``
        (OSM XML), ``.json`` (raw Overpass response), ``.graphml`` (osmnx) or ``.npz`` (saved).
    dem
        Optional DEM GeoTIFF; its elevations switch walking times to the slope model.
    walking_speed_mps
        Walking speed on flat ground.
    """
    path = Path(source)
    if not path.exists():
        raise InputError("file not found", file=path)
    name = path.name.lower()
    if name.endswith(".pbf"):
        net = network_from_pbf(path)
    elif name.endswith((".osm", ".xml", ".osm.bz2", ".osm.gz")):
        net = network_from_osm_xml(path)
    elif name.endswith(".json"):
        net = network_from_overpass_json(path)
    elif name.endswith(".graphml"):
        net = network_from_graphml(path)
    elif name.endswith(".npz"):
        net = WalkNetwork.load(path)
    else:
        raise InputError(
            "unknown network format; expected .osm.pbf, .osm, .osm.bz2, .json (Overpass), "
            ".graphml or .npz", file=path)
    if walking_speed_mps != net.walking_speed_mps:
        net = net.with_speed(walking_speed_mps)
    return net.with_dem(dem) if dem is not None else net


def network_from_osmnx_graph(graph: nx.MultiDiGraph, *, source: str = "") -> WalkNetwork:
    """Convert an osmnx graph (geographic or projected) into a :class:`WalkNetwork`.

    Reciprocal directed edges collapse into one undirected edge; node ``elevation``
    attributes (as set by ``osmnx.elevation``) enable the slope model.
    """
    if graph.number_of_edges() == 0:
        raise EmptyNetworkError("the graph has no edges", file=source or None)
    undirected = _osmnx_undirected(graph) if graph.is_directed() else graph
    node_keys = np.array(list(undirected.nodes))
    index = pd.Series(np.arange(len(node_keys)), index=node_keys)
    x = np.array([d["x"] for _, d in undirected.nodes(data=True)], dtype=float)
    y = np.array([d["y"] for _, d in undirected.nodes(data=True)], dtype=float)
    z = [d.get("elevation") for _, d in undirected.nodes(data=True)]
    node_z = (np.array(z, dtype=float)
              if all(v is not None for v in z) and not np.isnan(np.array(z, float)).any()
              else None)
    rows = list(undirected.edges(data=True))
    u = index.loc[[r[0] for r in rows]].to_numpy()
    v = index.loc[[r[1] for r in rows]].to_numpy()
    geoms = np.array([r[2].get("geometry") for r in rows], dtype=object)
    missing = np.array([g is None for g in geoms])
    if missing.any():
        geoms[missing] = shapely.linestrings(
            np.stack([np.column_stack([x, y])[u[missing]], np.column_stack([x, y])[v[missing]]],
                     axis=1))
    graph_crs = CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
    if graph_crs.is_geographic:
        metric = metric_crs_for(float(np.median(x)), float(np.median(y)))
        to_metric = Transformer.from_crs(graph_crs, metric, always_xy=True)
        mx, my = to_metric.transform(x, y)
        geoms = _transform_geometries(geoms, to_metric)
    else:
        metric, mx, my = graph_crs, x, y
    return WalkNetwork.from_edges(node_keys, np.column_stack([mx, my]), u, v, geoms,
                                  crs=metric, node_z=node_z, source=source)


def network_from_overpass_json(path: str | Path) -> WalkNetwork:
    """Read a raw Overpass API response (osmnx's cache format) as a walking network."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON Overpass response: {exc}", file=path) from exc
    if "elements" not in data:
        raise InputError("no 'elements' key: not an Overpass response", file=path)
    return _network_from_elements(data["elements"], source=str(path))


def network_from_osm_xml(path: str | Path) -> WalkNetwork:
    """Read an OSM XML file (``.osm``, ``.osm.bz2``, ``.osm.gz``) as a walking network."""
    try:
        elements = _osm_xml_elements(path)
    except (ElementTree.ParseError, OSError, EOFError, KeyError, ValueError) as exc:
        # bad XML; not bz2/gzip data or cut short; a node or way without its id/lat/lon/ref
        raise InputError(f"cannot parse OSM XML: {exc}", file=path) from exc
    return _network_from_elements(elements, source=str(path))


def _osm_xml_elements(path: str | Path) -> list[dict[str, Any]]:
    """The nodes and ways of an OSM XML file (plain, ``.bz2`` or ``.gz``) as Overpass JSON
    elements, in file order: ``{"type": "node", "id", "lat", "lon", "tags"}`` and
    ``{"type": "way", "id", "nodes", "tags"}`` (relations are left out)."""
    path = Path(path)
    elements: list[dict[str, Any]] = []
    with _open_binary(path) as file:
        for _, elem in ElementTree.iterparse(file):  # at each element's end tag
            if elem.tag in ("node", "way"):
                element = {"type": elem.tag, "id": int(elem.attrib["id"]),
                           "tags": {t.attrib["k"]: t.attrib["v"] for t in elem.iter("tag")}}
                if elem.tag == "node":
                    element["lat"] = float(elem.attrib["lat"])
                    element["lon"] = float(elem.attrib["lon"])
                else:
                    element["nodes"] = [int(nd.attrib["ref"]) for nd in elem.iter("nd")]
                elements.append(element)
            if elem.tag in ("node", "way", "relation"):
                elem.clear()  # done with its children: keep memory flat on large files
    return elements


def network_from_graphml(path: str | Path) -> WalkNetwork:
    """Read an osmnx GraphML file as a walking network."""
    import osmnx as ox

    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # networkx raises several parser errors
        raise InputError(f"cannot read GraphML: {exc}", file=path) from exc
    return network_from_osmnx_graph(graph, source=str(path))


def network_from_pbf(path: str | Path, *, cache: bool | None = None) -> WalkNetwork:
    """Read an OSM PBF file's walking network with the streaming reader of
    :mod:`geo_service.engine.pbf_reader` (pyrosm's walking filter, one edge per pair of consecutive
    way nodes), from its cache beside the file when the file is unchanged.

    ``cache`` turns the cache on or off (None: ``GEO_SERVICE_PBF_CACHE``, on by default).
    """
    from geo_service.engine.pbf_reader import read_walk_arrays
    from geo_service.memory import gc_paused, release_free_memory

    arrays = read_walk_arrays(path, cache=cache)
    release_free_memory()  # what parsing freed (nothing much after a cache hit)
    lon, lat = arrays.lon, arrays.lat
    metric = metric_crs_for(float(np.median(lon)), float(np.median(lat)))
    to_metric = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    node_xy = np.column_stack(to_metric.transform(lon, lat))
    node_id, edge_u, edge_v = arrays.node_id, arrays.edge_u, arrays.edge_v
    del arrays, lon, lat
    with gc_paused():  # millions of edge geometries, no reference cycles
        return WalkNetwork.from_edges(node_id, node_xy, edge_u, edge_v, None, crs=metric,
                                      source=str(path))


def network_from_place(query: str | dict[str, str]) -> WalkNetwork:
    """Download the walking network of a place (e.g. ``"門司区, 北九州市, 日本"``).

    Needs the internet; responses are cached in ``settings.cache_dir()``.
    """
    import osmnx as ox

    graph = _download(lambda: ox.graph_from_place(query, network_type="walk", simplify=True,
                                                  retain_all=True), "place", str(query))
    return network_from_osmnx_graph(graph, source=f"osm:{query}")


def network_from_bbox(west: float, south: float, east: float, north: float) -> WalkNetwork:
    """Download the walking network inside a lon/lat bounding box (cached)."""
    import osmnx as ox

    graph = _download(lambda: ox.graph_from_bbox((west, south, east, north),
                                                 network_type="walk", simplify=True,
                                                 retain_all=True),
                      "bbox", f"{west},{south},{east},{north}")
    return network_from_osmnx_graph(graph, source=f"osm:bbox {west},{south},{east},{north}")


def sample_raster(path: str | Path, xy: np.ndarray, crs: CRS) -> np.ndarray:
    """Sample band 1 of a raster at metric coordinates ``xy``; NaN outside or on no-data."""
    import rasterio

    with rasterio.open(path) as src:
        if src.crs is None:
            raise InputError("the DEM has no CRS", file=path)
        x, y = Transformer.from_crs(crs, src.crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
        band = src.read(1, masked=True).astype(float).filled(np.nan)
        inv = ~src.transform
        x, y = np.asarray(x), np.asarray(y)
        col, row = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
        row, col = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
    inside = (row >= 0) & (row < band.shape[0]) & (col >= 0) & (col < band.shape[1])
    out = np.full(len(xy), np.nan)
    out[inside] = band[row[inside], col[inside]]
    return out


# ----------------------------------------------------------------------------------
# helpers


def _open_binary(path: Path) -> io.BufferedIOBase:
    """``path`` opened for reading bytes, decompressed when it ends in ``.bz2`` or ``.gz``."""
    if path.suffix == ".bz2":
        return bz2.open(path)
    if path.suffix == ".gz":
        return gzip.open(path)
    return path.open("rb")


def _network_from_elements(elements: list[dict[str, Any]], *, source: str) -> WalkNetwork:
    """Filter Overpass-style elements to walkable ways and build a simplified network.

    The graph is the one osmnx builds from an Overpass response for a walking network: the
    used nodes (x = lon, y = lat) in element order, then per way (the last of a repeated
    id) its edges between consecutive distinct nodes, forwards then backwards, with the
    way's ``osmid`` and its tags in ``osmnx.settings.useful_tags_way``; great-circle
    lengths; isolated nodes dropped; then ``osmnx.simplify_graph``.
    """
    import networkx as nx
    import osmnx as ox

    ways = {e["id"]: e for e in elements
            if e.get("type") == "way" and is_walkable(e.get("tags", {}))}
    if not ways:
        raise EmptyNetworkError("the file holds no walkable ways (highway=* for pedestrians)",
                                file=source)
    used = {n for w in ways.values() for n in w.get("nodes", [])}
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_nodes_from((e["id"], {"x": e["lon"], "y": e["lat"]}) for e in elements
                         if e.get("type") == "node" and e.get("id") in used)
    for way_id, way in ways.items():
        tags = way.get("tags", {})
        attrs = {k: tags[k] for k in ox.settings.useful_tags_way if k in tags}
        edges = list(pairwise(n for n, _ in groupby(way.get("nodes", []))))
        graph.add_edges_from(edges, osmid=way_id, **attrs)
        graph.add_edges_from([(v, u) for u, v in edges], osmid=way_id, **attrs)
    graph.remove_nodes_from(list(nx.isolates(graph)))
    if graph.number_of_edges():  # none (one-node ways only): refused just below
        graph = ox.distance.add_edge_lengths(graph)
    graph = ox.simplify_graph(graph)
    return network_from_osmnx_graph(graph, source=source)


def _osmnx_undirected(graph: nx.MultiDiGraph) -> nx.MultiGraph:
    """Undirected view of a directed osmnx graph, merging reciprocal edges."""
    import osmnx as ox

    return ox.convert.to_undirected(graph)


#: seconds osmnx waits for an answer from Nominatim or Overpass (its default is 180)
DOWNLOAD_TIMEOUT_S = 30


def _download(fetch: Callable[[], nx.MultiDiGraph], option: str,
              value: str) -> nx.MultiDiGraph:
    """``fetch()`` through osmnx (cached, short timeout, no 60 s wait when Overpass's status
    cannot be read); no internet or no answer is an :class:`InputError` in one line."""
    import osmnx as ox
    import requests

    ox.settings.use_cache = True
    ox.settings.cache_folder = str(settings.cache_dir())
    ox.settings.requests_timeout = DOWNLOAD_TIMEOUT_S
    ox.settings.overpass_rate_limit = False
    try:
        return fetch()
    except (requests.RequestException, OSError) as exc:
        raise InputError(
            f"cannot download the walking network ({type(exc).__name__}): no internet "
            f"connection, or OpenStreetMap's servers did not answer within "
            f"{DOWNLOAD_TIMEOUT_S} s; give --network FILE (an OSM extract) instead",
            column=f"--{option}", value=value) from None
    except ValueError as exc:  # osmnx: nothing found, or an error status it cannot read
        raise InputError(f"no usable answer from OpenStreetMap: {exc}", column=f"--{option}",
                         value=value) from None


def _csr_min(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int, *,
             companion: np.ndarray | None = None) -> tuple[sparse.csr_matrix, np.ndarray]:
    """CSR matrix keeping the minimum weight of duplicate (row, col) pairs, without
    self-loops; and ``companion`` (one value per pair given) of the kept entries, aligned
    with the matrix's ``data`` (zeros without it)."""
    keep = rows != cols
    if not keep.all():  # (no copies of millions of entries when there is no self-loop)
        rows, cols, weights = rows[keep], cols[keep], weights[keep]
        companion = None if companion is None else companion[keep]
    del keep
    # one stable sort by (row, col); the least weight of a repeated pair (the first given
    # of equal ones) picked in its group: what a lexsort by (row, col, weight) keeps, in a
    # third of the time
    key = rows.astype(np.int64) * n + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    np.not_equal(key[1:], key[:-1], out=first[1:])
    del key
    if not first.all():
        w = weights[order]
        group = np.cumsum(first) - 1
        least = np.minimum.reduceat(w, np.flatnonzero(first))
        cand = np.flatnonzero(w == least[group])
        first_cand = np.ones(len(cand), dtype=bool)
        np.not_equal(group[cand][1:], group[cand][:-1], out=first_cand[1:])
        order = order[cand[first_cand]]
    rows, cols, weights = rows[order], cols[order], weights[order]
    companion = np.zeros(len(rows)) if companion is None else companion[order]
    del order
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sparse.csr_matrix((weights, cols, indptr), shape=(n, n)), companion


def _transform_geometries(geoms: np.ndarray, transformer: Transformer) -> np.ndarray:
    """Re-project geometries by transforming all their coordinates in one call."""
    coords = shapely.get_coordinates(geoms)
    x, y = transformer.transform(coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(geoms.copy(), np.column_stack([x, y]))


def _orient_geometries(geoms: np.ndarray, xy_u: np.ndarray, xy_v: np.ndarray) -> np.ndarray:
    """Reverse geometries whose first vertex is nearer to v than to u."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    start = coords[np.searchsorted(index, np.arange(len(geoms)))]
    flip = (np.hypot(*(start - xy_v).T) < np.hypot(*(start - xy_u).T))
    if flip.any():
        geoms = geoms.copy()
        geoms[flip] = shapely.reverse(geoms[flip])
    return geoms


def _interpolate_vertex_z(geoms: np.ndarray, z_u: np.ndarray, z_v: np.ndarray) -> np.ndarray:
    """Per-vertex elevations interpolated linearly along each edge between its end nodes."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    step = np.zeros(len(coords))
    same = index[1:] == index[:-1]
    step[1:][same] = np.hypot(*(coords[1:] - coords[:-1]).T)[same]
    cum = np.cumsum(step)
    starts = np.searchsorted(index, np.arange(len(geoms)))
    along = cum - cum[starts][index]
    total = np.bincount(index, step, minlength=len(geoms))
    frac = np.divide(along, total[index], out=np.zeros_like(along), where=total[index] > 0)
    return z_u[index] + frac * (z_v[index] - z_u[index])


def _select_ragged(values: np.ndarray, geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Keep the per-vertex values of the geometries selected by ``keep``."""
    _, index = shapely.get_coordinates(geoms, return_index=True)
    return values[keep[index]]
