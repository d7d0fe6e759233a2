"""Rivers, water and railways of an OSM extract: what a region keeps for its own basemap.

A region's basemap (:mod:`geo_service.engine.basemap`) draws its streets from the walking
network, which every region has; :func:`extras_from_osm` adds, where the extract has them,
the features that make a map recognisable without background tiles (a closed municipal
network such as LGWAN cannot load them):

- **water**: ``waterway=river|canal|stream|drain|ditch`` ways as lines, and
  ``natural=water``, ``waterway=riverbank`` or ``landuse=reservoir`` closed ways (and, in a
  PBF, multipolygon relations) as polygons;
- **rail**: ``railway=rail|subway|light_rail|narrow_gauge|monorail|tram|funicular``
  ways, except those also tagged ``disused``/``abandoned`` or ``service=yard|siding``
  (a yard's tracks would draw a dark block).

Readers: ``.osm.pbf`` with pyosmium (one pass; its area assembler builds the polygons,
relations included); OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) and raw Overpass JSON
through the element lists of :mod:`geo_service.engine.osm` (closed ways only: relations
are not assembled there). The result is a GeoDataFrame in lon/lat with ``kind``
(``water`` or ``rail``), ``tag`` (``waterway=river`` …) and ``geometry``; it is empty
when the extract has none (an osmnx walking query holds streets only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import geopandas as gpd
import shapely

from geo_service._errors import InputError
from geo_service.engine.osm import osm_xml_elements
from geo_service.i18n import msg
from geo_service.inputs.osm_files import osm_file_kind

WATER_LINES = frozenset({"river", "canal", "stream", "drain", "ditch"})
RAILWAYS = frozenset({"rail", "subway", "light_rail", "narrow_gauge", "monorail", "tram",
                      "funicular"})
_WATER_AREAS = (("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir"))
_NOT_RUNNING = ("disused", "abandoned")
_SIDE_TRACKS = frozenset({"yard", "siding", "spur"})
COLUMNS = ["kind", "tag", "geometry"]


def line_kind(get: Callable[[str], str | None]) -> tuple[str, str] | None:
    """``(kind, tag)`` of a way drawn as a line (a river, a railway) from its tags
    (``get(key)`` → value or None), or None."""
    waterway = get("waterway")
    if waterway in WATER_LINES:
        return "water", f"waterway={waterway}"
    railway = get("railway")
    if (railway in RAILWAYS and not any(get(k) for k in _NOT_RUNNING)
            and get("service") not in _SIDE_TRACKS):
        return "rail", f"railway={railway}"
    return None


def area_kind(get: Callable[[str], str | None]) -> tuple[str, str] | None:
    """``("water", tag)`` of a closed way or multipolygon drawn as water, or None."""
    for key, value in _WATER_AREAS:
        if get(key) == value:
            return "water", f"{key}={value}"
    return None


def extras_from_osm(path: str | Path) -> gpd.GeoDataFrame:
    """The rivers, water areas and railways of an OSM file (see the module docstring).

    Parameters
    ----------
    path
        ``.osm.pbf``/``.pbf``, ``.osm``/``.xml``/``.osm.bz2``/``.osm.gz`` or an Overpass
        ``.json`` response.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(msg("file not found"), file=path)
    kind = osm_file_kind(path)
    if kind == "pbf":
        rows = _pbf_rows(path)
    elif kind == "xml":
        try:
            elements = osm_xml_elements(path)
        except (ElementTree.ParseError, OSError, EOFError, KeyError, ValueError) as exc:
            # bad XML, bad compression, a node or way without its id/lat/lon/ref
            raise InputError(msg("cannot parse OSM XML: {error}", error=exc), file=path) from exc
        rows = _element_rows(elements)
    elif kind == "overpass_json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(msg("not a JSON Overpass response: {error}", error=exc),
                             file=path) from exc
        rows = _element_rows(data.get("elements", []) if isinstance(data, dict) else [])
    else:
        raise InputError(msg("rivers and railways can be read from .osm.pbf, .osm or Overpass "
                             ".json files"), file=path)
    return frame(rows)


def frame(rows: Iterable[tuple[str, str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    """Rows ``(kind, tag, geometry)`` in lon/lat as the extras' GeoDataFrame."""
    rows = [r for r in rows if r[2] is not None and not r[2].is_empty]
    return gpd.GeoDataFrame({"kind": [r[0] for r in rows], "tag": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs="EPSG:4326")


def _element_rows(elements: list[dict[str, Any]]) -> list[tuple[str, str, shapely.Geometry]]:
    """Rows of Overpass-style elements: lines of tagged ways, polygons of closed ones."""
    nodes = {e["id"]: (e["lon"], e["lat"]) for e in elements
             if e.get("type") == "node" and "lon" in e and "lat" in e}
    rows = []
    for e in elements:
        if e.get("type") != "way":
            continue
        tags = e.get("tags") or {}
        as_line, as_area = line_kind(tags.get), area_kind(tags.get)
        if as_line is None and as_area is None:
            continue
        xy = [nodes[n] for n in e.get("nodes", []) if n in nodes]
        if len(xy) < 2:
            continue
        if as_area is not None and len(xy) >= 4 and xy[0] == xy[-1]:
            rows.append((*as_area, shapely.make_valid(shapely.Polygon(xy))))
        elif as_line is not None:
            rows.append((*as_line, shapely.LineString(xy)))
    return rows


def _pbf_rows(path: Path) -> list[tuple[str, str, shapely.Geometry]]:
    """Rows of a PBF in one pass with pyosmium (its area assembler for the polygons; a
    polygon the extract cuts off is left out)."""
    import osmium

    wkb = osmium.geom.WKBFactory()
    rows = []
    keys = osmium.filter.KeyFilter("waterway", "railway", "natural", "landuse")
    try:
        processor = (osmium.FileProcessor(str(path)).with_locations().with_areas(keys)
                     .with_filter(keys))
        for obj in processor:
            if isinstance(obj, osmium.osm.Area):
                kind = area_kind(obj.tags.get)
                if kind is not None:
                    rows.append((*kind, shapely.from_wkb(wkb.create_multipolygon(obj))))
            elif isinstance(obj, osmium.osm.Way):
                kind = line_kind(obj.tags.get)
                # the nodes the file holds (a way leaving a clipped extract runs straight
                # on to its next node inside, as pyrosm reads it)
                xy = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                if kind is not None and len(xy) >= 2:
                    rows.append((*kind, shapely.LineString(xy)))
    except (RuntimeError, ValueError, OSError) as exc:  # osmium's I/O and format errors
        raise InputError(msg("cannot read OSM PBF: {error}", error=exc), file=path) from exc
    return rows


#: how far beyond the network's extent rivers and railways are kept (m)
CLIP_PAD_M = 500.0


def extras_for_network(source: str | Path | None,
                       bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame | None:
    """The rivers, water areas and railways of a walking network's OSM file, clipped to
    ``bounds`` (lon/lat west, south, east, north; the network's extent, padded by
    :data:`CLIP_PAD_M`); None when ``source`` is no OSM file (GraphML, a saved network,
    a download). What a region builder calls to keep them with the region
    (``Region.basemap_extras``)."""
    if source is None or osm_file_kind(source) is None:
        return None
    extras = extras_from_osm(source)
    clipped = shapely.clip_by_rect(extras.geometry.to_numpy(), *bounds)
    keep = ~shapely.is_empty(clipped)
    return gpd.GeoDataFrame(extras[keep].drop(columns="geometry").reset_index(drop=True),
                            geometry=clipped[keep], crs="EPSG:4326")
