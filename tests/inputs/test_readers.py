"""Edge normalisation: encodings, lat/lon checks, categories, stores."""

from __future__ import annotations

import pytest

from geo_service._errors import (
    EncodingError,
    InputError,
    SwappedCoordinatesError,
    UnknownCategoryError,
)
from geo_service.inputs.layer_points import read_stores
from geo_service.inputs.readers import read_points, read_table
from geo_service.layers import load_resource_layer

CSV = ("store_id,名称,category,lat,lon\n"
       "s1,青果店あおば,青果店,33.90,130.90\ns2,コンビニA,コンビニ,33.91,130.91\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_read_table_encodings(tmp_path, encoding):
    path = tmp_path / "t.csv"
    path.write_bytes(CSV.encode(encoding))
    df = read_table(path)
    assert list(df.columns)[1] == "名称" and df["名称"].iloc[0] == "青果店あおば"


def test_undecodable_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("名称\n".encode("utf-16"))
    with pytest.raises(EncodingError, match="neither UTF-8 nor CP932"):
        read_table(path)


def test_swapped_lat_lon_in_table(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,lat,lon,category\n1,130.9,33.9,スーパー\n")
    with pytest.raises(SwappedCoordinatesError, match="swapped") as info:
        read_points(path)
    assert info.value.row == 2 and info.value.column == "lat"


def test_impossible_coordinates(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,lat,lon\n1,-35000.0,80000.0\n")
    with pytest.raises(InputError, match="not longitude/latitude"):
        read_points(path)


def test_read_stores_categories_ids(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(CSV, encoding="cp932")
    stores = read_stores(path, load_resource_layer("food_stores"))
    assert stores["category"].tolist() == ["greengrocer", "convenience"]
    assert stores["store_id"].tolist() == ["s1", "s2"] and stores.crs.to_epsg() == 4326


def test_unknown_category_names_row_and_value(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(CSV + "s3,本屋,書店,33.92,130.92\n")
    with pytest.raises(UnknownCategoryError, match="known categories") as info:
        read_stores(path, load_resource_layer("food_stores"))
    assert (info.value.row, info.value.column, info.value.value) == ([4], "category", "書店")


def test_duplicate_store_ids(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(CSV + "s1,重複,スーパー,33.92,130.92\n")
    with pytest.raises(InputError, match=r"rows 2 and 4"):
        read_stores(path, load_resource_layer("food_stores"))


def test_layer_restriction():
    layer = load_resource_layer("food_stores")
    assert "convenience" not in layer.restricted(exclude=["convenience"]).included_ids
    assert layer.restricted(include=["supermarket"]).included_ids == ["supermarket"]
    with pytest.raises(UnknownCategoryError):
        layer.restricted(exclude=["bookshop"])


def test_stores_from_osm_xml(tmp_path):
    from geo_service.inputs.layer_points import stores_from_osm

    path = tmp_path / "shops.osm"
    path.write_text("""<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
 <node id="1" lat="33.90" lon="130.90"><tag k="shop" v="supermarket"/>
  <tag k="name" v="スーパーA"/></node>
 <node id="2" lat="33.91" lon="130.90"><tag k="shop" v="books"/></node>
 <node id="3" lat="33.92" lon="130.90"><tag k="shop" v="convenience"/></node>
</osm>""", encoding="utf-8")
    stores = stores_from_osm(path, load_resource_layer("food_stores"))
    assert sorted(stores["store_id"]) == ["node/1", "node/3"]
    assert dict(zip(stores["store_id"], stores["category"], strict=True)) == {
        "node/1": "supermarket", "node/3": "convenience"}
    assert "スーパーA" in set(stores["name"])


def test_every_bad_row_is_listed_as_a_spreadsheet_row(tmp_path):
    """All bad rows (20, then how many more), numbered as Excel shows them (header = 1)."""
    path = tmp_path / "stores.csv"
    rows = [f"b{k},店,{'書店' if k % 2 else 'スーパー'},33.92,130.92" for k in range(50)]
    path.write_text("store_id,name,category,lat,lon\n" + "\n".join(rows) + "\n")
    with pytest.raises(UnknownCategoryError) as info:
        read_stores(path, load_resource_layer("food_stores"))
    listed = ", ".join(str(r) for r in range(3, 42, 2))
    assert f"rows {listed} and 5 more, column 'category'" in str(info.value)
    assert info.value.row == list(range(3, 52, 2))


def test_messages_show_plain_numbers_and_the_importers_row(tmp_path):
    from geo_service.registry.imports import parse_resources, read_resource_table

    path = tmp_path / "s.csv"
    path.write_text("名称,種別,緯度,経度\nよい店,食料品店,33.9,130.9\n遠い店,食料品店,-35000.5,80000.25\n")
    with pytest.raises(InputError) as info:
        read_points(path)
    assert "np." not in str(info.value)
    assert "row 3, column '緯度', value (80000.25, -35000.5)" in str(info.value)
    problems = parse_resources(read_resource_table(path)).problems
    assert [p.row for p in problems] == [3]  # the importer names the same row
