"""``geo-service gaps`` and ``geo-service gtfs stops``: the CLI prints and writes what
:mod:`geo_service.planning.gaps` and :mod:`geo_service.inputs.gtfs` compute."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.config import ServiceSettings
from geo_service.engine.region import Region
from geo_service.planning.gaps import find_gaps
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService
from tests.conftest import shared_file

runner = CliRunner()


def test_gaps_on_the_demo(tmp_path, monkeypatch):
    """With nothing given: the demo region and registry, 小学校区, food stores. Its
    city-wide 配食 covers everyone beyond the walk; without it, the hill's 移動販売 stops
    are the only alternative."""
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("geo_service.cli.gaps.console", Console(width=200))
    out = tmp_path / "tables" / "gaps.csv"
    r = runner.invoke(app, ["gaps", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "山手小学校" in r.output and "配食" in r.output and "--gtfs" in r.output
    everything = pd.read_csv(out, encoding="utf-8-sig", dtype={"area_id": str})
    assert (everything["gap_65plus"] == 0).all()
    assert (everything["covered_meal_delivery"] == everything["beyond_65plus"]).all()
    r = runner.invoke(app, ["gaps", "--layer", "elementary", "--need", "食料品店",
                            "--alternative", "mobile_sales", "--out", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"area_id": str})
    assert got["name"].iloc[0] == "山手小学校" and got["rank_count"].iloc[0] == 1
    # the same numbers from the core, and the people beyond the walk are the difficulty
    # indicators' (the registry's food stores, 500 m)
    region = Region.load(tmp_path / "demo" / "region")
    walking = WalkingService(region, open_store(ServiceSettings().registry_url(region.key)))
    want = find_gaps(walking, "小学校区", alternatives=["mobile_sales"]).table
    for col in ("area_id", "rank_count", "rank_share"):
        assert list(got[col]) == list(want[col])
    for col in ("pop_65plus", "beyond_65plus", "covered_mobile_sales", "gap_65plus"):
        assert got[col].tolist() == pytest.approx(want[col].tolist(), abs=1e-3)
    table, _, _ = walking.difficulty("小学校区")
    beyond = table.set_index("area_id")["beyond_65plus"]
    assert got.set_index("area_id")["beyond_65plus"].to_dict() == pytest.approx(
        beyond.to_dict(), abs=1e-3)
    assert got["covered_mobile_sales"].sum() > 0


def test_gaps_input_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "stops.txt").write_text("stop_id\n", encoding="utf-8")
    r = runner.invoke(app, ["gaps", "--gtfs", str(tmp_path / "feed")])
    assert r.exit_code == 2
    assert "trips.txt, stop_times.txt, calendar.txt or calendar_dates.txt" in r.output
    r = runner.invoke(app, ["gaps", "--date", "2026-13-01", "--gtfs", "x.zip"])
    assert r.exit_code == 2 and "値 '2026-13-01'：日付 YYYY-MM-DD ではありません" in r.output
    r = runner.invoke(app, ["gaps", "--walk-threshold", "mobile_sales"])
    assert r.exit_code == 2 and "「カテゴリ=メートル」の形で指定してください" in r.output


def test_gtfs_stops_command(tmp_path, monkeypatch):
    feed = shared_file("gtfs-iizuka-40205/chikuho.zip")
    monkeypatch.setattr("geo_service.cli.gaps.console", Console(width=200))
    out = tmp_path / "stops.csv"
    r = runner.invoke(app, ["gtfs", "stops", str(feed), "--date", "2026-04-29",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "chikuho.zip" in r.output and "110" in r.output
    stops = pd.read_csv(out, encoding="utf-8-sig")
    assert len(stops) == 32 and stops["departures_mon"].sum() == 110
    assert stops["departures_on_date"].sum() == 0  # 昭和の日: removed in calendar_dates.txt


def test_gaps_on_a_saved_region_with_a_feed(tmp_path, monkeypatch):
    """A saved region (the grid; its registry empty, so the region's own food store) and a
    GTFS feed: the stop on node (10, 2) covers 14 people beyond the walk (see
    tests/engine/test_gaps.py). 飯塚's feed lies 20 km from the grid: a clear error."""
    from tests.utils.grid import grid_region, lonlat
    from tests.utils.gtfs import weekday_feed

    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("geo_service.cli.gaps.console", Console(width=200))
    grid_region().save(tmp_path / "region")
    feed = weekday_feed(tmp_path, {"S": lonlat(1000, 200)}, 12)
    out = tmp_path / "gaps.csv"
    r = runner.invoke(app, ["gaps", "--region", str(tmp_path / "region"), "--gtfs", str(feed),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "バス停" in r.output and "バス停 2か所のうち 1か所は地域の外" in r.output
    got = pd.read_csv(out, encoding="utf-8-sig").set_index("area_id")
    assert got["covered_bus"].to_dict() == {"M": 1, "E": 13, "W": 0}
    assert got["gap_65plus"].to_dict() == {"M": 48, "W": 33, "E": 5}
    # by share: 西 (33 of 33) first, then 中 (48 of 55), then 東 (5 of 33)
    r = runner.invoke(app, ["gaps", "--region", str(tmp_path / "region"), "--gtfs", str(feed),
                            "--by", "share", "--out", str(out)])
    assert r.exit_code == 0, r.output
    by_share = pd.read_csv(out, encoding="utf-8-sig")
    assert list(by_share["area_id"]) == ["W", "M", "E"]
    assert list(by_share["rank_share"]) == [1, 2, 3]
    assert list(by_share["rank_count"]) == [2, 1, 3]
    r = runner.invoke(app, ["gaps", "--region", str(tmp_path / "region"), "--gtfs", str(feed),
                            "--min-departures", "13", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out, encoding="utf-8-sig")["covered_bus"].sum() == 0
    iizuka = shared_file("gtfs-iizuka-40205/chikuho.zip")
    r = runner.invoke(app, ["gaps", "--region", str(tmp_path / "region"), "--gtfs",
                            str(iizuka)])
    assert r.exit_code == 2
    assert "chikuho.zip" in r.output and "32か所のバス停のどれも、地域の道路から" in r.output
