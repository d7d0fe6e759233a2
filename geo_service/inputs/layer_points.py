"""Points of a resource layer (food stores, 通いの場 …) from users' files or from OSM.

A store table has an id (``store_id``/``id``, kept as given), a ``category`` (id,
Japanese label or alias from the layer definition; unknown values are an error), an
optional ``name``, and a location (point geometry, or lon/lat columns in a table).
From OSM, categories come from the layer's ``osm`` tag definitions.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.inputs.osm_files import osm_file_kind
from geo_service.inputs.readers import check_unique, find_column, read_points
from geo_service.layers import ResourceLayer


def read_stores(path: str | Path, layer: ResourceLayer) -> gpd.GeoDataFrame:
    """Read a store file (GeoJSON, GPKG, CSV with lon/lat) and check its categories.

    Returns ``store_id``, ``name``, ``category`` (category ids) and point geometry in the
    file's CRS. Rows of every known category are returned; :func:`counted` keeps those
    the layer includes.
    """
    gdf = read_points(path)
    if gdf.empty:
        raise InputError(msg("the store file holds no rows"), file=path)
    cat_col = find_column(gdf.columns, ("category", "カテゴリ", "種別", "業態", "分類", "type"))
    if cat_col is None:
        raise InputError(msg("no category column; columns are {columns}",
                             columns=list(gdf.columns)), file=path)
    categories = layer.normalise_categories(gdf[cat_col].reset_index(drop=True), source=str(path),
                                            column=cat_col)
    id_col = find_column(gdf.columns, ("store_id", "place_id", "resource_id", "id", "ID",
                                       "店舗ID", "番号"))
    ids = (gdf[id_col].astype(str).reset_index(drop=True) if id_col
           else pd.Series([f"S{i + 1}" for i in range(len(gdf))]))
    if id_col:
        check_unique(ids, source=path, column=id_col)
    name_col = find_column(gdf.columns, ("name", "名称", "店舗名", "事業者名"))
    names = gdf[name_col].fillna("").astype(str).to_numpy() if name_col else np.full(len(gdf), "")
    return gpd.GeoDataFrame({"store_id": ids.to_numpy(), "name": names,
                             "category": categories.to_numpy()},
                            geometry=gdf.geometry.to_numpy(), crs=gdf.crs)


def counted(stores: gpd.GeoDataFrame, layer: ResourceLayer) -> gpd.GeoDataFrame:
    """The stores whose category the layer includes."""
    return stores[stores["category"].isin(layer.included_ids)].reset_index(drop=True)


def stores_from_osm(path: str | Path, layer: ResourceLayer) -> gpd.GeoDataFrame:
    """Stores of the layer's OSM tags from an OSM file (PBF, XML or Overpass JSON).

    Shops mapped as building outlines are represented by a point inside them; ids are
    ``node/123`` or ``way/456``.
    """
    path = Path(path)
    tags = layer.osm_filter()
    if not tags:
        raise InputError(f"layer {layer.id!r} defines no OSM tags", file=path)
    kind = osm_file_kind(path)
    if kind == "pbf":
        features = _features_from_pbf(path, tags)
    elif kind == "overpass_json":
        features = _features_from_overpass_json(path, tags)
    elif kind == "xml":
        import osmnx as ox

        osm_tags: dict[str, bool | str | list[str]] = dict(tags)
        features = ox.features_from_xml(path, tags=osm_tags).reset_index()
        features["osm_type"] = features["element"]
    else:
        raise InputError(msg("stores can be taken from .osm.pbf, .osm or Overpass .json files"),
                         file=path)
    if features is None or features.empty:
        raise InputError(f"no stores with tags {tags} in the OSM file", file=path)
    return stores_from_features(features, layer)


def stores_from_features(features: gpd.GeoDataFrame, layer: ResourceLayer) -> gpd.GeoDataFrame:
    """Stores of the layer from OSM features (``osm_type``, ``id``, tag columns), e.g. as
    osmnx downloads them: categories from the layer's tags, a point per feature."""
    tags = layer.osm_filter()
    features = features.to_crs("EPSG:4326")
    keys = [k for k in tags if k in features.columns]
    cat = layer.category_from_osm(features[keys])
    features = features[cat.notna()].reset_index(drop=True)
    cat = cat.dropna().reset_index(drop=True)
    ids = features["osm_type"].astype(str) + "/" + features["id"].astype(str)
    names = (features["name"].fillna("").astype(str) if "name" in features.columns
             else pd.Series("", index=features.index))
    return gpd.GeoDataFrame({"store_id": ids.to_numpy(), "name": names.to_numpy(),
                             "category": cat.to_numpy()},
                            geometry=features.geometry.representative_point().to_numpy(),
                            crs="EPSG:4326").drop_duplicates("store_id").reset_index(drop=True)


def _features_from_pbf(path: Path, tags: dict[str, list[str]]) -> gpd.GeoDataFrame | None:
    import pyrosm

    pois = pyrosm.OSM(str(path)).get_pois(custom_filter=tags)
    return pois


def _features_from_overpass_json(path: Path, tags: dict[str, list[str]]) -> gpd.GeoDataFrame:
    """Tagged nodes (and ways, at the mean of their nodes) of an Overpass response."""
    data = json.loads(path.read_text(encoding="utf-8"))
    elements = data.get("elements", [])
    coords = {e["id"]: (e["lon"], e["lat"]) for e in elements if e.get("type") == "node"
              and "lon" in e}
    rows = []
    for e in elements:
        etags = e.get("tags", {})
        if not any(etags.get(k) in v for k, v in tags.items()):
            continue
        if e["type"] == "node":
            lon, lat = e["lon"], e["lat"]
        elif e["type"] == "way" and e.get("nodes"):
            pts = np.array([coords[n] for n in e["nodes"] if n in coords])
            if not len(pts):
                continue
            lon, lat = pts.mean(axis=0)
        else:
            continue
        rows.append({"id": e["id"], "osm_type": e["type"], "lon": lon, "lat": lat, **etags})
    if not rows:
        return gpd.GeoDataFrame()
    df = pd.DataFrame(rows)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                            crs="EPSG:4326")
