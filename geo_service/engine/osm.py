"""Walking networks from OpenStreetMap: the file readers and the downloads.

:func:`load_walk_network` picks a reader by the file's name (for OSM files, as
:func:`geo_service.inputs.osm_files.osm_file_kind` tells it):

- OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.xml``) and raw Overpass JSON (as osmnx
  caches it): read into Overpass elements, filtered to walkable ways (:func:`is_walkable`),
  built into a graph as osmnx builds a walking graph and simplified by osmnx;
- OSM PBF (``.osm.pbf``, ``.pbf``): streamed with pyosmium into arrays by
  :mod:`geo_service.engine.pbf_reader` (pyrosm's walking filter, every way cut into one edge per
  pair of consecutive nodes, not simplified), cached beside the file
  (``<file>.walk-v1.npz``) so that a second read of an unchanged file skips parsing;
- osmnx GraphML (``.graphml``), taken as it is (osmnx graphs are already filtered);
- a network saved by :meth:`WalkNetwork.save` (``.npz``).

:func:`network_from_place` and :func:`network_from_bbox` download one through osmnx
(cached in ``settings.cache_dir()``). This is the engine's one user of osmnx, and of its
public API only.

Walking ignores one-way restrictions; footways, paths, steps and pedestrian streets
count; motorways, ``foot=no``, private access and areas do not.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
from collections.abc import Callable
from itertools import groupby, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geo_service import settings
from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine.network import WalkNetwork
from geo_service.i18n import msg
from geo_service.inputs.crs import metric_crs_for, transform_geometries
from geo_service.inputs.osm_files import osm_file_kind

if TYPE_CHECKING:  # networkx is imported only where osmnx graphs are read
    import geopandas as gpd
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
        raise InputError(msg("file not found"), file=path)
    kind, name = osm_file_kind(path), path.name.lower()
    if kind == "pbf":
        net = network_from_pbf(path)
    elif kind == "xml":
        net = network_from_osm_xml(path)
    elif kind == "overpass_json":
        net = network_from_overpass_json(path)
    elif name.endswith(".graphml"):
        net = network_from_graphml(path)
    elif name.endswith(".npz"):
        net = WalkNetwork.load(path)
    else:
        raise InputError(
            msg("unknown network format; expected .osm.pbf, .osm, .osm.bz2, .json (Overpass), "
                ".graphml or .npz"), file=path)
    if walking_speed_mps != net.walking_speed_mps:
        net = net.with_speed(walking_speed_mps)
    return net.with_dem(dem) if dem is not None else net


def network_from_osmnx_graph(graph: nx.MultiDiGraph, *, source: str = "") -> WalkNetwork:
    """Convert an osmnx graph (geographic or projected) into a :class:`WalkNetwork`.

    Reciprocal directed edges collapse into one undirected edge; node ``elevation``
    attributes (as set by ``osmnx.elevation``) enable the slope model.
    """
    if graph.number_of_edges() == 0:
        raise EmptyNetworkError(msg("the graph has no edges"), file=source or None)
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
        geoms = transform_geometries(geoms, to_metric)
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
        raise InputError(msg("not a JSON Overpass response: {error}", error=exc),
                         file=path) from exc
    if "elements" not in data:
        raise InputError(msg("no 'elements' key: not an Overpass response"), file=path)
    return _network_from_elements(data["elements"], source=str(path))


def network_from_osm_xml(path: str | Path) -> WalkNetwork:
    """Read an OSM XML file (``.osm``, ``.osm.bz2``, ``.osm.gz``) as a walking network."""
    try:
        elements = osm_xml_elements(path)
    except (ElementTree.ParseError, OSError, EOFError, KeyError, ValueError) as exc:
        # bad XML; not bz2/gzip data or cut short; a node or way without its id/lat/lon/ref
        raise InputError(msg("cannot parse OSM XML: {error}", error=exc), file=path) from exc
    return _network_from_elements(elements, source=str(path))


def osm_xml_elements(path: str | Path) -> list[dict[str, Any]]:
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
        raise InputError(msg("cannot read GraphML: {error}", error=exc), file=path) from exc
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


def features_from_place(query: str, tags: dict[str, list[str]]) -> gpd.GeoDataFrame:
    """Download the OSM features with ``tags`` of a place (needs the internet; cached),
    with ``osm_type`` and ``id`` columns as
    :func:`~geo_service.inputs.layer_points.stores_from_features` reads them."""
    import osmnx as ox

    osm_tags: dict[str, bool | str | list[str]] = dict(tags)
    features = _download(lambda: ox.features_from_place(query, tags=osm_tags), "place",
                         query).reset_index()
    return features.rename(columns={"element": "osm_type", "element_type": "osm_type",
                                    "osmid": "id"})


def network_from_bbox(west: float, south: float, east: float, north: float) -> WalkNetwork:
    """Download the walking network inside a lon/lat bounding box (cached)."""
    import osmnx as ox

    graph = _download(lambda: ox.graph_from_bbox((west, south, east, north),
                                                 network_type="walk", simplify=True,
                                                 retain_all=True),
                      "bbox", f"{west},{south},{east},{north}")
    return network_from_osmnx_graph(graph, source=f"osm:bbox {west},{south},{east},{north}")


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
        raise EmptyNetworkError(msg("the file holds no walkable ways (highway=* for pedestrians)"),
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


def _download(fetch: Callable[[], Any], option: str, value: str) -> Any:
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
            msg("cannot download the walking network ({error}): no internet connection, or "
                "OpenStreetMap's servers did not answer within {seconds} s; give --network "
                "FILE (an OSM extract) instead", error=type(exc).__name__,
                seconds=DOWNLOAD_TIMEOUT_S),
            column=f"--{option}", value=value) from None
    except ValueError as exc:  # osmnx: nothing found, or an error status it cannot read
        raise InputError(msg("no usable answer from OpenStreetMap: {error}", error=exc),
                         column=f"--{option}",
                         value=value) from None

