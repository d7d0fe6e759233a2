"""``geo-service site`` on a saved grid region (tests/utils/grid.py): the table, the files
(written atomically) and the errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from geo_service.cli.main import app
from tests.utils.grid import grid_region, lonlat


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The grid region saved (its food store F1 on the north-east corner) and a 公共施設一覧
    of three candidates: the south-west corner, the centre, beside the store."""
    from geo_service.config import ServiceSettings
    from geo_service.registry.resources import ResourceFields
    from geo_service.registry.store import open_store
    from geo_service.service.walking import serve_region

    folder = tmp_path_factory.mktemp("siting_cli")
    region = grid_region()
    region.save(folder / "region")
    store = open_store(ServiceSettings().registry_url(region.key))
    serve_region(store, region)
    for name, (x, y) in (("西公民館", (0, 0)), ("中央公民館", (500, 500))):
        lon, lat = lonlat(x, y)
        store.add(ResourceFields(name=name, category="公共施設", lon=lon, lat=lat))
    rows = [("西公民館", *lonlat(0, 0)), ("中央集会所", *lonlat(500, 500)),
            ("東交流センター", *lonlat(900, 1000))]
    pd.DataFrame({"名称": [r[0] for r in rows], "経度": [r[1] for r in rows],
                  "緯度": [r[2] for r in rows]}).to_csv(folder / "facilities.csv", index=False,
                                                       encoding="utf-8-sig")
    return folder


def _run(saved, *args: str):
    return CliRunner().invoke(app, ["site", "--region", str(saved / "region"), *args],
                              catch_exceptions=False)


def test_site_writes_sites_and_curve(saved):
    """At 200 m the centre reaches 13 people (a diamond of radius 2), the corner 6; the
    site beside the store adds least, as F1 already serves its neighbours."""
    out = saved / "out" / "sites.csv"
    result = _run(saved, "--need", "food_store", "--k", "2", "--threshold", "200",
                  "--candidates", str(saved / "facilities.csv"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "最適" in result.output and "中央集会所" in result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert list(table["name"]) == ["中央集会所", "西公民館"]
    assert list(table["new_65plus"]) == [13, 6]
    curve = pd.read_csv(saved / "out" / "sites_curve.csv", encoding="utf-8-sig")
    assert list(curve["covered_new_65plus"]) == [13, 19] and curve["optimal"].all()


def test_site_route_and_geojson(saved):
    out = saved / "out" / "stops.geojson"
    result = _run(saved, "--need", "食料品店", "--route", "--k", "3", "--grid", "500",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "運行順" in result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    features = written["features"]
    assert sorted(f["properties"]["route_order"] for f in features) == [1, 2, 3]
    # the file names its region (it had no metadata)
    assert written["metadata"]["region"] == "grid" and written["metadata"]["sources"] == []


def test_site_set_covering_infeasible(saved):
    result = _run(saved, "--need", "food_store", "--target-share", "1.0", "--threshold",
                  "100", "--candidates", str(saved / "facilities.csv"))
    assert result.exit_code == 0, result.output
    assert "目標 100.0 % には届きません" in result.output


def test_site_among_registry_resources(saved):
    """registry:公共施設: the 公民館 imported into the registry are the candidates."""
    result = CliRunner().invoke(app, ["site", "--region", str(saved / "region"), "--need",
                                      "salon", "--k", "1", "--threshold", "200",
                                      "--candidates", "registry:公共施設"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "中央公民館" in result.output and "西公民館" not in result.output
    missing = _run(saved, "--need", "salon", "--candidates", "registry:認知症カフェ")
    assert missing.exit_code == 2 and "位置のある資源がありません" in missing.output


@pytest.mark.parametrize(("args", "message"), [
    (["--need", "food_store", "--k", "4"], "候補地の数 3 か所を超えています"),
    (["--need", "配食", "--k", "1"], "自宅に来てくれるサービスです"),
    (["--need", "nothing", "--k", "1"], "そのカテゴリはありません"),
    (["--need", "salon", "--grid", "250"], "どちらか一方だけ"),
    (["--need", "salon", "--out", "sites.txt"], ".csv か .geojson"),
])
def test_site_errors(saved, args, message):
    result = _run(saved, "--candidates", str(saved / "facilities.csv"), *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("setting", [None, "700"])
def test_site_and_the_api_read_the_same_threshold_setting(saved, monkeypatch, setting):
    """A need with no walk_threshold_m of its own (相談窓口) serves the service's threshold:
    GEO_SERVICE_THRESHOLD_M reaches ``geo-service site`` as it reaches ``/siting`` (one
    constructor of the coverage service, WalkingService.from_settings)."""
    from geo_service.config import ServiceSettings
    from geo_service.engine.region import Region
    from geo_service.planning.answers import site
    from geo_service.service.walking import WalkingService

    if setting is not None:
        monkeypatch.setenv("GEO_SERVICE_THRESHOLD_M", setting)
    region = Region.load(saved / "region")
    expected = float(setting) if setting else region.threshold_m
    result = _run(saved, "--need", "consultation", "--k", "1", "--grid", "250",
                  "--no-curve")
    assert result.exit_code == 0, result.output
    assert f"徒歩{expected:g}m以内を対象" in result.output
    walking = WalkingService.from_settings(region, ServiceSettings())
    assert site(walking, "consultation", k=1, curve=False).threshold_m == expected


def test_candidates_keep_the_files_ids_and_names(saved, tmp_path):
    """A candidate list with its own id and name columns (candidate_id, 候補地): the chosen
    site is named and numbered as in the file, not by its row."""
    rows = [("c250", "旧公民館跡", *lonlat(500, 500)), ("c251", "西の空き地", *lonlat(0, 0))]
    path = tmp_path / "candidates.csv"
    pd.DataFrame({"candidate_id": [r[0] for r in rows], "候補地": [r[1] for r in rows],
                  "経度": [r[2] for r in rows], "緯度": [r[3] for r in rows]}).to_csv(
        path, index=False, encoding="utf-8-sig")
    out = tmp_path / "sites.csv"
    result = _run(saved, "--need", "food_store", "--k", "1", "--threshold", "200",
                  "--candidates", str(path), "--out", str(out), "--no-curve")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert list(zip(table["candidate_id"], table["name"], strict=True)) == [("c250", "旧公民館跡")]


def test_people_are_counted_whole(saved):
    """People are printed as whole numbers with separators (never 「4,406.0 人」)."""
    result = _run(saved, "--need", "food_store", "--k", "2", "--threshold", "200",
                  "--candidates", str(saved / "facilities.csv"))
    assert result.exit_code == 0, result.output
    assert "新たに徒歩圏に入る65歳以上 19人" in result.output
    assert ".0人" not in result.output
