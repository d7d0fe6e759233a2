"""A batch run's partition file: its errors name the file and column, in either language."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geo_service._errors import InputError
from geo_service.jobs.partitions import forced_crs, read_partition_layer


def test_a_missing_code_column_is_named_in_japanese_and_english(tmp_path):
    path = tmp_path / "parts.geojson"
    gpd.GeoDataFrame({"code": ["a", "b"]},
                     geometry=[shapely.box(130.85, 33.85, 130.95, 33.95),
                               shapely.box(131.85, 34.15, 131.95, 34.25)],
                     crs="EPSG:4326").to_file(path)
    with pytest.raises(InputError) as e:
        read_partition_layer(path, id_column="city")
    assert e.value.text("ja").endswith("列 'city' がありません。列は ['code', 'geometry'] です")
    assert e.value.text("en").endswith("no column 'city'; columns are ['code', 'geometry']")


def test_a_degree_crs_for_the_batch_is_refused_in_japanese():
    with pytest.raises(InputError) as e:
        forced_crs("EPSG:4326")
    assert "一括計算の座標参照系はメートル単位でなければなりません（EPSG:4326 ではなく）" in (
        e.value.text("ja"))
