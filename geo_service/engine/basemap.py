"""A region's own vector basemap: its streets, area outlines, rivers and railways per zoom.

Where background tiles cannot load (a municipal closed network such as LGWAN, or
``GEO_SERVICE_BASEMAPS=none``) the maps draw this instead of a grey box. Everything comes
from the saved region (:class:`~geo_service.engine.region.Region`), no tile server:

- **streets**: the walking network's edges (every region has them);
- **outlines**: the boundaries of one area layer (the first, by default), shared edges
  drawn once;
- **water** and **rail**: the rivers, water areas and railways kept when the region was
  built from an OSM extract (:mod:`geo_service.engine.basemap_osm`, the region folder's
  ``basemap.parquet``); none for a region without them.

Each zoom level (web-map zooms, 256-px tiles) has its own generalised copy, built when
first asked and kept (:meth:`Basemap.layer`): with ``p`` the ground size of a pixel there,

- street vertices closer than :data:`CELL_PX` pixels merge into one (vertex clustering:
  each vertex moves to the mean of its ``6p`` grid cell, segments collapsing to a point
  vanish, duplicates are drawn once), the pieces are joined between junctions
  (``shapely.line_merge``) and simplified to ``p`` — so at a low zoom a dense quarter's
  short streets fold into the few lines a screen can show, and a view holds at most about
  as many segments as the screen has cells, whatever the network's size;
- outlines are simplified as a coverage (``shapely.coverage_simplify``, neighbours keep a
  common edge) to ``p``;
- water areas smaller than two cells, and below zoom :data:`MINOR_WATER_ZOOM` streams,
  drains and ditches, are left out; the rest is simplified to ``p``.

:meth:`Basemap.geojson` answers a zoom and an optional lon/lat box with a GeoJSON
FeatureCollection whose features carry only ``kind`` (``water``, ``outline``,
``street``, ``rail``; drawn in that order) — no names, ids or registry data.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from geo_service.engine.basemap_osm import WATER_LINES
from geo_service.engine.network import WalkNetwork
from geo_service.inputs.boundaries import AreaLayer

#: the region folder's file of rivers, water areas and railways (GeoParquet, lon/lat)
EXTRAS_FILE = "basemap.parquet"
#: the zooms that have a copy of their own; lower and higher ones get the nearest
MIN_ZOOM, MAX_ZOOM = 10, 16
#: street vertices closer than this many pixels merge
CELL_PX = 6.0
#: street lines per GeoJSON feature (a MultiLineString) of an answer
STREETS_PER_FEATURE = 50
#: below this zoom, streams, drains and ditches are left out
MINOR_WATER_ZOOM = 14
#: ground metres of one pixel at zoom 0 on the equator (256-px web-map tiles)
EQUATOR_M_PER_PX = 2 * math.pi * 6378137 / 256
KINDS = ("water", "outline", "street", "rail")


def metres_per_pixel(zoom: float, lat: float) -> float:
    """The ground size of one pixel of a web map at ``zoom`` and latitude ``lat``."""
    return EQUATOR_M_PER_PX * math.cos(math.radians(lat)) / 2 ** zoom


def load_extras(folder: str | Path) -> gpd.GeoDataFrame | None:
    """The rivers, water areas and railways saved in a region folder; None when it has
    none (a region saved before basemaps, or built without an OSM extract)."""
    path = Path(folder) / EXTRAS_FILE
    return gpd.read_parquet(path) if path.exists() else None


def save_extras(extras: gpd.GeoDataFrame, folder: str | Path) -> Path:
    """Write a region's rivers, water areas and railways into its folder (lon/lat)."""
    path = Path(folder) / EXTRAS_FILE
    extras.to_crs("EPSG:4326").to_parquet(path)
    return path


@dataclass(frozen=True, eq=False)
class BasemapLayer:
    """The basemap generalised for one zoom: lon/lat geometries and their kinds."""

    zoom: int
    kinds: np.ndarray
    geoms: np.ndarray

    @cached_property
    def tree(self) -> shapely.STRtree:
        """A spatial index of :attr:`geoms`."""
        return shapely.STRtree(self.geoms)

    def counts(self) -> dict[str, int]:
        """Features per kind."""
        return {k: int(np.count_nonzero(self.kinds == k)) for k in KINDS}

    def select(self, bbox: tuple[float, float, float, float] | None = None) -> np.ndarray:
        """Indices of the features meeting the lon/lat box ``(west, south, east, north)``
        (all without one), in drawing order."""
        if bbox is None:
            return np.arange(len(self.geoms))
        return np.sort(self.tree.query(shapely.box(*bbox), predicate="intersects"))

    def geojson(self, rows: np.ndarray | None = None) -> str:
        """The features ``rows`` (all without them; see :meth:`select`) as a GeoJSON
        FeatureCollection (text); streets go :data:`STREETS_PER_FEATURE` lines to a
        MultiLineString (fewer, larger paths draw faster and weigh less)."""
        rows = np.arange(len(self.geoms)) if rows is None else rows
        kinds, geoms = [], []
        for kind in KINDS:
            of_kind = self.geoms[rows[self.kinds[rows] == kind]]
            if kind == "street":
                of_kind = np.array([shapely.multilinestrings(of_kind[i:i + STREETS_PER_FEATURE])
                                    for i in range(0, len(of_kind), STREETS_PER_FEATURE)],
                                   dtype=object)
            kinds += [kind] * len(of_kind)
            geoms += list(of_kind)
        texts = shapely.to_geojson(geoms)
        features = ",".join(f'{{"type":"Feature","properties":{{"kind":"{k}"}},'
                            f'"geometry":{g}}}' for k, g in zip(kinds, texts, strict=True))
        return f'{{"type":"FeatureCollection","zoom":{self.zoom},"features":[{features}]}}'


class Basemap:
    """The basemap of a region, one generalised copy per zoom (see the module).

    Parameters
    ----------
    net
        The walking network (its edges are the streets).
    outlines
        Polygons whose boundaries are drawn (an area layer's areas), any CRS.
    extras
        Rivers, water areas and railways (:func:`~geo_service.engine.basemap_osm.
        extras_from_osm`), any CRS.
    """

    def __init__(self, net: WalkNetwork, outlines: gpd.GeoDataFrame | None = None,
                 extras: gpd.GeoDataFrame | None = None) -> None:
        self.net = net
        self.outlines = None if outlines is None else outlines.to_crs(net.crs)
        self.extras = None if extras is None or extras.empty else extras.to_crs(net.crs)
        west, south, east, north = net.bounds_lonlat()
        self.lat = (south + north) / 2
        self._to_lonlat = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
        self._locks = {z: threading.Lock() for z in range(MIN_ZOOM, MAX_ZOOM + 1)}
        self._layers: dict[int, BasemapLayer] = {}

    @classmethod
    def of_region(cls, net: WalkNetwork, areas: list[AreaLayer],
                  extras: gpd.GeoDataFrame | None, *,
                  outline_layer: str | None = None) -> Basemap:
        """The basemap of a region's parts: the outlines of ``outline_layer`` (default the
        first area layer)."""
        layer = next((a for a in areas if a.name == outline_layer), areas[0] if areas else None)
        return cls(net, None if layer is None else layer.areas, extras)

    @staticmethod
    def zoom_of(zoom: float) -> int:
        """The zoom whose copy answers ``zoom`` (clamped to MIN_ZOOM … MAX_ZOOM)."""
        return int(min(MAX_ZOOM, max(MIN_ZOOM, math.floor(zoom))))

    def layer(self, zoom: float) -> BasemapLayer:
        """The copy for ``zoom``, built when first asked (a request for a copy being built
        waits for it; other zooms' do not)."""
        z = self.zoom_of(zoom)
        with self._locks[z]:
            if z not in self._layers:
                self._layers[z] = self._build(z)
            return self._layers[z]

    def warm(self) -> None:
        """Build every zoom's copy, the one that shows the region 1024 px across first
        (for a thread of its own: a large region's finer copies take seconds each)."""
        first = self.fit_zoom(1024)
        for z in sorted(range(MIN_ZOOM, MAX_ZOOM + 1), key=lambda z: (z < first, z)):
            self.layer(z)

    def view(self, zoom: float, bbox: tuple[float, float, float, float] | None, *,
             max_lines: int) -> tuple[BasemapLayer, np.ndarray]:
        """The copy for ``zoom`` and its features meeting ``bbox`` — or, where that box
        holds more than ``max_lines`` lines, the next lower zoom's that holds no more
        (MIN_ZOOM's at the least): a dense box is drawn coarser, never empty."""
        z = self.zoom_of(zoom)
        while True:
            layer = self.layer(z)
            rows = layer.select(bbox)
            if len(rows) <= max_lines or z <= MIN_ZOOM:
                return layer, rows
            z -= 1

    def fit_zoom(self, pixels: float = 1024) -> int:
        """The zoom at which the network's extent spans ``pixels`` across (its longer
        side), clamped to MIN_ZOOM … MAX_ZOOM."""
        west, south, east, north = self.net.bounds_lonlat()
        width_m = max(np.ptp(self.net.node_xy[:, 0]), np.ptp(self.net.node_xy[:, 1]), 1.0)
        return self.zoom_of(math.log2(EQUATOR_M_PER_PX * math.cos(math.radians(self.lat))
                                      * pixels / width_m))

    def embedded(self, max_vertices: int) -> BasemapLayer:
        """The most detailed copy, from the zoom that shows the region 2048 px across
        down (600 px for a network of more than ``max_vertices / 2`` edges, which could
        not fit finer), with at most ``max_vertices`` vertices (the lowest zoom's when
        none has so few): what a map page that carries its basemap inside (folium)
        embeds."""
        zoom = self.fit_zoom(2048 if 2 * self.net.n_edges <= max_vertices else 600)
        layer = self.layer(zoom)
        while zoom > MIN_ZOOM and shapely.get_num_coordinates(layer.geoms).sum() > max_vertices:
            zoom -= 1
            layer = self.layer(zoom)
        return layer

    def _build(self, zoom: int) -> BasemapLayer:
        px = metres_per_pixel(zoom, self.lat)
        parts: list[tuple[str, np.ndarray]] = []
        if self.extras is not None:
            parts.append(("water", self._water(zoom, px)))
        if self.outlines is not None and len(self.outlines):
            parts.append(("outline", self._outlines(px)))
        streets = shapely.simplify(cluster_lines(*street_vertices(self.net), CELL_PX * px), px)
        # neighbours next to each other (rows of 64-px squares), so that the lines an
        # answer groups into one feature lie together
        square = np.floor(shapely.get_coordinates(shapely.point_on_surface(streets))
                          / (64 * px)) if len(streets) else np.empty((0, 2))
        parts.append(("street", streets[np.lexsort((square[:, 0], square[:, 1]))]))
        if self.extras is not None:
            rail = self.extras.geometry.to_numpy()[(self.extras["kind"] == "rail").to_numpy()]
            parts.append(("rail", shapely.simplify(rail, px)))
        geoms = np.concatenate([g for _, g in parts]) if parts else np.empty(0, object)
        kinds = np.concatenate([np.full(len(g), k) for k, g in parts]) if parts else \
            np.empty(0, str)
        keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
        digits = 6 if zoom >= 15 else 5  # ~0.1 m, ~1 m: below a pixel either way
        lonlat = shapely.transform(geoms[keep], lambda xy: np.round(
            np.column_stack(self._to_lonlat.transform(xy[:, 0], xy[:, 1])), digits))
        return BasemapLayer(zoom, kinds[keep], lonlat)

    def _water(self, zoom: int, px: float) -> np.ndarray:
        assert self.extras is not None
        water = self.extras[(self.extras["kind"] == "water").to_numpy()]
        geoms = water.geometry.to_numpy()
        areas = shapely.get_dimensions(geoms) == 2
        minor = water["tag"].isin([f"waterway={w}" for w in WATER_LINES - {"river", "canal"}])
        keep = np.where(areas, shapely.area(geoms) >= (2 * CELL_PX * px) ** 2,
                        ~minor.to_numpy() | (zoom >= MINOR_WATER_ZOOM))
        return shapely.simplify(geoms[keep], px)

    def _outlines(self, px: float) -> np.ndarray:
        assert self.outlines is not None
        polygons = shapely.make_valid(self.outlines.geometry.to_numpy())
        try:
            simple = shapely.coverage_simplify(polygons, px)
        except shapely.errors.GEOSException:  # not a coverage (overlapping areas)
            simple = shapely.simplify(polygons, px)
        edges = shapely.line_merge(shapely.union_all(shapely.boundary(simple)))
        return shapely.get_parts(edges)


def street_vertices(net: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of the network's edges and the edge of each, in order along each edge
    (a straight-edged network's straight from its node arrays: no LineString is made)."""
    if net.straight_edges:
        coords = np.empty((2 * net.n_edges, 2))
        coords[0::2], coords[1::2] = net.node_xy[net.edge_u], net.node_xy[net.edge_v]
        return coords, np.repeat(np.arange(net.n_edges), 2)
    return shapely.get_coordinates(net.edge_geometry, return_index=True)


def cluster_lines(coords: np.ndarray, index: np.ndarray, cell: float) -> np.ndarray:
    """Lines given by their vertices ``coords`` (metric; ``index``: the line of each, in
    order along it) generalised to ``cell`` metres: every vertex moved to the mean of the
    vertices in its ``cell`` × ``cell`` grid square, segments that collapse left out, each
    remaining segment once, joined into lines between junctions."""
    if len(coords) == 0:
        return np.empty(0, dtype=object)
    grid = np.floor((coords - coords.min(axis=0)) / cell).astype(np.int64)
    cells, inverse = np.unique(grid[:, 0] * (int(grid[:, 1].max()) + 1) + grid[:, 1],
                               return_inverse=True)
    inverse = inverse.reshape(-1)
    count = np.bincount(inverse)
    centre = np.column_stack([np.bincount(inverse, coords[:, 0]) / count,
                              np.bincount(inverse, coords[:, 1]) / count])
    along = index[1:] == index[:-1]  # consecutive vertices of one line
    a, b = inverse[:-1][along], inverse[1:][along]
    moved = a != b
    pairs = np.unique(np.minimum(a, b)[moved] * len(cells) + np.maximum(a, b)[moved])
    a, b = np.divmod(pairs, len(cells))
    if len(a) == 0:
        return np.empty(0, dtype=object)
    segments = shapely.linestrings(np.stack([centre[a], centre[b]], axis=1))
    return shapely.get_parts(shapely.line_merge(shapely.multilinestrings(segments)))
