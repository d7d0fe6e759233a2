"""Point files read as arrays (geo_service.inputs.point_files) and demand points given as
CSV, GeoJSON or GeoPackage: the same numbers whichever the format and whichever reader."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service._errors import CRSError, DuplicateIdError, SwappedCoordinatesError
from geo_service.engine.population import demand_from_points, load_population, read_population
from geo_service.inputs import point_files
from geo_service.inputs.point_files import read_point_rows
from geo_service.inputs.readers import read_vector
from tests.conftest import grid_network

LON0, LAT0 = 130.9, 33.9


def people(n: int = 60, seed: int = 3) -> pd.DataFrame:
    """Demand points around (130.9, 33.9) with awkward values: Japanese ids, full-precision
    coordinates, fractional and zero counts."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "point_id": [f"地点{i:03d}" for i in range(n)],
        "lon": LON0 + rng.uniform(-0.004, 0.004, n),
        "lat": LAT0 + rng.uniform(-0.003, 0.003, n),
        "pop_total": rng.integers(1, 40, n).astype(float) + np.where(np.arange(n) % 7, 0, 0.5),
        "pop_65plus": rng.integers(0, 1, n) * 0 + np.arange(n) % 5,
    })


def write_formats(df: pd.DataFrame, folder) -> dict[str, object]:
    """The same rows as CSV, line-per-feature GeoJSON, pretty-printed GeoJSON and GPKG."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "people.csv", "geojson": folder / "people.geojson",
             "pretty": folder / "pretty.geojson", "gpkg": folder / "people.gpkg"}
    df.to_csv(paths["csv"], index=False, float_format="%.17g")
    features = [{"type": "Feature",
                 "properties": {"point_id": r.point_id, "pop_total": r.pop_total,
                                "pop_65plus": int(r.pop_65plus)},
                 "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]}}
                for r in df.itertuples()]
    paths["geojson"].write_text(
        '{"type": "FeatureCollection", "features": [\n'
        + ",\n".join(json.dumps(f, ensure_ascii=False) for f in features) + "\n]}\n",
        encoding="utf-8")
    paths["pretty"].write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                          ensure_ascii=False, indent=2), encoding="utf-8")
    gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]),
                     geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                     crs="EPSG:4326").to_file(paths["gpkg"], engine="pyogrio")
    return paths


def test_csv_geojson_and_gpkg_give_identical_demand(tmp_path):
    df = people()
    paths = write_formats(df, tmp_path)
    net = grid_network(6, 6, origin=(-13000.0, 100000.0))
    frames = {k: load_population([p], net) for k, p in paths.items()}
    first = frames["csv"]
    assert first.crs == net.crs and len(first) == len(df)
    assert first["point_id"].tolist() == df["point_id"].tolist()
    np.testing.assert_array_equal(first["pop_65plus"], df["pop_65plus"].astype(float))
    for name, frame in frames.items():
        for col in ("point_id", "pop_total", "pop_65plus"):
            assert frame[col].tolist() == first[col].tolist(), (name, col)
        np.testing.assert_array_equal(shapely.get_coordinates(frame.geometry.to_numpy()),
                                      shapely.get_coordinates(first.geometry.to_numpy()),
                                      err_msg=name)
        assert frame["pop_75plus"].isna().all()
    # the arrays path gives exactly what reading the file as a GeoDataFrame gave
    for name in ("geojson", "pretty", "gpkg"):
        old = demand_from_points(read_vector(paths[name]), source=paths[name]).to_crs(net.crs)
        np.testing.assert_array_equal(
            shapely.get_coordinates(old.geometry.to_numpy()),
            shapely.get_coordinates(frames[name].geometry.to_numpy()), err_msg=name)
        assert old["point_id"].tolist() == frames[name]["point_id"].tolist()
        # read_population (the batch's reader) keeps the file's CRS
        assert read_population([paths[name]]).crs.to_epsg() == 4326


def test_line_per_feature_geojson_is_read_by_arrow_and_equals_gdal(tmp_path, monkeypatch):
    paths = write_formats(people(), tmp_path)
    calls = []
    real = point_files._arrow_points
    monkeypatch.setattr(point_files, "_arrow_points",
                        lambda path: calls.append(path) or real(path))
    fast = read_point_rows(paths["geojson"])
    assert calls == []  # the pyarrow.json path, not GDAL
    pretty = read_point_rows(paths["pretty"])
    assert calls == [paths["pretty"]]  # indented: GDAL
    gdal = read_vector(paths["geojson"])
    for rows in (fast, pretty):
        assert rows is not None and rows.crs.to_epsg() == 4326
        np.testing.assert_array_equal(rows.x, gdal.geometry.x.to_numpy())
        np.testing.assert_array_equal(rows.y, gdal.geometry.y.to_numpy())
        for col in ("point_id", "pop_total", "pop_65plus"):
            assert rows.attributes[col].tolist() == gdal[col].tolist()


def test_feature_ids_nested_values_and_other_geometries_go_to_gdal(tmp_path):
    def collection(features):
        return '{"type": "FeatureCollection", "features": [\n' + ",\n".join(
            json.dumps(f) for f in features) + "\n]}\n"

    point = {"type": "Feature", "properties": {"pop_65plus": 1},
             "geometry": {"type": "Point", "coordinates": [LON0, LAT0]}}
    with_id = tmp_path / "id.geojson"
    with_id.write_text(collection([{**point, "id": "P1"}, {**point, "id": "P2"}]))
    rows = read_point_rows(with_id)
    assert rows is not None and rows.attributes["id"].tolist() == ["P1", "P2"]  # GDAL's
    nested = tmp_path / "nested.geojson"
    nested.write_text(collection([{**point, "properties": {"pop_65plus": 1, "x": {"a": 1}}}]))
    assert read_point_rows(nested) is not None  # GDAL reads the object as text
    poly = tmp_path / "poly.geojson"
    poly.write_text(collection([{**point, "geometry": shapely.geometry.mapping(
        shapely.box(LON0, LAT0, LON0 + 0.001, LAT0 + 0.001))}]))
    assert read_point_rows(poly) is None
    empty = tmp_path / "null.geojson"
    empty.write_text(collection([{**point, "geometry": None}, point]))
    assert read_point_rows(empty) is None


def test_point_file_errors_are_those_of_read_vector(tmp_path):
    df = people(5)
    swapped = df.rename(columns={"lon": "lat", "lat": "lon"})
    paths = write_formats(swapped, tmp_path / "swapped")
    for name in ("geojson", "gpkg"):
        with pytest.raises(SwappedCoordinatesError):
            read_point_rows(paths[name])
    metric = gpd.GeoDataFrame({"pop_65plus": [1, 2]},
                              geometry=[shapely.Point(-12000, 130000), shapely.Point(0, 0)],
                              crs="EPSG:6670").set_crs("EPSG:4326", allow_override=True)
    metric.to_file(tmp_path / "mislabelled.gpkg", engine="pyogrio")
    with pytest.raises(CRSError, match="outside ±180/±90"):
        read_point_rows(tmp_path / "mislabelled.gpkg")
    dup = df.assign(point_id=["a", "b", "a", "c", "d"])
    paths = write_formats(dup, tmp_path / "dup")
    net = grid_network(3, 3)
    for name in ("csv", "geojson", "gpkg"):
        with pytest.raises(DuplicateIdError, match="rows 2 and 4"):
            load_population([paths[name]], net)
