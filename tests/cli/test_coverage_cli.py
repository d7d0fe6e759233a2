"""``geo-service coverage``: the CLI prints and writes what the coverage service computes."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.engine.region import Region
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService

runner = CliRunner()


def test_coverage_table_is_the_services(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'reg.sqlite3'}"
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", url)
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("geo_service.cli.registry.console", Console(width=200))
    monkeypatch.setattr("geo_service.cli.common.console", Console(width=200))  # its table
    out = tmp_path / "tables" / "coverage.csv"
    r = runner.invoke(app, ["coverage", "--layer", "小学校区", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "山手小学校" in r.output and "食料品店" in r.output
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"area_id": str})
    # the same numbers, straight from the service on the demo region and registry it made
    region = Region.load(tmp_path / "demo" / "region")
    rows = WalkingService(region, open_store(url)).area_coverage("小学校区", staff=False)
    want = {(a["area_id"], cat): c for a in rows for cat, c in a["categories"].items()}
    assert len(got) == len(want) > 10
    for row in got.itertuples():
        c = want[(row.area_id, row.category)]
        assert (row.located, row.covering) == (len(c["located"]), len(c["covering"]))
        share = c["share_65plus_within_walk"]
        if share is None:
            assert pd.isna(row.share_65plus_within_walk)
        else:
            assert row.share_65plus_within_walk == pytest.approx(share, abs=5e-5)
    # 山手 (the hill): the 食料品店 share is the complement of the map's 88.8 % beyond
    food = got[(got["name"] == "山手小学校") & (got["category"] == "food_store")]
    assert food["share_65plus_within_walk"].iloc[0] == pytest.approx(1 - 0.8884, abs=1e-3)
    by_id = tmp_path / "by_id.csv"  # the layer's ASCII id names the same layer
    r = runner.invoke(app, ["coverage", "--layer", "elementary", "--out", str(by_id)])
    assert r.exit_code == 0, r.output
    assert by_id.read_bytes() == out.read_bytes()


def test_coverage_of_an_unknown_layer_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    r = runner.invoke(app, ["coverage", "--layer", "村"])
    assert r.exit_code == 2
    assert "区域レイヤ '村' はありません" in r.output and "小学校区" in r.output
