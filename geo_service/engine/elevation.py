"""Elevation: a DEM sampled along the network, and walking speed on slopes.

Without elevation a network's walking time is its length divided by the flat walking
speed. With elevation it follows **Tobler's hiking function** scaled to the flat speed
``v0``::

    v(S) = v0 · exp(-3.5 · (|S + 0.05| − 0.05))      S = dz/dx along the direction of travel

so walking uphill is slower than the same slope downhill, and gentle descents (≈ −3°) are
the fastest. Slopes are taken per geometry segment (DEM sampled at every vertex, see
:func:`dem_elevations`) or, when only node elevations are known, as the edge's mean slope
(:func:`interpolate_vertex_z`). :class:`~geo_service.engine.network.WalkNetwork` builds
its time graph from :func:`slope_seconds`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo_service._errors import InputError
from geo_service.i18n import msg, msg_n

if TYPE_CHECKING:  # the network samples its elevations here: imported for annotations only
    from geo_service.engine.network import WalkNetwork


def tobler_speed(slope: np.ndarray, flat_speed_mps: float) -> np.ndarray:
    """Walking speed (m/s) on a slope ``dz/dx`` by Tobler's hiking function.

    Scaled so that ``tobler_speed(0) == flat_speed_mps``; the fastest speed is at a
    5 % descent (slope −0.05), uphill is always slower than the same slope downhill
    (for |slope| > 0).
    """
    return flat_speed_mps * np.exp(-3.5 * (np.abs(np.asarray(slope) + 0.05) - 0.05))


def slope_seconds(geoms: np.ndarray, vertex_z: np.ndarray,
                  flat_speed_mps: float) -> tuple[np.ndarray, np.ndarray]:
    """Walking seconds along each edge geometry, (forwards, backwards), at Tobler's speed
    on the slope of each of its segments (``vertex_z``: the elevation of every vertex)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    same = index[1:] == index[:-1]
    seg_len = np.hypot(*(coords[1:] - coords[:-1]).T)[same]
    seg_dz = (vertex_z[1:] - vertex_z[:-1])[same]
    seg_edge = index[1:][same]
    slope = np.divide(seg_dz, seg_len, out=np.zeros_like(seg_dz), where=seg_len > 0)
    forward = seg_len / tobler_speed(slope, flat_speed_mps)
    backward = seg_len / tobler_speed(-slope, flat_speed_mps)
    n = len(geoms)
    return (np.bincount(seg_edge, forward, minlength=n),
            np.bincount(seg_edge, backward, minlength=n))


def dem_elevations(dem_path: str | Path, net: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    """The elevations of a network's nodes and of every vertex of its edges, sampled from
    a DEM GeoTIFF; vertices on no-data cells take the elevation interpolated between their
    edge's nodes. A node outside the DEM or on no data is an :class:`InputError`."""
    node_z = sample_raster(dem_path, net.node_xy, net.crs)
    coords = shapely.get_coordinates(net.edge_geometry)
    vertex_z = sample_raster(dem_path, coords, net.crs)
    if np.isnan(node_z).any():
        outside = int(np.isnan(node_z).sum())
        raise InputError(msg_n(
            "{n} network node lies outside the DEM or on a no-data cell; use a DEM that "
            "covers the whole network",
            "{n} network nodes lie outside the DEM or on no-data cells; use a DEM that "
            "covers the whole network", outside), file=dem_path)
    # Where the DEM has no data, fall back to interpolating the node elevations.
    fallback = interpolate_vertex_z(net.edge_geometry, node_z[net.edge_u],
                                    node_z[net.edge_v])
    return node_z, np.where(np.isnan(vertex_z), fallback, vertex_z)


def sample_raster(path: str | Path, xy: np.ndarray, crs: CRS) -> np.ndarray:
    """Sample band 1 of a raster at metric coordinates ``xy``; NaN outside or on no-data."""
    import rasterio

    with rasterio.open(path) as src:
        if src.crs is None:
            raise InputError(msg("the DEM has no CRS"), file=path)
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


def interpolate_vertex_z(geoms: np.ndarray, z_u: np.ndarray, z_v: np.ndarray) -> np.ndarray:
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
