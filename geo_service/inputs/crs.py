"""Choosing the metric CRS a region is measured in, and checking input CRSs.

Data are exchanged in geographic coordinates (EPSG:4326 / JGD2011 EPSG:6668); every
distance is measured in a projected CRS chosen from the data's location:

- in Japan, the JGD2011 平面直角座標系 zone (EPSG:6669–6687) whose central meridian is
  nearest, which is the zone the prefecture officially uses in nearly every case
  (北九州 → zone II, EPSG:6670; 奈良 → zone VI, EPSG:6674);
- elsewhere, the WGS 84 UTM zone of the data (e.g. Helsinki → EPSG:32635).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from geo_service._errors import CRSError
from geo_service.i18n import msg

# (EPSG code, latitude of origin, central meridian) of the 19 JGD2011 plane-rectangular zones.
_JGD2011_ZONES: tuple[tuple[int, float, float], ...] = (
    (6669, 33.0, 129.5), (6670, 33.0, 131.0), (6671, 36.0, 132 + 1 / 6),
    (6672, 33.0, 133.5), (6673, 36.0, 134 + 1 / 3), (6674, 36.0, 136.0),
    (6675, 36.0, 137 + 1 / 6), (6676, 36.0, 138.5), (6677, 36.0, 139 + 5 / 6),
    (6678, 40.0, 140 + 5 / 6), (6679, 44.0, 140.25), (6680, 44.0, 142.25),
    (6681, 44.0, 144.25), (6682, 26.0, 142.0), (6683, 26.0, 127.5),
    (6684, 26.0, 124.0), (6685, 26.0, 131.0), (6686, 20.0, 136.0), (6687, 26.0, 154.0),
)


def in_japan(lon: float, lat: float) -> bool:
    """Whether a geographic coordinate lies in the bounding box of Japan's territory."""
    return 122.0 <= lon <= 154.5 and 20.0 <= lat <= 46.0


def metric_crs_for(lon: float, lat: float) -> CRS:
    """Return the projected CRS to measure in around a geographic point.

    Parameters
    ----------
    lon, lat
        A representative point of the study area, in degrees.

    Returns
    -------
    The nearest JGD2011 plane-rectangular zone in Japan, otherwise the UTM zone.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CRSError(f"({lon}, {lat}) is not a longitude/latitude pair")
    if in_japan(lon, lat):
        codes = np.array([z[0] for z in _JGD2011_ZONES])
        lat0 = np.array([z[1] for z in _JGD2011_ZONES])
        lon0 = np.array([z[2] for z in _JGD2011_ZONES])
        # TM scale error depends on the distance from the central meridian; latitude breaks ties.
        score = np.round(np.abs(lon0 - lon), 3) * 1000 + np.abs(lat0 - lat)
        return CRS.from_epsg(int(codes[np.argmin(score)]))
    info = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    return CRS.from_epsg(int(info[0].code))


def require_crs(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Refuse a layer without a CRS; never guess one for files that can carry it."""
    check_has_crs(gdf.crs, source)
    return gdf


def check_has_crs(crs: CRS | None, source: str) -> None:
    """Refuse a layer whose CRS (``crs``) is missing (see :func:`require_crs`)."""
    if crs is None:
        raise CRSError(
            msg("the layer has no coordinate reference system (a shapefile without .prj?); "
                "add one, e.g. EPSG:6668 for JGD2011 or EPSG:4326 for WGS 84"),
            file=source,
        )


def check_geographic_bounds(gdf: gpd.GeoDataFrame, source: str) -> None:
    """Raise when a layer's coordinates cannot be valid in its declared CRS.

    A projected file mislabelled as EPSG:4326 (coordinates in the hundreds of thousands)
    is the usual cause.
    """
    if gdf.empty or gdf.crs is None or not gdf.crs.is_geographic:
        return
    check_bounds(tuple(gdf.total_bounds), gdf.crs, source)


def check_bounds(bounds: tuple[float, float, float, float], crs: CRS, source: str) -> None:
    """:func:`check_geographic_bounds` of a layer's ``(minx, miny, maxx, maxy)`` in ``crs``
    (a geographic CRS)."""
    minx, miny, maxx, maxy = bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise CRSError(
            f"coordinates {np.round(np.array(bounds, dtype=float), 1).tolist()} are outside "
            f"±180/±90 although the declared CRS {crs.to_string()} is geographic; the file's "
            "CRS is probably wrong",
            file=source,
        )


def transform_geometry(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    """One geometry with every vertex transformed (``always_xy`` transformers)."""
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def transform_geometries(geoms: np.ndarray, transformer: Transformer) -> np.ndarray:
    """An array of geometries re-projected by transforming all their coordinates in one
    call (``always_xy`` transformers)."""
    coords = shapely.get_coordinates(geoms)
    x, y = transformer.transform(coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(geoms.copy(), np.column_stack([x, y]))
