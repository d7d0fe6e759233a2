"""``point_file_writers`` (one pass, Arrow-formatted) against ``csv_writer`` and
``geojson_writer``: the CSV byte for byte, the GeoJSON value for value."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service import outputs
from geo_service.outputs import csv_writer, geojson_writer, point_file_writers, write_outputs

ODD = np.array([0.0, -0.0, 1e-05, -3e-7, 1e16, 1.5e17, 100.0, -7.0, 1e-4, 9.9e-5, 1e10,
                9999999999.5, 12345678901.25, 5e9, np.nan, np.inf, -np.inf, 2.5, 1e15])


def _table(ids: list[str], n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "point_id": ids, "lon": np.round(rng.uniform(-180, 180, n), 7),
        "lat": np.round(rng.uniform(-90, 90, n), 7),
        "pop_total": np.round(rng.uniform(0, 1e6, n), 4),
        "small": np.round(rng.normal(0, 1e-3, n), 6), "count": rng.integers(-5, 5, n),
        "network_m": np.where(rng.random(n) < .1, np.nan, np.round(rng.uniform(0, 5e3, n), 2)),
        "store": rng.choice(["s1", "店舗", "=cmd", "-5", "'+x", "a b", ""], n),
        "reachable": rng.random(n) < .5, "odd": rng.choice(ODD, n),
        "arrow_text": pd.array([f"q{i}" for i in range(n)], dtype="string[pyarrow]")})


@pytest.mark.parametrize("ids", ["p{}", "p-{}", "=p{}", "p,{}", 'p"{}', "p\\{}", "＝p{}",
                                 "\u200b=p{}", "p\ufffe{}"])
def test_same_files_as_the_general_writers(ids: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs._PointFiles, "BLOCK", 777)  # several blocks
    n = 3000
    table = _table([ids.format(i) for i in range(n)], n, np.random.default_rng(len(ids)))
    write_outputs(tmp_path / "new", point_file_writers(table, "p.csv", "p.geojson"))
    write_outputs(tmp_path / "alone", {"p.geojson": point_file_writers(
        table, "p.csv", "p.geojson")["p.geojson"]})
    write_outputs(tmp_path / "old", {
        "p.csv": csv_writer(table),
        "p.geojson": geojson_writer(gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"]), geometry=shapely.points(table.lon, table.lat),
            crs="EPSG:4326"))})
    assert (tmp_path / "new/p.csv").read_bytes() == (tmp_path / "old/p.csv").read_bytes()
    new = json.loads((tmp_path / "new/p.geojson").read_text(encoding="utf-8"))
    assert new == json.loads((tmp_path / "old/p.geojson").read_text(encoding="utf-8"))
    assert new == json.loads((tmp_path / "alone/p.geojson").read_text(encoding="utf-8"))
    assert len(new["features"]) == n


def test_empty_table(tmp_path: Path) -> None:
    table = _table([], 0, np.random.default_rng(0))
    write_outputs(tmp_path, point_file_writers(table, "p.csv", "p.geojson"))
    assert json.loads((tmp_path / "p.geojson").read_text())["features"] == []
    assert len(pd.read_csv(tmp_path / "p.csv", encoding="utf-8-sig")) == 0
