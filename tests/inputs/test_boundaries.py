"""Area layers: 国土数値情報 A27/A32, repairs, duplicates, mappings, meshes."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geo_service._errors import CRSError, DuplicateIdError, InputError
from geo_service.inputs.boundaries import (
    area_layer_from_mapping,
    mesh_layer,
    parse_area_spec,
    read_area_layer,
)


def write(gdf: gpd.GeoDataFrame, path):
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_a27_a32_real_files():
    from tests.conftest import shared_file

    a27 = read_area_layer(shared_file("ksj-nara-29/A27-23_29.shp"))
    a32 = read_area_layer(shared_file("ksj-nara-29/A32-23_29.shp"))
    assert a27.name == "小学校区" and a32.name == "中学校区"
    assert a27.areas["area_id"].str.startswith(("B", "C")).all()
    assert a27.areas.geometry.is_valid.all() and a32.areas.geometry.is_valid.all()
    # The source files hold invalid polygons: they are repaired and the repair is said.
    assert any("make_valid" in n for n in a27.notes + a32.notes)
    assert a27.areas["area_id"].is_unique
    assert "天川小中学校" in set(a27.areas["name"])


def test_generic_layer_ids_names_and_enclaves(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["1", "2", "1"], "名称": ["北", "南", "北"]},
                           geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1),
                                     shapely.box(5, 5, 6, 6)], crs="EPSG:6670")
    layer = read_area_layer(write(gdf, tmp_path / "districts.geojson"), name="圏域")
    assert layer.name == "圏域" and len(layer.areas) == 2
    north = layer.areas.set_index("area_id").geometry.loc["1"]
    assert north.area == pytest.approx(2.0)  # 飛び地 dissolved into its area
    assert any("飛び地" in n for n in layer.notes)


def test_n03_municipalities_by_code_with_islands_and_full_names(tmp_path):
    # 国土数値情報 N03 行政区域: one row per polygon (islands repeat the code), the code
    # without its leading zero when read as a number, 所属未定地 without a code
    gdf = gpd.GeoDataFrame({
        "N03_001": ["福岡県"] * 3 + ["北海道"] + [None],
        "N03_003": ["北九州市", "北九州市", "遠賀郡", None, None],
        "N03_004": ["門司区", "門司区", "芦屋町", "札幌市中央区", None],
        "N03_007": ["40101", "40101", "40381", 1101, None],
    }, geometry=[shapely.box(0, 0, 1, 1), shapely.box(3, 3, 4, 4), shapely.box(1, 0, 2, 1),
                 shapely.box(5, 0, 6, 1), shapely.box(8, 8, 9, 9)], crs="EPSG:6670")
    layer = read_area_layer(write(gdf, tmp_path / "N03-20240101_40.geojson"))
    assert layer.name == "市区町村"
    areas = layer.areas.set_index("area_id")
    assert sorted(areas.index) == ["01101", "40101", "40381"]
    assert areas.loc["40101", "name"] == "北九州市門司区"
    assert areas.loc["40381", "name"] == "遠賀郡芦屋町"
    assert areas.loc["01101", "name"] == "札幌市中央区"
    assert areas.geometry.loc["40101"].area == pytest.approx(2.0)  # the island joins its city
    assert any("所属未定地" in n for n in layer.notes)


def test_same_id_different_names_is_rejected(tmp_path):
    gdf = gpd.GeoDataFrame({"area_id": ["1", "1"], "name": ["北", "南"]},
                           geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                           crs="EPSG:6670")
    with pytest.raises(DuplicateIdError, match="different areas") as info:
        read_area_layer(write(gdf, tmp_path / "d.geojson"))
    assert info.value.column == "area_id" and info.value.value == "1"


def test_bowtie_is_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    gdf = gpd.GeoDataFrame({"area_id": ["x"], "name": ["x"]}, geometry=[bowtie], crs="EPSG:6670")
    layer = read_area_layer(write(gdf, tmp_path / "b.geojson"))
    assert layer.areas.geometry.is_valid.all()
    assert layer.areas.geometry.area.iloc[0] == pytest.approx(2.0)
    assert "rows 2" in layer.notes[0]  # spreadsheet rows: the header is row 1


def test_missing_crs_is_refused(tmp_path):
    gdf = gpd.GeoDataFrame({"area_id": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)])
    gdf.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(CRSError, match="no coordinate reference system"):
        read_area_layer(tmp_path / "nocrs.shp")


def test_projected_coordinates_labelled_as_degrees(tmp_path):
    gdf = gpd.GeoDataFrame({"area_id": ["x"]}, geometry=[shapely.box(-30000, 80000, -29000, 81000)],
                           crs="EPSG:4326")
    with pytest.raises(CRSError):
        read_area_layer(write(gdf, tmp_path / "wrong.geojson"))


def test_mapping_builds_daily_life_areas(tmp_path):
    small = gpd.GeoDataFrame({"KEY_CODE": ["01", "02", "03"], "S_NAME": ["a", "b", "c"]},
                             geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)],
                             crs="EPSG:6670")
    base = read_area_layer(write(small, tmp_path / "small.geojson"))
    mapping = tmp_path / "map.csv"
    mapping.write_text("KEY_CODE,圏域\n01,第1圏域\n02,第1圏域\n03,第2圏域\n", encoding="utf-8-sig")
    layer = area_layer_from_mapping(base, mapping, name="日常生活圏域")
    areas = layer.areas.set_index("area_id")
    assert areas.geometry.loc["第1圏域"].area == pytest.approx(2.0)
    assert areas.geometry.loc["第2圏域"].area == pytest.approx(1.0)
    mapping.write_text("KEY_CODE,圏域\n01,第1圏域\n99,第2圏域\n")
    with pytest.raises(InputError, match="no area with this id") as info:
        area_layer_from_mapping(base, mapping, name="x")
    assert info.value.row == [3] and info.value.value == "99"


def test_mesh_layer_cells():
    layer = mesh_layer(gpd.pd.Series(["50305700", "503057001"]))
    a = layer.areas.to_crs("EPSG:6670").area.to_numpy()
    assert a[0] == pytest.approx(4 * a[1], rel=1e-3)  # 1 km cell = four ½ cells


def test_parse_area_spec():
    assert parse_area_spec("x.geojson") == (None, gpd.pd.io.common.Path("x.geojson"), None)
    label, path, mapping = parse_area_spec("日常生活圏域=r2ka.shp+map.csv")
    assert label == "日常生活圏域" and path.name == "r2ka.shp" and mapping.name == "map.csv"


def test_mesh_layer_outside_japan_is_a_clear_error():
    from geo_service.inputs.mesh import mesh_codes_for

    with pytest.raises(InputError, match="地域メッシュ exist only"):
        mesh_codes_for(gpd.GeoSeries([shapely.Point(24.94, 60.17)], crs="EPSG:4326"), 5)


def test_areas_sharing_a_name_are_told_apart_by_their_ids(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["40205088001", "40205088002", "40205088010", "7"],
                            "名称": ["鹿毛馬", "鹿毛馬", "鹿毛馬", "伊岐須"]},
                           geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)],
                           crs="EPSG:6670")
    layer = read_area_layer(write(gdf, tmp_path / "small.geojson"), name="町丁")
    assert layer.names == ["鹿毛馬（001）", "鹿毛馬（002）", "鹿毛馬（010）", "伊岐須"]
    assert layer.to_crs(4326).names == layer.names  # made once, kept
    assert layer.area_id("鹿毛馬（002）") == "40205088002"
    with pytest.raises(InputError) as info:  # which 鹿毛馬? the three are listed first
        layer.area_id("鹿毛馬")
    assert str(info.value.reason).index("鹿毛馬（010）") < str(info.value.reason).index("伊岐須")


def test_real_small_areas_have_names_people_can_tell_apart():
    from tests.conftest import shared_file

    layer = read_area_layer(shared_file("estat-iizuka-40205/r2ka40205.shp"))
    assert len(set(layer.names)) == len(layer.names) == 149
    assert "鹿毛馬（003）" in layer.names and "新立岩" in layer.names  # unique names stay
    assert layer.names[layer.ids.index("40205024000")] == "伊岐須（000）"
