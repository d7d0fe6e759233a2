"""A hand-made region whose walking answers are known by hand.

An 11 × 11 street grid, 100 m spacing (1 km × 1 km), in JGD2011 zone II (EPSG:6670) near
130.80 E, 33.80 N. Walking on a full grid is Manhattan distance, so every network distance
between nodes is ``100 × (|Δi| + |Δj|)`` metres; at 1 m/s on flat ground that many seconds.

- demand: one point on every node, 1 person 65+ (2 in total) each;
- 小学校区: three vertical strips W (columns 0–2), M (3–7), E (8–10), named 西/中/東小学校;
- food_stores: one store on the north-east corner node (10, 10).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo_service.engine.network import WalkNetwork
from geo_service.engine.region import Region
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import ResourceFields, ServiceArea

CRS = "EPSG:6670"
N = 11
SPACING = 100.0
_fwd = Transformer.from_crs(4326, CRS, always_xy=True)
_back = Transformer.from_crs(CRS, 4326, always_xy=True)
X0, Y0 = _fwd.transform(130.80, 33.80)


def lonlat(x: float, y: float) -> tuple[float, float]:
    """lon/lat of grid-local metres (x east, y north of the south-west node)."""
    lon, lat = _back.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def grid_region(*, slope: float = 0.0) -> Region:
    """The grid region; ``slope`` (rise per metre northwards) makes walking uphill slower."""
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="xy")
    ii, jj = ii.ravel(), jj.ravel()
    xy = np.column_stack([X0 + ii * SPACING, Y0 + jj * SPACING])
    idx = np.arange(N * N).reshape(N, N)  # idx[j, i]
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    z = slope * jj * SPACING if slope else None
    net = WalkNetwork.from_edges(np.arange(N * N), xy, u, v, None, crs=CRS, node_z=z,
                                 source="grid")
    demand = gpd.GeoDataFrame(
        {"point_id": [f"p{k}" for k in range(N * N)], "pop_total": 2.0, "pop_65plus": 1.0,
         "pop_75plus": 0.5}, geometry=shapely.points(xy), crs=CRS)
    strips = [(-50, 250), (250, 750), (750, 1050)]
    areas = gpd.GeoDataFrame(
        {"area_id": ["W", "M", "E"], "name": ["西小学校", "中小学校", "東小学校"]},
        geometry=[shapely.box(X0 + a, Y0 - 50, X0 + b, Y0 + 1050) for a, b in strips],
        crs=CRS)
    stores = gpd.GeoDataFrame(
        pd.DataFrame({"store_id": ["F1"], "name": ["角の店"], "category": ["supermarket"]}),
        geometry=[shapely.Point(X0 + 1000, Y0 + 1000)], crs=CRS)
    return Region(net, demand, [AreaLayer("小学校区", areas)], {"food_stores": stores},
                  name="grid")


def west_meal_delivery() -> ResourceFields:
    """配食 whose polygon covers the grid's columns 0–4 (55 people: 西 33, 中 22)."""
    x0, y0 = lonlat(-50, -50)
    x1, y1 = lonlat(450, 1050)
    return ResourceFields(name="西の配食", category="配食", service_area=ServiceArea(
        kind="polygon", geometry=shapely.geometry.mapping(shapely.box(x0, y0, x1, y1))))
