"""``region build --place … --stores osm`` offline: osmnx's real geocoding, Overpass queries
and graph building, answered by a loopback stand-in for Nominatim and Overpass
(tests/utils/osm_server.py) with recorded data — the raw Overpass answer of 門司港's
walking network in ../shared/data (2026-01-15) — and three hand-written shops (fictitious
names, a real Overpass answer's format). The place's "outline" the stand-in geocodes to is
the recorded answer's extent, not 門司区's real boundary. Skips without ../shared/data.
"""

from __future__ import annotations

import json

import numpy as np
import osmnx as ox
import pytest
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.engine.region import Region
from geo_service.jobs.pipeline import load_network
from tests.conftest import shared_file
from tests.utils.osm_server import OsmStandIn, serve

runner = CliRunner()
WALK = "osm-kitakyushu-mojiko/overpass_walk_mojiko.json"
#: hand-written shops (fictitious; ids outside OSM's range), as Overpass answers them
SHOPS = [(9_990_000_001, 33.9455, 130.9620, {"shop": "supermarket", "name": "テスト用スーパー"}),
         (9_990_000_002, 33.9420, 130.9600, {"shop": "convenience", "name": "テスト用コンビニ"}),
         (9_990_000_003, 33.9480, 130.9640, {"shop": "greengrocer", "name": "テスト用八百屋"})]


def _place(walk: dict) -> dict:
    """Nominatim's answer for the place: the recorded answer's extent as a rectangle."""
    nodes = [e for e in walk["elements"] if e["type"] == "node"]
    lats = [n["lat"] for n in nodes]
    lons = [n["lon"] for n in nodes]
    s, n, w, e = min(lats) - 1e-4, max(lats) + 1e-4, min(lons) - 1e-4, max(lons) + 1e-4
    return {"place_id": 1, "licence": "Data © OpenStreetMap contributors, ODbL 1.0",
            "osm_type": "relation", "osm_id": 1, "lat": str((s + n) / 2),
            "lon": str((w + e) / 2), "class": "boundary", "type": "administrative",
            "place_rank": 16, "importance": 0.5, "addresstype": "suburb", "name": "門司港",
            "display_name": "門司港（テスト：記録した Overpass 応答の範囲）",
            "boundingbox": [str(s), str(n), str(w), str(e)],
            "geojson": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n],
                                                            [w, s]]]}}


@pytest.fixture
def osm(monkeypatch, tmp_path):
    """The stand-in serving, osmnx pointed at it, and an empty download cache (so every
    answer comes from the server)."""
    path = shared_file(WALK)
    raw = path.read_bytes()
    walk = json.loads(raw)
    shops = {"version": 0.6, "generator": "Overpass API (test stand-in)",
             "osm3s": walk["osm3s"], "elements": [
                 {"type": "node", "id": i, "lat": lat, "lon": lon, "tags": tags}
                 for i, lat, lon, tags in SHOPS]}
    stand_in, server = serve(OsmStandIn(_place(walk), raw, shops))
    monkeypatch.setattr(ox.settings, "nominatim_url", stand_in.url + "/")
    monkeypatch.setattr(ox.settings, "overpass_url", stand_in.url + "/api")
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setenv("GEO_SERVICE_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached
    yield stand_in, path
    server.shutdown()


def test_place_and_osm_stores_build_a_region_through_osmnx(osm, tmp_path):
    stand_in, path = osm
    pop = tmp_path / "pop.csv"
    pop.write_text("point_id,lat,lon,pop_total,pop_65plus\np1,33.9440,130.9610,100,40\n"
                   "p2,33.9300,130.9550,50,30\n", encoding="utf-8-sig")
    out = tmp_path / "mojiko"
    result = runner.invoke(app, ["region", "build", str(out), "--name", "北九州市門司区",
                                 "--code", "40101", "--place", "門司港", "--stores", "osm",
                                 "--population", str(pop)])
    assert result.exit_code == 0, (result.output, result.exception,
                                   [(k, q[:80]) for k, q in stand_in.requests])
    kinds = [k for k, _ in stand_in.requests]
    assert kinds.count("nominatim") >= 1 and "unknown" not in kinds
    assert kinds.count("overpass walk") == 1 and kinds.count("overpass shops") == 1
    assert [q for k, q in stand_in.requests if k == "nominatim"][0] == "門司港"
    region = Region.load(out)
    # the same recorded streets as --network reads from the file: osmnx's own graph of
    # the answer has 1,459 nodes, the file reader's 1,458 (it builds the graph as osmnx
    # does, but not with osmnx's code); their street lengths agree
    from_file = load_network(path, None, dem=None, speed=region.net.walking_speed_mps)
    assert (region.net.n_nodes, from_file.n_nodes) == (1459, 1458)
    assert region.net.edge_length.sum() == pytest.approx(from_file.edge_length.sum(),
                                                           rel=1e-3)
    stores = region.resources["food_stores"]
    assert sorted(stores["name"]) == ["テスト用コンビニ", "テスト用スーパー", "テスト用八百屋"]
    assert sorted(stores["store_id"]) == [f"node/{i}" for i, *_ in SHOPS]
    roles = {s.role: s for s in region.sources}
    for role in ("道路網", "店舗"):
        assert roles[role].file == "OpenStreetMap（門司港）"
        assert roles[role].attribution == "© OpenStreetMap contributors"
        assert not roles[role].synthetic
    assert region.demand["pop_65plus"].sum() == pytest.approx(70)
    assert np.isfinite(region.net.node_xy).all()


def test_no_answer_is_one_clear_line(osm, tmp_path, monkeypatch):
    """Overpass not answering (the stand-in stopped): exit 2, the option named, nothing
    written."""
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")  # refused
    pop = tmp_path / "pop.csv"
    pop.write_text("point_id,lat,lon,pop_total,pop_65plus\np1,33.9440,130.9610,100,40\n",
                   encoding="utf-8-sig")
    result = runner.invoke(app, ["region", "build", str(tmp_path / "r"), "--name", "門司",
                                 "--code", "40101", "--place", "門司港",
                                 "--population", str(pop)])
    assert result.exit_code == 2
    assert "--place" in result.output and "門司港" in result.output
    assert not (tmp_path / "r").exists()
