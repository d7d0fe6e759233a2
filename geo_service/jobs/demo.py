"""A built-in, deterministic **synthetic** demo town: 架空の坂の町 (not a real place).

Real OSM data cannot ship with the project, so :func:`build_demo_inputs` generates a
plausible Japanese hillside town and writes it in the same formats users bring:

- ``network.graphml`` — osmnx GraphML with node elevations: a valley street grid (100 m
  blocks, slightly irregular) cut by a river with three bridges, winding contour lanes on
  a hillside rising ~115 m to the north joined by steep steps and paths, and a small
  hamlet whose only path is broken (its residents cannot reach any store);
- ``stores.csv`` — food stores of several categories (lon/lat, category in Japanese);
- ``gathering_places.csv`` — 通いの場 (salons, 体操, 認知症カフェ);
- ``population_mesh250.csv`` — ¼ 地域メッシュ (250 m) population table with real JIS mesh
  codes, 65+ shares from ~25 % in the valley to ~45 % on the hill;
- ``elementary_districts.geojson`` (A27 columns, three 小学校区) and
  ``junior_high_district.geojson`` (A32 columns, one 中学校区).

:func:`run_demo` then runs the ordinary pipeline on those files. Everything it produces
is labelled as synthetic.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo_service.inputs.layer_points import read_stores
from geo_service.inputs.mesh import mesh_codes_for
from geo_service.inputs.sources import synthetic
from geo_service.jobs.pipeline import (
    DifficultyResult,
    Stages,
    build_region,
    compute_difficulty,
    write_difficulty,
)
from geo_service.layers import FOOD_STORE_LAYER, load_resource_layer

DEMO_NAME = "架空の坂の町（合成デモ）"
#: what every map and page made from the demo says of its data
DEMO_ATTRIBUTION = "合成デモデータ（実在の町ではありません）"
SUBTITLE = "合成デモデータ（実在の町ではありません） / synthetic demo town — not real data"
CRS_METRIC = "EPSG:6670"  # JGD2011 plane rectangular zone II
ORIGIN_LONLAT = (130.78, 33.80)  # south-west corner of the town
SEED = 2026


def elevation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ground height (m) of the demo town: flat valley, hillside rising to the north."""
    hill = np.clip((y - 500.0) / 1300.0, 0, None)
    return 4.0 + 0.002 * x + 115.0 * hill ** 1.5


class _Builder:
    """Accumulates nodes and edges of the synthetic network (metric coordinates)."""

    def __init__(self) -> None:
        self.xy: list[tuple[float, float]] = []
        self.index: dict[tuple[int, int], int] = {}
        self.edges: list[tuple[int, int, list[tuple[float, float]], str]] = []

    def node(self, x: float, y: float) -> int:
        key = (round(x), round(y))
        if key not in self.index:
            self.index[key] = len(self.xy)
            self.xy.append((x, y))
        return self.index[key]

    def way(self, coords: list[tuple[float, float]], highway: str) -> None:
        """Add a way; its first and last vertices become nodes."""
        u, v = self.node(*coords[0]), self.node(*coords[-1])
        self.edges.append((u, v, coords, highway))


def _demo_network(rng: np.random.Generator) -> _Builder:
    b = _Builder()
    xs = np.arange(0, 2401, 100.0)
    ys = np.arange(0, 801, 100.0)
    jitter = {(i, j): rng.normal(0, 6, 2) for i in range(len(xs)) for j in range(len(ys))}

    def p(i: int, j: int) -> tuple[float, float]:
        return (xs[i] + jitter[i, j][0], ys[j] + jitter[i, j][1])

    bridges = {3, 13, 21}  # the river at y = 450 is crossed only here
    for j in range(len(ys)):
        for i in range(len(xs) - 1):
            b.way([p(i, j), p(i + 1, j)], "tertiary" if j == 2 else "residential")
    for i in range(len(xs)):
        for j in range(len(ys) - 1):
            if ys[j] < 450 < ys[j + 1] and i not in bridges:
                continue
            b.way([p(i, j), p(i, j + 1)], "residential")
    # Winding lanes along the contours of the hillside.
    lane_ys = [950.0, 1150.0, 1350.0, 1550.0, 1750.0]
    lane_x = np.arange(0, 2401, 150.0)
    lane_pts = {}
    for k, ly in enumerate(lane_ys):
        wiggle = 35 * np.sin(lane_x / 260.0 + k)
        lane_pts[k] = [(float(x), float(ly + w)) for x, w in zip(lane_x, wiggle, strict=True)]
        for a, c in zip(lane_pts[k][:-1], lane_pts[k][1:], strict=True):
            mid = ((a[0] + c[0]) / 2, (a[1] + c[1]) / 2 + rng.normal(0, 10))
            b.way([a, mid, c], "residential")
    # Slope roads from the grid to the first lane, and steps/paths between lanes.
    for i in (1, 5, 9, 14, 19, 23):
        top = lane_pts[0][int(round(xs[i] / 150.0))]
        bottom = p(i, len(ys) - 1)
        bend = ((bottom[0] + top[0]) / 2 + 40, (bottom[1] + top[1]) / 2)
        b.way([bottom, bend, top], "residential")
    for k in range(len(lane_ys) - 1):
        for col in rng.choice(np.arange(1, len(lane_x) - 1), size=5, replace=False):
            lower, upper = lane_pts[k][col], lane_pts[k + 1][col]
            b.way([lower, upper], "steps" if k % 2 else "path")
    # A hamlet beyond the hilltop whose only path is broken (an island in the network).
    hx, hy = 2150.0, 1980.0
    hamlet = [(hx, hy), (hx + 120, hy + 10), (hx + 220, hy - 20), (hx + 120, hy + 110)]
    for start, end in ((0, 1), (1, 2), (1, 3)):
        b.way([hamlet[start], hamlet[end]], "track")
    return b


def _to_lonlat() -> Transformer:
    return Transformer.from_crs(CRS_METRIC, "EPSG:4326", always_xy=True)


def _origin_xy() -> tuple[float, float]:
    t = Transformer.from_crs("EPSG:4326", CRS_METRIC, always_xy=True)
    return t.transform(*ORIGIN_LONLAT)


def _write_graphml(b: _Builder, path: Path) -> None:
    import osmnx as ox

    ox0, oy0 = _origin_xy()
    to_ll = _to_lonlat()
    xy = np.array(b.xy) + [ox0, oy0]
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    z = elevation(np.array(b.xy)[:, 0], np.array(b.xy)[:, 1])
    g = nx.MultiDiGraph(crs="EPSG:4326", name=DEMO_NAME)
    for n in range(len(xy)):
        g.add_node(n, x=float(lon[n]), y=float(lat[n]), elevation=round(float(z[n]), 2))
    for k, (u, v, coords, highway) in enumerate(b.edges):
        c = np.array(coords) + [ox0, oy0]
        glon, glat = to_ll.transform(c[:, 0], c[:, 1])
        line = shapely.LineString(np.column_stack([glon, glat]))
        length = float(shapely.LineString(c).length)
        for a, d, geom, rev in ((u, v, line, False), (v, u, shapely.reverse(line), True)):
            g.add_edge(a, d, osmid=k, highway=highway, oneway=False, reversed=rev,
                       length=length, geometry=geom)
    ox.save_graphml(g, path)


# (id, name, category as a coordinator would write it, x, y in metres from the SW corner)
_STORES = (
    ("S01", "坂の町ストア 駅前店", "スーパー", 1210, 90),
    ("S02", "マルシェ川南", "スーパー", 420, 160),
    ("S03", "ミニマート本町", "コンビニ", 820, 310),
    ("S04", "ミニマート東口", "コンビニ", 1960, 190),
    ("S05", "ミニマート山手", "コンビニ", 1520, 1140),
    ("S06", "八百屋さかもと", "青果店", 1010, 220),
    ("S07", "精肉のたなか", "精肉店", 1330, 210),
    ("S08", "くすりのみどり", "ドラッグストア", 620, 690),
    ("S09", "鮮魚 うみかぜ", "鮮魚店", 2230, 40),
    ("S10", "移動販売 山手停留所", "移動販売", 700, 1560),
)
_GATHERING_PLACES = (
    ("G1", "ふれあいサロン川べり", "サロン", 300, 380),
    ("G2", "いきいき百歳体操 本町公民館", "体操", 900, 500),
    ("G3", "オレンジカフェ さかみち", "認知症カフェ", 1650, 260),
    ("G4", "山手ふれあいサロン", "サロン", 1200, 1360),
    ("G5", "高台いきいき体操", "体操", 450, 1740),
)


def _places(rows: tuple, id_column: str, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A table of demo places; ``rng`` jitters positions by a few metres."""
    df = pd.DataFrame(list(rows), columns=[id_column, "name", "category", "x", "y"])
    df[["x", "y"]] = df[["x", "y"]].astype(float)
    if rng is not None:
        df[["x", "y"]] += rng.normal(0, 4, (len(df), 2))
    return df


def _with_lonlat(df: pd.DataFrame) -> pd.DataFrame:
    ox0, oy0 = _origin_xy()
    lon, lat = _to_lonlat().transform(df["x"].to_numpy() + ox0, df["y"].to_numpy() + oy0)
    return df.drop(columns=["x", "y"]).assign(lon=np.round(lon, 7), lat=np.round(lat, 7))


def _districts() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    ox0, oy0 = _origin_xy()
    west = shapely.Polygon([(-150, -150), (1000, -150), (1000, 450), (700, 850), (-150, 850)])
    east = shapely.Polygon([(1000, -150), (2550, -150), (2550, 850), (700, 850), (1000, 450)])
    hill = shapely.Polygon([(-150, 850), (2550, 850), (2550, 2150), (-150, 2150)])
    polys = [shapely.affinity.translate(g, ox0, oy0) for g in (west, east, hill)]
    a27 = gpd.GeoDataFrame({
        "A27_001": ["99999"] * 3, "A27_002": ["坂の町立"] * 3,
        "A27_003": ["B199999000011", "B199999000029", "B199999000037"],
        "A27_004": ["川西小学校", "川東小学校", "山手小学校"],
        "A27_005": ["坂の町本町1", "坂の町東町2", "坂の町山手3"],
    }, geometry=polys, crs=CRS_METRIC).to_crs("EPSG:6668")
    a32 = gpd.GeoDataFrame({
        "A32_001": ["99999"], "A32_002": ["坂の町立"], "A32_003": ["C199999000010"],
        "A32_004": ["坂の町中学校"], "A32_005": ["坂の町本町5"],
    }, geometry=[shapely.union_all(polys)], crs=CRS_METRIC).to_crs("EPSG:6668")
    return a27, a32


def _population(b: _Builder, rng: np.random.Generator) -> pd.DataFrame:
    """A ¼-mesh table: people where streets are, older on the hill."""
    ox0, oy0 = _origin_xy()
    edges = gpd.GeoSeries([shapely.LineString(np.array(c) + [ox0, oy0])
                           for _, _, c, hw in b.edges if hw != "track"], crs=CRS_METRIC)
    samples = edges.interpolate(0.5, normalized=True)
    codes = mesh_codes_for(samples, 5)
    length = pd.Series(edges.length.to_numpy()).groupby(codes.to_numpy()).sum()
    height = (pd.Series(samples.y.to_numpy() - oy0).groupby(codes.to_numpy()).mean()
              .reindex(length.index).to_numpy())
    cells = length
    density = rng.uniform(0.55, 0.85, len(cells))  # people per metre of street
    total = np.round(length.to_numpy() * density)
    share65 = np.clip(0.25 + 0.20 * np.clip((height - 400) / 1300, 0, 1)
                      + rng.normal(0, 0.03, len(cells)), 0.15, 0.6)
    p65 = np.round(total * share65)
    p75 = np.round(p65 * rng.uniform(0.45, 0.6, len(cells)))
    rows = pd.DataFrame({"mesh_code": length.index, "pop_total": total.astype(int),
                         "pop_65plus": p65.astype(int), "pop_75plus": p75.astype(int)})
    # The hamlet: a few older residents with no usable path.
    hamlet = gpd.GeoSeries([shapely.Point(ox0 + 2250, oy0 + 2000)], crs=CRS_METRIC)
    code = mesh_codes_for(hamlet, 5).iloc[0]
    if code not in set(rows["mesh_code"]):
        rows.loc[len(rows)] = [code, 12, 9, 6]
    return rows


def build_demo_inputs(folder: str | Path) -> dict[str, Path]:
    """Write the synthetic demo town's input files into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    b = _demo_network(rng)
    paths = {
        "network": folder / "network.graphml",
        "stores": folder / "stores.csv",
        "gathering_places": folder / "gathering_places.csv",
        "population": folder / "population_mesh250.csv",
        "elementary": folder / "elementary_districts.geojson",
        "junior_high": folder / "junior_high_district.geojson",
    }
    _write_graphml(b, paths["network"])
    _with_lonlat(_places(_STORES, "store_id", rng)).to_csv(paths["stores"], index=False,
                                                         encoding="utf-8-sig")
    _with_lonlat(_places(_GATHERING_PLACES, "place_id")).to_csv(
        paths["gathering_places"], index=False, encoding="utf-8-sig")
    _population(b, rng).to_csv(paths["population"], index=False, encoding="utf-8-sig")
    a27, a32 = _districts()
    a27.to_file(paths["elementary"], driver="GeoJSON")
    a32.to_file(paths["junior_high"], driver="GeoJSON")
    (folder / "README.txt").write_text(
        f"{DEMO_NAME}\n{SUBTITLE}\n\nThese files were generated by geo_service.jobs.demo. "
        "Re-run the analysis on them with:\n\n"
        f"geo-service difficulty --network {paths['network'].name} --stores stores.csv "
        "--population population_mesh250.csv --areas elementary_districts.geojson "
        "--areas junior_high_district.geojson --out result\n", encoding="utf-8")
    return paths


def run_demo(out: str | Path, *, threshold_m: float = 500.0,
             stages: Stages | None = None) -> DifficultyResult:
    """Generate the demo town into ``out/inputs`` and run the pipeline into ``out``.

    The region is also saved to ``out/region`` so the API can start from it.
    """
    out = Path(out)
    stages = stages or Stages()
    with stages("demo"):
        paths = build_demo_inputs(out / "inputs")
    layer = load_resource_layer(FOOD_STORE_LAYER)
    region = build_region(network=paths["network"], stores=paths["stores"],
                          population=[paths["population"]],
                          areas=[str(paths["elementary"]), str(paths["junior_high"]),
                                 "mesh250"],
                          layer=layer, stages=stages)
    region.name, region.synthetic, region.threshold_m = DEMO_NAME, True, threshold_m
    region.sources = [synthetic(s.role, s.file, DEMO_ATTRIBUTION) for s in region.sources]
    places_layer = load_resource_layer("gathering_places")
    places = read_stores(paths["gathering_places"], places_layer)
    region.resources[places_layer.id] = places
    result = compute_difficulty(region, layer=layer, threshold_m=threshold_m, stages=stages)
    write_difficulty(result, out, extra_resources=[(places_layer, places)], subtitle=SUBTITLE,
                     tiles=False, stages=stages)
    region.save(out / "region")
    return result
