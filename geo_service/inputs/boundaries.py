"""Area layers: the boundaries indicators are aggregated to.

:func:`read_area_layer` understands

- 国土数値情報 **A27 小学校区** / **A32 中学校区** (``A27_003`` 学校コード → ``area_id``,
  ``A27_004`` 名称 → ``name``), layer named 小学校区 / 中学校区;
- e-Stat 小地域 boundaries (``KEY_CODE``, ``S_NAME``), layer 小地域;
- any polygon file with an id column (``area_id``, ``id``, ``code`` …) and a name column
  (``name``, ``名称``, ``地区名`` …), layer named after the file.

Rows sharing an id and a name (enclaves, 飛び地) are dissolved into one area; an id with
two different names is a :class:`~geo_service._errors.DuplicateIdError`. Invalid polygons
are repaired with ``make_valid`` and the repair reported in ``AreaLayer.notes``.

:func:`area_layer_from_mapping` builds e.g. 日常生活圏域 as unions of small areas listed in a
mapping table; :func:`mesh_layer` gives JIS mesh cells.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service._errors import DuplicateIdError, InputError, ServiceAreaError, sheet_rows
from geo_service.i18n import msg
from geo_service.inputs.mesh import MESH_KEYWORDS, mesh_polygons
from geo_service.inputs.readers import find_column, read_table, read_vector, repair_polygons

ID_ALIASES = ("area_id", "id", "code", "コード", "学校コード", "地区コード", "KEY_CODE", "fid")
NAME_ALIASES = ("name", "名称", "名前", "area_name", "地区名", "校区名", "圏域名", "S_NAME")
_KSJ = {"A27": "小学校区", "A32": "中学校区"}
#: ASCII ids of the usual layer names (the API and the CLI accept either); a layer with
#: another name (``--areas LABEL=FILE``) has its name as its id
LAYER_IDS = {"小学校区": "elementary", "中学校区": "junior_high", "日常生活圏域": "daily_life_area",
             "小地域": "small_area", **{name: key for key, (_, name) in MESH_KEYWORDS.items()}}


def layer_id(name: str) -> str:
    """The ASCII id of a layer called ``name`` (``250mメッシュ`` → ``mesh250``)."""
    return LAYER_IDS.get(name, name)


@dataclass(frozen=True)
class AreaLayer:
    """A named set of areas: a GeoDataFrame with ``area_id``, ``name``, ``geometry``.

    The one area layer of the package: the indicators aggregate to it, the registry draws
    ``areas`` service areas from it (:meth:`union`, in lon/lat) and resolves area names
    written by coordinators (:meth:`resolve_name`).
    """

    name: str
    areas: gpd.GeoDataFrame
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = self.areas["name"].astype(str)
        if names.duplicated().any():  # areas people must tell apart (see distinct_names)
            object.__setattr__(self, "areas", self.areas.assign(
                name=distinct_names(names.tolist(), self.areas["area_id"].astype(str).tolist())))

    @classmethod
    def from_geodataframe(cls, gdf: gpd.GeoDataFrame, name: str, *,
                          id_column: str = "area_id", name_column: str = "name",
                          source: str = "") -> AreaLayer:
        """A layer from any polygon GeoDataFrame with a CRS, an id and a name column."""
        for col in (id_column, name_column):
            if col not in gdf.columns:
                raise InputError(msg("column not found in the boundary layer"), file=name,
                                 column=col)
        if gdf.crs is None:
            raise InputError(msg("boundary layer has no CRS"), file=name)
        areas = gpd.GeoDataFrame({"area_id": gdf[id_column].astype(str).to_numpy(),
                                  "name": gdf[name_column].astype(str).to_numpy()},
                                 geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
        return cls(name, areas, source)

    def to_crs(self, crs: object) -> AreaLayer:
        """The same layer in another CRS."""
        return AreaLayer(self.name, self.areas.to_crs(crs), self.source, self.notes)

    @cached_property
    def ids(self) -> list[str]:
        """The area ids, in layer order."""
        return [str(v) for v in self.areas["area_id"]]

    @cached_property
    def names(self) -> list[str]:
        """The area names, in layer order."""
        return [str(v) for v in self.areas["name"]]

    @cached_property
    def lonlat(self) -> np.ndarray:
        """The area polygons in EPSG:4326 (shapely geometries, layer order)."""
        return np.asarray(self.areas.to_crs(4326).geometry.values, dtype=object)

    @cached_property
    def _lonlat_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.lonlat)

    def area_at(self, lon: float, lat: float) -> str | None:
        """The id of the area holding (lon, lat), the first on a shared border; None
        outside every area."""
        hits = self._lonlat_tree.query(shapely.Point(lon, lat), predicate="covered_by")
        return self.ids[int(hits.min())] if len(hits) else None

    def assign(self, points: gpd.GeoSeries) -> np.ndarray:
        """Index (into ``areas``) of the area holding each point, −1 for none.

        Points on a shared border go to the first area, so no one is counted twice.
        """
        which, area = self.areas.sindex.query(points.to_numpy(), predicate="intersects")
        out = np.full(len(points), -1, dtype=np.int64)
        order = np.lexsort((area, which))
        which, area = which[order], area[order]
        first = np.unique(which, return_index=True)[1]
        out[which[first]] = area[first]
        return out

    def union(self, area_ids: Iterable[str]) -> shapely.Geometry:
        """The union of the named areas' polygons (lon/lat); raise for an unknown id."""
        index = {a: i for i, a in enumerate(self.ids)}
        picked = []
        for a in area_ids:
            if a not in index:
                raise ServiceAreaError(f"no such area in layer {self.name!r}",
                                       column="service_area.area_ids", value=a)
            picked.append(self.lonlat[index[a]])
        return shapely.union_all(picked)

    def resolve_name(self, text: str) -> str | None:
        """The id of the area called ``text`` (with or without 校区/学区/地区), else None."""
        wanted = _area_key(text)
        for area_id, area_name in zip(self.ids, self.names, strict=True):
            if wanted in (_area_key(area_name), _norm(area_id)):
                return area_id
        return None

    def area_id(self, text: str, *, column: str = "area") -> str:
        """The id of the area ``text`` names — its id or its name as people write it
        (山手, 山手小学校, 山手小学校区) — else an :class:`InputError` listing the layer's
        areas."""
        found = self.resolve_name(text)
        if found is None:
            pairs = sorted(zip(self.ids, self.names, strict=True),  # 鹿毛馬（001）… first
                           key=lambda p: not _norm(p[1]).startswith(_area_key(text)))
            listed = "、".join(f"{n} ({i})" for i, n in pairs)
            raise InputError(msg("no area {text!r} in {layer}; its areas: {listed}",
                                 text=text, layer=self.name, listed=listed),
                             column=column, value=text)
        return found


def distinct_names(names: list[str], ids: list[str]) -> list[str]:
    """``names`` made distinct where several areas share one: each gets the end of its id
    that tells it from the others (what follows their ids' common beginning, at least
    three characters) — e-Stat's ten small areas 鹿毛馬 become 鹿毛馬（001）…鹿毛馬（010）,
    by their KEY_CODE 40205088001…40205088010. Unique names are kept as they are."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    out = list(names)
    for name, rows in groups.items():
        if len(rows) > 1:
            common = len(os.path.commonprefix([ids[i] for i in rows]))
            width = max(3, max(len(ids[i]) for i in rows) - common)
            for i in rows:
                out[i] = f"{name}（{ids[i][-width:]}）"
    return out


_AREA_SUFFIXES = (
    "小学校区", "中学校区", "校区", "学区", "地区", "小学校", "中学校", "地域", "圏域",
)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower()


def _area_key(text: str) -> str:
    t = _norm(text)
    for suffix in _AREA_SUFFIXES:
        if t.endswith(suffix) and len(t) > len(suffix):
            return t[: -len(suffix)]
    return t


def read_area_layer(path: str | Path, *, name: str | None = None) -> AreaLayer:
    """Read an area layer from a vector file (A27/A32, e-Stat, or generic)."""
    path = Path(path)
    gdf = read_vector(path)
    if gdf.empty:
        raise InputError(msg("the area file holds no polygons"), file=path)
    gdf, notes = repair_polygons(gdf, path)
    prefix = next((p for p in _KSJ if f"{p}_003" in gdf.columns), None)
    id_col: str | None
    name_col: str | None
    if prefix:
        id_col, name_col, default_name = f"{prefix}_003", f"{prefix}_004", _KSJ[prefix]
    elif "N03_007" in gdf.columns:  # 国土数値情報 N03 行政区域: one row per island
        gdf, id_col, name_col, default_name = _n03_municipalities(gdf, path, notes), \
            "N03_007", "N03_name", "市区町村"
    elif "KEY_CODE" in gdf.columns:
        id_col = "KEY_CODE"
        name_col = "S_NAME" if "S_NAME" in gdf.columns else "KEY_CODE"
        default_name = "小地域"
    else:
        id_col = find_column(gdf.columns, ID_ALIASES)
        name_col = find_column(gdf.columns, NAME_ALIASES)
        default_name = path.name.split(".")[0]
    ids = (gdf[id_col].astype(str) if id_col else pd.Series(np.arange(1, len(gdf) + 1),
                                                            index=gdf.index).astype(str))
    names = gdf[name_col].astype(str) if name_col else ids
    areas = gpd.GeoDataFrame({"area_id": ids.to_numpy(), "name": names.fillna("").to_numpy()},
                             geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    areas = _dissolve_enclaves(areas, source=path, column=id_col or "row", notes=notes)
    return AreaLayer(name or default_name, areas, str(path), notes)


def _n03_municipalities(gdf: gpd.GeoDataFrame, path: Path,
                       notes: list[str]) -> gpd.GeoDataFrame:
    """N03 rows with a 行政区域コード and their full name (郡・政令市 + 市区町村 + 区);
    rows without a code (所属未定地) are left out with a note."""
    coded = gdf["N03_007"].notna() & (gdf["N03_007"].astype(str).str.strip() != "")
    if not coded.all():
        notes.append(f"{path}: left out {int((~coded).sum())} polygons without a 行政区域コード "
                     "(N03_007; 所属未定地)")
    gdf = gdf[coded].copy()
    gdf["N03_007"] = gdf["N03_007"].astype(str).str.strip().str.zfill(5)
    parts = [gdf[c].fillna("").astype(str) for c in ("N03_003", "N03_004", "N03_005")
             if c in gdf.columns]
    gdf["N03_name"] = [("".join(dict.fromkeys(p for p in row if p)))
                       for row in zip(*parts, strict=True)] if parts else gdf["N03_007"]
    return gdf


def _dissolve_enclaves(areas: gpd.GeoDataFrame, *, source: Path, column: str,
                       notes: list[str]) -> gpd.GeoDataFrame:
    """Merge rows with the same id and name; refuse an id used for different names."""
    names_per_id = areas.groupby("area_id")["name"].nunique()
    clash = names_per_id[names_per_id > 1]
    if len(clash):
        area_id = clash.index[0]
        rows = sheet_rows(np.flatnonzero((areas["area_id"] == area_id).to_numpy()))
        raise DuplicateIdError(
            f"one id is used for different areas (rows {rows[:3]}, names "
            f"{sorted(areas.loc[areas['area_id'] == area_id, 'name'].unique())[:3]})",
            file=source, row=rows[1], column=column, value=area_id)
    if areas["area_id"].duplicated().any():
        n = int(areas["area_id"].duplicated().sum())
        notes.append(f"{source}: merged {n} extra polygons of areas with the same id and name "
                     "(飛び地) into their areas")
        areas = areas.dissolve(by="area_id", aggfunc={"name": "first"}, sort=False).reset_index()
    return areas[["area_id", "name", "geometry"]]


def area_layer_from_mapping(base: AreaLayer, mapping: str | Path, *, name: str) -> AreaLayer:
    """Union areas of ``base`` into larger areas named by a mapping table.

    The table has the base layer's area id (``area_id``, ``KEY_CODE`` …) and the target
    area's name or id (``group``, ``圏域``, ``日常生活圏域``, ``name`` …). Every base area
    that the table names must exist; base areas the table omits are left out and listed
    in the layer's notes.
    """
    table = read_table(mapping)
    key = find_column(table.columns, ID_ALIASES)
    group = find_column(table.columns, ("group", "圏域", "日常生活圏域", "圏域名", "name", "名称",
                                        "中学校区", "小学校区"))
    if key is None or group is None:
        raise InputError(msg("a mapping table needs a base-area id column (area_id, KEY_CODE …) "
                             "and a group column (group, 圏域 …)"), file=mapping)
    keys = table[key].astype(str).str.strip()
    known = set(base.areas["area_id"])
    unknown = ~keys.isin(known)
    if unknown.any():
        rows = np.flatnonzero(unknown.to_numpy())
        raise InputError(f"no area with this id in layer {base.name!r}", file=mapping,
                         row=sheet_rows(rows), column=key, value=keys.iloc[rows[0]])
    lookup = pd.Series(table[group].astype(str).str.strip().to_numpy(), index=keys.to_numpy())
    if lookup.index.duplicated().any():
        dup = lookup.index[lookup.index.duplicated()][0]
        raise DuplicateIdError(msg("base area listed twice"), file=mapping, column=key, value=dup)
    parts = base.areas.assign(group=base.areas["area_id"].map(lookup))
    notes = list(base.notes)
    left_out = parts["group"].isna()
    if left_out.any():
        notes.append(f"{mapping}: {int(left_out.sum())} areas of {base.name} are not in the "
                     f"mapping (e.g. {parts.loc[left_out, 'area_id'].iloc[0]})")
    merged = parts[~left_out].dissolve(by="group", sort=False).reset_index()
    areas = gpd.GeoDataFrame({"area_id": merged["group"], "name": merged["group"]},
                             geometry=merged.geometry, crs=base.areas.crs)
    return AreaLayer(name, areas, str(mapping), notes)


def mesh_layer(codes: pd.Series, *, name: str = "メッシュ") -> AreaLayer:
    """JIS X 0410 mesh cells as an area layer (EPSG:4326)."""
    codes = pd.Series(pd.unique(codes.astype(str)))
    cells = mesh_polygons(codes, source=name)
    areas = gpd.GeoDataFrame({"area_id": codes, "name": codes}, geometry=cells.to_numpy(),
                             crs="EPSG:4326")
    return AreaLayer(name, areas, "jismesh")


def parse_area_spec(spec: str) -> tuple[str | None, Path, Path | None]:
    """Split a CLI area spec ``[LABEL=]FILE[+MAPPING.csv]`` into its parts."""
    label, _, rest = spec.rpartition("=") if "=" in spec else (None, "", spec)
    file, _, mapping = rest.partition("+")
    return (label or None), Path(file), (Path(mapping) if mapping else None)
