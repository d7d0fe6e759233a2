"""The walking network: nodes, edges and the sparse graphs the engine searches.

A :class:`WalkNetwork` holds nodes and undirected edges in a metric CRS, each edge with its
true geometry oriented from ``u`` to ``v`` and its length in metres, plus two sparse graphs:

- ``distance_graph``: symmetric CSR matrix of edge lengths. Parallel edges are reduced to
  the shortest one *before* the CSR is built (scipy sums duplicate COO entries).
- ``time_graph``: directed CSR matrix of walking seconds. Without elevation it is the
  distance graph divided by the walking speed; with elevation (:meth:`WalkNetwork.with_dem`
  or node elevations) it follows Tobler's hiking function, see
  :mod:`geo_service.engine.elevation`.

Networks are read from OpenStreetMap files or downloaded by
:mod:`geo_service.engine.osm` (:func:`~geo_service.engine.osm.load_walk_network`); points
are attached to their nearest edges by the indexes of :mod:`geo_service.engine.snapping`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo_service import settings
from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine.elevation import dem_elevations, interpolate_vertex_z, slope_seconds
from geo_service.engine.snapping import EdgeIndex, segment_length
from geo_service.i18n import msg
from geo_service.inputs.crs import transform_geometries, transform_geometry


@dataclass(frozen=True, eq=False, init=False)
class WalkNetwork:
    """An undirected walking network in a metric CRS, ready for array searches.

    Build one with :func:`~geo_service.engine.osm.load_walk_network` or
    :meth:`from_edges`. Attributes: ``node_id`` (original ids), ``node_xy`` (metres),
    ``edge_u``/``edge_v`` (node indices), ``edge_geometry`` (LineStrings from u to v),
    ``edge_length`` (metres), ``vertex_z`` (per-vertex elevations of every edge, or None),
    ``walking_speed_mps``.

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
        """LineStrings from u to v (built on first use for a straight-edged network, read
        on first use for a loaded one)."""
        source = self.__dict__.get("_geometry_file")
        if source is not None:
            with np.load(source, allow_pickle=True) as f:  # our own file (:meth:`save`)
                return shapely.from_wkb(f["edge_wkb"])
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
            raise InputError(msg("a walking network must be in a metric CRS, not {crs}",
                                 crs=crs.to_string()),
                             file=source or None)
        node_xy = np.asarray(node_xy, dtype=float)
        edge_u = np.asarray(edge_u, dtype=np.int64)
        edge_v = np.asarray(edge_v, dtype=np.int64)
        if len(edge_u) == 0:
            raise EmptyNetworkError(msg("the source holds no walkable edges"), file=source or None)
        if edge_geometry is None and node_z is None:  # straight lines, built lazily
            keep = segment_length(node_xy[edge_u], node_xy[edge_v]) > 1e-9
            net = cls(crs=crs, node_id=np.asarray(node_id), node_xy=node_xy,
                      edge_u=edge_u[keep], edge_v=edge_v[keep], edge_geometry=None,
                      walking_speed_mps=walking_speed_mps, source=source)
            if len(net.edge_u) == 0:
                raise EmptyNetworkError(msg("every edge has zero length"), file=source or None)
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
            vertex_z = interpolate_vertex_z(edge_geometry, node_z[edge_u], node_z[edge_v])
        net = cls(
            crs=crs, node_id=np.asarray(node_id), node_xy=node_xy,
            edge_u=edge_u[keep], edge_v=edge_v[keep], edge_geometry=edge_geometry[keep],
            walking_speed_mps=walking_speed_mps, node_z=node_z,
            vertex_z=None if vertex_z is None else _select_ragged(vertex_z, edge_geometry, keep),
            source=source,
        )
        if len(net.edge_u) == 0:
            raise EmptyNetworkError(msg("every edge has zero length"), file=source or None)
        return net

    def with_dem(self, dem_path: str | Path) -> WalkNetwork:
        """Return a copy whose elevations are sampled from a DEM GeoTIFF at every vertex."""
        node_z, vertex_z = dem_elevations(dem_path, self)
        return WalkNetwork(
            crs=self.crs, node_id=self.node_id, node_xy=self.node_xy, edge_u=self.edge_u,
            edge_v=self.edge_v, edge_geometry=self.edge_geometry,
            walking_speed_mps=self.walking_speed_mps, node_z=node_z, vertex_z=vertex_z,
            source=self.source,
        )

    def with_speed(self, walking_speed_mps: float) -> WalkNetwork:
        """Return a copy with another flat walking speed (m/s)."""
        if not walking_speed_mps > 0:
            raise InputError(msg("walking speed must be positive"), column="speed",
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
            geoms = transform_geometries(geoms, tr)
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
            return segment_length(self.node_xy[self.edge_u], self.node_xy[self.edge_v])
        return shapely.length(self.edge_geometry)

    @cached_property
    def edge_seconds(self) -> tuple[np.ndarray, np.ndarray]:
        """Walking seconds along each edge, (u → v, v → u)."""
        if self.vertex_z is None:
            t = self.edge_length / self.walking_speed_mps
            return t, t
        return slope_seconds(self.edge_geometry, self.vertex_z, self.walking_speed_mps)

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
    def time_graph_reverse(self) -> sparse.csr_matrix:
        """:attr:`time_graph` reversed (row = to): searched from resources for the time
        *to* them (built once per network)."""
        return self.time_graph.T.tocsr()

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

    def release_search_indexes(self) -> None:
        """Drop the nearest-edge indexes (:attr:`edge_index`, :attr:`main_edges`,
        :attr:`edge_tree`; ~250 MB at 1M nodes) once every point is attached; they are
        rebuilt if asked for again."""
        for name in ("edge_index", "main_edges", "edge_tree"):
            self.__dict__.pop(name, None)

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
    def fastest_walk_mps(self) -> float:
        """The fastest walk anywhere (m/s): along any edge, either way (on slopes a
        descent is quicker than the flat), or on the flat (a point's connector to its
        street); no walk covers more metres a second."""
        t_uv, t_vu = self.edge_seconds
        long = self.edge_length > 0
        with np.errstate(divide="ignore"):
            speed = self.edge_length[long] / np.minimum(t_uv[long], t_vu[long])
        return float(speed.max(initial=self.walking_speed_mps))

    @cached_property
    def straight_line_seconds_per_metre(self) -> float:
        """The least walking time of a metre of straight line between two nodes (s): no
        walk between them is quicker than this times the straight line
        (:attr:`chord_ratio` over :attr:`fastest_walk_mps`; an A* search's estimate,
        :class:`~geo_service.engine.cutoff_dijkstra.Aim`)."""
        return self.chord_ratio / self.fastest_walk_mps

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
        """Read a network written by :meth:`save`; the edge geometries are read from the
        file when first needed (attaching new points, drawing isochrones), not before."""
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k != "edge_wkb"}
        return cls.from_arrays(arrays, geometry_file=path)

    #: the arrays :meth:`arrays` gives beside the network's own: what it derives
    DERIVED = ("edge_length", "edge_seconds", "distance_graph", "_time_graph_and_lengths",
               "time_graph_reverse")

    def arrays(self) -> dict[str, np.ndarray]:
        """The network as plain arrays (no geometries), with its edge lengths, times and
        graphs (computed now if they were not), for :meth:`from_arrays`."""
        out: dict[str, np.ndarray] = {
            "crs": np.array(self.crs.to_wkt()), "node_id": self.node_id,
            "node_xy": self.node_xy, "edge_u": self.edge_u, "edge_v": self.edge_v,
            "speed": np.array(self.walking_speed_mps), "source": np.array(self.source),
            "edge_length": self.edge_length, "seconds_uv": self.edge_seconds[0],
            "seconds_vu": self.edge_seconds[1], "straight": np.array(self._all_straight())}
        if self.node_z is not None:
            out["node_z"] = self.node_z
        if self.vertex_z is not None:
            out["vertex_z"] = self.vertex_z
        graphs = {"distance": self.distance_graph}
        if self.has_elevation:
            graphs |= {"time": self.time_graph, "reverse": self.time_graph_reverse}
            out["time_lengths"] = self.time_graph_lengths
        for name, g in graphs.items():
            out[f"{name}_indptr"], out[f"{name}_indices"] = g.indptr, g.indices
            out[f"{name}_data"] = g.data
        return out

    def _all_straight(self) -> bool:
        """Whether every edge is the straight segment from its u to its v node (then no
        geometry needs to be kept: see ``straight_edges``)."""
        if self.straight_edges:
            return True
        coords, index = shapely.get_coordinates(self.edge_geometry, return_index=True)
        if len(coords) != 2 * self.n_edges:
            return False
        ends = np.stack([self.node_xy[self.edge_u], self.node_xy[self.edge_v]], axis=1)
        return bool(np.array_equal(index, np.repeat(np.arange(self.n_edges), 2))
                    and np.array_equal(coords.reshape(-1, 2, 2), ends))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], *,
                    geometry_file: str | Path) -> WalkNetwork:
        """A network from :meth:`arrays` (or the arrays of a saved file), its edge
        geometries read from ``geometry_file`` (a file of :meth:`save`) when first
        needed."""
        node_z = arrays.get("node_z")
        net = cls(crs=CRS.from_wkt(str(arrays["crs"])), node_id=arrays["node_id"],
                  node_xy=arrays["node_xy"], edge_u=arrays["edge_u"], edge_v=arrays["edge_v"],
                  edge_geometry=None, walking_speed_mps=float(arrays["speed"]),
                  node_z=node_z, vertex_z=arrays.get("vertex_z"), source=str(arrays["source"]))
        if not bool(arrays.get("straight", False)):  # else built from the nodes if asked
            object.__setattr__(net, "straight_edges", False)
            object.__setattr__(net, "_geometry_file", Path(geometry_file))
        known = net.__dict__
        if "edge_length" in arrays:
            known["edge_length"] = arrays["edge_length"]
            known["edge_seconds"] = (arrays["seconds_uv"], arrays["seconds_vu"])
        n = len(net.node_xy)

        def graph(name: str) -> sparse.csr_matrix | None:
            if f"{name}_indptr" not in arrays:
                return None
            return sparse.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"],
                                      arrays[f"{name}_indptr"]), shape=(n, n))

        if (g := graph("distance")) is not None:
            known["distance_graph"] = g
        if (g := graph("time")) is not None:
            known["_time_graph_and_lengths"] = (g, arrays["time_lengths"])
            known["time_graph_reverse"] = graph("reverse")
        return net


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


def _orient_geometries(geoms: np.ndarray, xy_u: np.ndarray, xy_v: np.ndarray) -> np.ndarray:
    """Reverse geometries whose first vertex is nearer to v than to u."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    start = coords[np.searchsorted(index, np.arange(len(geoms)))]
    flip = (np.hypot(*(start - xy_v).T) < np.hypot(*(start - xy_u).T))
    if flip.any():
        geoms = geoms.copy()
        geoms[flip] = shapely.reverse(geoms[flip])
    return geoms


def _select_ragged(values: np.ndarray, geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Keep the per-vertex values of the geometries selected by ``keep``."""
    _, index = shapely.get_coordinates(geoms, return_index=True)
    return values[keep[index]]
