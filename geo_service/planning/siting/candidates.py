"""Candidate sites read from files: a 公共施設一覧, a bus-stop list, a GTFS feed or a vector
point file, each attached to the walking network (one too far from every street is
refused, naming its row)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo_service import settings
from geo_service._errors import InputError, OutsideNetworkError, sheet_row
from geo_service.engine.access import Attachment, attach_points
from geo_service.engine.network import WalkNetwork
from geo_service.i18n import msg
from geo_service.inputs.readers import (
    TABLE_SUFFIXES,
    find_column,
    points_from_table,
    read_points,
    read_table,
)

NAME_ALIASES = ("名称", "name", "施設名", "stop_name", "名前", "停留所名", "事業所名", "資源名",
                "候補地", "候補地名", "candidate", "candidate_name")
ID_ALIASES = ("stop_id", "id", "candidate_id", "施設id", "施設ID", "ID", "候補地id", "候補id",
              "番号", "no", "no.", "コード")


class SitingError(InputError):
    """A siting request cannot be answered as asked (k, candidates, target)."""


@dataclass(frozen=True)
class Candidates:
    """Candidate sites: ids, names, metric coordinates and their attachment to the network."""

    ids: np.ndarray
    names: np.ndarray
    xy: np.ndarray
    attachment: Attachment
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def lonlat(self, net: WalkNetwork) -> np.ndarray:
        """The candidates' (lon, lat), EPSG:4326."""
        if len(self) == 0:
            return np.zeros((0, 2))
        return np.column_stack(net.to_geographic.transform(self.xy[:, 0], self.xy[:, 1]))


def candidates_from_points(net: WalkNetwork, points: gpd.GeoDataFrame, *, source: str = "",
                           rows: Sequence[int | None] | None = None,
                           max_snap_m: float = settings.max_snap_m) -> Candidates:
    """Candidates from points (any CRS) with optional name and id columns.

    Parameters
    ----------
    net
        The walking network.
    points
        Point geometries; a name column (名称, name, 施設名, stop_name …) and an id column
        (id, stop_id …) are used when present.
    source
        The file the points came from, for messages.
    rows
        The row number of each point as the user sees it (spreadsheet rows for tables);
        default 1, 2, ….
    max_snap_m
        A candidate farther than this from every walkable edge is refused.

    Raises
    ------
    SitingError
        When there are no points.
    OutsideNetworkError
        Naming the file, row and lon/lat of the first candidate outside the network.
    """
    if len(points) == 0:
        raise SitingError(msg("no candidate sites: the set of candidates is empty"),
                          file=source or None)
    if points.crs is None:
        raise InputError(msg("candidate points have no CRS"), file=source or None)
    rows = list(rows) if rows is not None else list(range(1, len(points) + 1))
    labels = [r if r is not None else i + 1 for i, r in enumerate(rows)]
    geoms = points.geometry.to_crs(net.crs).to_numpy()
    empty = shapely.is_empty(geoms) | np.array([g is None for g in geoms])
    if empty.any():
        raise InputError(msg("candidate without a location"), file=source or None,
                         row=rows[int(np.flatnonzero(empty)[0])], column="geometry")
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    name_col = find_column(points.columns, NAME_ALIASES)
    id_col = find_column(points.columns, ID_ALIASES)
    names = (points[name_col].fillna("").astype(str).to_numpy() if name_col
             else np.array([f"{Path(source).name or 'candidate'} row {r}" for r in labels]))
    ids = np.array([f"c{r}" for r in labels], dtype=object)
    if id_col:  # an id column may be there and empty (公共施設一覧's ID often is)
        given = points[id_col].fillna("").astype(str).str.strip().to_numpy()
        ids = np.where(given != "", given, ids)
    att = attach_points(net, xy, max_snap_m=math.inf)
    far = att.connector > max_snap_m
    if far.any():
        i = int(np.flatnonzero(far)[0])
        lon, lat = net.to_geographic.transform(*xy[i])
        raise OutsideNetworkError(
            f"candidate {names[i]!r} (id {ids[i]}) lies {att.connector[i]:.0f} m from the "
            "nearest walkable "
            f"street, outside the network (more than {max_snap_m:g} m; {int(far.sum())} of "
            f"{len(xy)} candidates): check lat/lon order and that the file belongs to this "
            "region", file=source or None, row=rows[i], column="lon/lat",
            value=(round(float(lon), 6), round(float(lat), 6)))
    return Candidates(ids.astype(object), names.astype(object), xy, att, source)


def read_candidates(net: WalkNetwork, path: str | Path, *,
                    max_snap_m: float = settings.max_snap_m) -> Candidates:
    """Candidates from a file: a 公共施設一覧 (名称, 緯度, 経度 …; CSV/Excel in UTF-8, UTF-8
    BOM or CP932), a bus-stop list (GTFS ``stops.txt``: stop_name, stop_lat, stop_lon; or
    any lon/lat table), a GTFS / GTFS-JP feed (zip or folder: its boarding stops, e.g. those
    of a cut route) or a vector point file (GeoJSON, GeoPackage …) with names."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".zip":  # a GTFS / GTFS-JP feed
        from geo_service.inputs.gtfs import read_bus_stops

        stops = read_bus_stops([path])
        return candidates_from_points(net, stops[["stop_id", "name", "geometry"]],
                                      source=f"{path} (stops.txt)", rows=[None] * len(stops),
                                      max_snap_m=max_snap_m)
    if path.suffix.lower() in TABLE_SUFFIXES:
        table = read_table(path)
        if len(table) == 0:
            raise SitingError(msg("no candidate sites: the file has no rows"), file=path)
        renames = {c: c.removeprefix("stop_") for c in table.columns
                   if c.lower() in ("stop_lat", "stop_lon")}
        points = points_from_table(table.rename(columns=renames), path)
        rows = [sheet_row(i) for i in range(len(points))]
    else:
        points = read_points(path)
        rows = list(range(1, len(points) + 1))
    return candidates_from_points(net, points, source=str(path), rows=rows,
                                  max_snap_m=max_snap_m)
