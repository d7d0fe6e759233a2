"""A region's sources: publishers recognised from the standard open files (e-Stat,
国土数値情報, OpenStreetMap, GTFS, 自治体標準オープンデータセット), user overrides, the
市区町村コード, and region.json with and without the new keys."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
import shapely

from geo_service._errors import InputError
from geo_service.engine.region import Region
from geo_service.inputs.sources import (
    ESTAT_ATTRIBUTION,
    OSM_ATTRIBUTION,
    Source,
    attributions,
    check_digit,
    describe,
    file_label,
    municipality_code,
    override,
)
from tests.conftest import grid_network


@pytest.mark.parametrize("name", ["r2ka40205.shp", "tblT001082C40205.txt", "h27ka13101.shp"])
def test_estat_files_are_recognised(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    s = describe(path, "人口")
    assert s.attribution == "出典：政府統計の総合窓口(e-Stat)" == ESTAT_ATTRIBUTION
    assert "e-Stat" in s.publisher and s.file == name and str(tmp_path) not in s.file
    if name.startswith("r2ka"):
        assert s.edition == "令和2年（2020年）国勢調査"


@pytest.mark.parametrize(("name", "attribution", "edition"), [
    ("A27-23_29.shp", "出典：国土交通省国土数値情報（小学校区データ）", "2023年度"),
    ("A32-21_40.shp", "出典：国土交通省国土数値情報（中学校区データ）", "2021年度"),
    ("N03-20240101_40.shp", "出典：国土交通省国土数値情報（行政区域データ）", "2024-01-01"),
    ("m500-17_40.shp", "出典：国土交通省国土数値情報（500mメッシュ別将来推計人口データ）",
     "2017年度"),
])
def test_ksj_files_are_recognised_with_their_wording(tmp_path, name, attribution, edition):
    path = tmp_path / name
    path.write_bytes(b"")
    s = describe(path, "区域")
    assert (s.publisher, s.attribution, s.edition) == ("国土交通省 国土数値情報", attribution,
                                                       edition)


def test_osm_inputs_are_odbl_with_the_overpass_date(tmp_path):
    answer = tmp_path / "walk.json"
    answer.write_text(json.dumps({"version": 0.6, "osm3s": {
        "timestamp_osm_base": "2026-01-15T03:04:05Z"}, "elements": []}), encoding="utf-8")
    s = describe(answer, "道路網")
    assert (s.attribution, s.licence, s.edition) == (OSM_ATTRIBUTION, "ODbL 1.0", "2026-01-15")
    pbf = tmp_path / "kyushu.osm.pbf"
    pbf.write_bytes(b"\0")
    assert describe(pbf, "道路網").attribution == "© OpenStreetMap contributors"
    other = tmp_path / "stores.json"  # a JSON that is not an Overpass answer
    other.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    assert describe(other, "店舗").publisher == ""


def test_gtfs_publisher_from_feed_info_else_agency(tmp_path):
    feed = tmp_path / "bus.zip"
    with zipfile.ZipFile(feed, "w") as z:
        z.writestr("agency.txt", "agency_id,agency_name,agency_url,agency_timezone\n"
                                 "1,坂の町バス,https://example.jp,Asia/Tokyo\n")
        z.writestr("feed_info.txt", "\ufefffeed_publisher_name,feed_publisher_url,feed_lang,"
                                    "feed_start_date,feed_version\n"
                                    "坂の町役場,https://example.jp/,ja,20260401,v2\n")
    s = describe(feed, "バス（GTFS）")
    assert (s.publisher, s.edition) == ("坂の町役場", "2026-04-01〜 v2")
    assert s.attribution == "出典：坂の町役場（坂の町バス）GTFS-JP"
    only_agency = tmp_path / "agency_only.zip"
    with zipfile.ZipFile(only_agency, "w") as z:
        z.writestr("agency.txt", "agency_id,agency_name\n1,坂の町バス\n")
    assert describe(only_agency, "バス").attribution == "出典：坂の町バス GTFS-JP"


def test_standard_dataset_names_its_municipality(tmp_path):
    path = tmp_path / "public_facilities.csv"
    path.write_bytes("全国地方公共団体コード,ID,地方公共団体名,名称,POIコード,緯度,経度\n"
                     "402052,,福岡県飯塚市,鯰田小学校,1503,33.66,130.70\n".encode("cp932"))
    s = describe(path, "公共施設")
    assert (s.publisher, s.title) == ("飯塚市", "飯塚市 公共施設一覧")
    assert s.attribution == "出典：飯塚市オープンデータ（公共施設一覧）"


def test_unknown_file_has_no_publisher_until_the_user_gives_one(tmp_path):
    path = tmp_path / "my_stores.csv"
    path.write_text("name,lon,lat,category\n", encoding="utf-8")
    sources = [describe(path, "店舗")]
    assert sources[0].publisher == "" and attributions(sources) == []
    sources = override(sources, "my_stores.csv:publisher=坂の町商工会")
    sources = override(sources, "my_stores:attribution=出典：坂の町商工会 店舗一覧（2026年）")
    assert sources[0].publisher == "坂の町商工会"
    assert attributions(sources) == ["出典：坂の町商工会 店舗一覧（2026年）"]
    with pytest.raises(InputError, match="FIELD one of") as bad:
        override(sources, "my_stores.csv:colour=red")
    assert bad.value.reason_ja and bad.value.column == "--source"
    with pytest.raises(InputError, match="no input named 'other.csv'"):
        override(sources, "other.csv:publisher=x")


def test_municipality_code_and_check_digit():
    assert check_digit("40205") == "2" and check_digit("13101") == "6"
    assert municipality_code("40205") == "40205" == municipality_code("402052")
    with pytest.raises(InputError, match="check digit") as bad:
        municipality_code("402051")
    assert "402052" in bad.value.reason_ja
    with pytest.raises(InputError, match="five digits"):
        municipality_code("飯塚")


def test_a_region_named_after_a_file_shows_the_file_stem_not_its_path():
    assert file_label("/srv/data/osm-kitakyushu-mojiko/overpass_walk_mojiko.json") == \
        "overpass_walk_mojiko"
    assert file_label("kyushu-latest.osm.pbf") == "kyushu-latest"
    assert file_label("飯塚市") == "飯塚市"


def _region(**kw) -> Region:
    net = grid_network()
    demand = gpd.GeoDataFrame({"point_id": ["p"], "pop_total": [1.0], "pop_65plus": [1.0],
                               "pop_75plus": [0.0]}, geometry=[shapely.Point(0, 0)],
                              crs=net.crs)
    return Region(net, demand, **kw)


def test_region_json_keeps_title_code_and_sources(tmp_path):
    sources = [Source("人口", "r2ka40205.shp", "e-Stat", attribution=ESTAT_ATTRIBUTION),
               Source("道路網", "grid", synthetic=True, attribution="生成")]
    _region(name="飯塚市", title="飯塚市", municipality_code="40205",
            sources=sources).save(tmp_path / "r")
    back = Region.load(tmp_path / "r")
    assert (back.label, back.municipality_code, back.sources) == ("飯塚市", "40205", sources)
    assert back.attributions == [ESTAT_ATTRIBUTION, "生成"]


def test_an_old_region_without_the_new_keys_still_loads(tmp_path):
    _region(name="/srv/data/overpass_walk_mojiko.json").save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "region.json").read_text(encoding="utf-8"))
    for key in ("title", "municipality_code", "sources"):
        del meta[key]
    (tmp_path / "old" / "region.json").write_text(json.dumps(meta), encoding="utf-8")
    old = Region.load(tmp_path / "old")
    assert (old.title, old.sources, old.label) == ("", [], "overpass_walk_mojiko")
    assert Region.saved_identity(tmp_path / "old") == (old.key, "overpass_walk_mojiko")


def test_a_regions_output_metadata_is_generated_when_it_or_a_source_is():
    """What every output and the pages' /ui/config say of a region, known by hand."""
    real = Source("人口", "r2ka40205.shp", "e-Stat", "小地域", attribution=ESTAT_ATTRIBUTION)
    made = Source("道路網", "grid", synthetic=True, attribution="生成")
    about = _region(title="飯塚市", municipality_code="40205",
                    sources=[real, made, real]).output_metadata()
    assert about == {"region": "飯塚市", "municipality_code": "40205",
                     "attributions": [ESTAT_ATTRIBUTION, "生成"],
                     "sources": [real.to_dict(), made.to_dict(), real.to_dict()],
                     "synthetic": True}
    assert _region(sources=[real]).output_metadata()["synthetic"] is False
    assert _region(sources=[real], synthetic=True).output_metadata()["synthetic"] is True
    assert _region().output_metadata()["region"] == "地域"
