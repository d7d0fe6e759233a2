"""Importing coordinators' lists and open data; exporting back (CSV, Excel, GeoJSON)."""

from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service._errors import EncodingError, InputError
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.cells import parse_date, parse_fee
from geo_service.registry.exports import export_resources
from geo_service.registry.import_rows import ImportContext
from geo_service.registry.imports import (
    RawTable,
    import_resources,
    parse_resources,
    read_resource_table,
)
from geo_service.registry.resources import ResourceFields, parse_weekdays
from geo_service.registry.store import ResourceFilter
from geo_service.registry.store.testing import BACKENDS
from tests.conftest import SHARED_DATA, TEST_DATA
from tests.utils.clients import add_user, api_client, bearer
from tests.utils.stores import backend_store

DATA = TEST_DATA / "registry"
IIZUKA = (SHARED_DATA / "opendata-iizuka-40205"
          / "public_facilities_40205.csv")


def school_districts() -> AreaLayer:
    names = ["菰田小学校区", "立岩小学校区", "鯰田小学校区"]
    boxes = [shapely.box(130.68, 33.62, 130.70, 33.64), shapely.box(130.68, 33.64, 130.70, 33.66),
             shapely.box(130.70, 33.66, 130.72, 33.68)]
    gdf = gpd.GeoDataFrame({"code": ["B001", "B002", "B003"], "name": names}, geometry=boxes,
                           crs=4326)
    return AreaLayer.from_geodataframe(gdf, "小学校区", id_column="code", name_column="name")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return backend_store(request.param, tmp_path, layers={"小学校区": school_districts()})


@pytest.mark.parametrize("name,encoding", [("coordinator_list_cp932.csv", "cp932"),
                                           ("coordinator_list_utf8bom.csv", "utf-8-sig")])
def test_coordinator_list_in_both_encodings(name, encoding):
    table = read_resource_table(DATA / name)
    assert table.encoding == encoding
    report = parse_resources(table, ImportContext(layers={"小学校区": school_districts()}))
    assert report.problems == []
    assert [n for n, _ in report.accepted] == [2, 3, 4, 5]
    bento, salon, mobile, watch = (r for _, r in report.accepted)
    assert (bento.name, bento.kana, bento.category) == ("まごころ弁当", "マゴコロベントウ",
                                                        "meal_delivery")
    assert bento.service_area.kind == "municipality"
    assert bento.fee.kind == "paid" and bento.fee.amount_yen == 500
    assert bento.schedule.weekdays == ["mon", "tue", "wed", "thu", "fri", "sat"]  # 定休日 日曜日
    assert (bento.schedule.start, bento.schedule.end) == ("09:00", "17:00")
    assert bento.contact.tel == "0948-00-0001" and bento.contact.fax == "0948-00-0002"
    assert bento.payment_methods == ["現金", "口座振替"]
    assert bento.last_verified == date(2025, 4, 1)
    assert salon.category == "salon" and salon.fee.kind == "free"
    assert salon.last_verified == date(2025, 5, 10)  # 令和7年5月10日
    assert mobile.service_area.kind == "areas"
    assert mobile.service_area.area_ids == ["B001", "B002"]
    assert mobile.needs_location and watch.needs_location
    assert report.needs_location == [4, 5]
    assert watch.visibility == "staff" and watch.staff_fields == ["contact.tel"]


def test_excel_reads_like_csv(tmp_path):
    frame = read_resource_table(DATA / "coordinator_list_cp932.csv").frame
    xlsx = tmp_path / "list.xlsx"
    frame.to_excel(xlsx, index=False)
    report = parse_resources(read_resource_table(xlsx),
                             ImportContext(layers={"小学校区": school_districts()}))
    assert report.encoding == "xlsx" and len(report.accepted) == 4 and report.ok


def test_every_bad_row_is_reported_with_column_and_value():
    report = parse_resources(read_resource_table(DATA / "bad_rows.csv"),
                             ImportContext(layers={"小学校区": school_districts()}))
    by_row = {}
    for p in report.problems:
        by_row.setdefault(p.row, []).append((p.column, p.value))
    assert [n for n, _ in report.accepted] == [2, 11]
    assert report.needs_location == [11]
    assert by_row[3] == [("カテゴリ", "カラオケ")]
    assert ("開始時間", "25:00") in by_row[4] and ("終了時間", "26:00") in by_row[4]
    assert by_row[5] == [("利用可能曜日", "月と火")]
    assert by_row[6][0][0] == "緯度" and "swapped" in next(
        p.reason for p in report.problems if p.row == 6)
    assert by_row[7] == [("対応エリア", "菰田小学校区、幻小学校区")]
    assert "幻小学校区" in next(p.reason for p in report.problems if p.row == 7)
    assert by_row[8] == [("ID", "B1")]
    assert by_row[9][0][0] == "名称"
    assert by_row[10][0][0] == "緯度"
    assert report.rejected_rows == [3, 4, 5, 6, 7, 8, 9, 10]


def test_import_is_all_or_nothing_by_default(store):
    table = read_resource_table(DATA / "bad_rows.csv")
    report = import_resources(store, table)
    assert not report.ok and report.written == 0 and store.count() == 0
    report = import_resources(store, table, partial=True, user="sato")
    assert report.written == 2 and store.count() == 2
    assert store.history("B1")[0].action == "import"


def test_dry_run_writes_nothing(store):
    report = import_resources(store, read_resource_table(DATA / "coordinator_list_cp932.csv"),
                              dry_run=True)
    assert report.ok and len(report.accepted) == 4 and report.written == 0
    assert store.count() == 0
    assert "dry run" in report.summary()


def test_import_then_query(store):
    report = import_resources(store, read_resource_table(DATA / "coordinator_list_cp932.csv"))
    assert report.written == 4
    assert store.list().total == 3  # 見守り隊 is staff-only
    assert store.list(ResourceFilter(include_staff=True)).total == 4
    # a point in 菰田小学校区 is served by the city-wide bento and the mobile sales
    served = {r.name for r in store.list(ResourceFilter(serves=(130.69, 33.63))).items}
    assert served == {"まごころ弁当", "移動スーパーいいづか"}


def test_existing_id_is_a_row_problem(store):
    table = read_resource_table(DATA / "bad_rows.csv")
    import_resources(store, table, partial=True)
    again = import_resources(store, table, partial=True)
    assert ("ID", "B1") in [(p.column, p.value) for p in again.problems if p.row == 2]


def test_export_round_trip_csv_and_xlsx(store, tmp_path):
    import_resources(store, read_resource_table(DATA / "coordinator_list_utf8bom.csv"))
    original = {r.id: r for r in store.all(ResourceFilter(include_staff=True))}
    for suffix in (".csv", ".xlsx"):
        path = export_resources(original.values(), tmp_path / f"out{suffix}", public=False,
                                layers=store.layers)
        report = parse_resources(read_resource_table(path),
                                 ImportContext(layers=store.layers))
        assert report.ok, report.summary()
        again = {r.id: r for _, r in report.accepted}
        assert again.keys() == original.keys()
        for rid, r in original.items():
            keep = {"created_at", "updated_at", "version", "deleted", "id"}
            a = r.model_dump(exclude=keep)
            b = again[rid].model_dump(exclude=keep)
            # the schedule text gains the 定休日/時間 notes once; compare the parsed parts
            a["schedule"].pop("text"), b["schedule"].pop("text")
            assert a == b, rid


def test_public_export_leaves_out_staff_data(store, tmp_path):
    import_resources(store, read_resource_table(DATA / "coordinator_list_cp932.csv"))
    everything = store.all(ResourceFilter(include_staff=True))
    csv = export_resources(everything, tmp_path / "public.csv")
    geo = export_resources(everything, tmp_path / "public.geojson")
    text = csv.read_text(encoding="utf-8-sig") + geo.read_text(encoding="utf-8")
    assert "見守り隊" not in text and "090-0000-0004" not in text
    assert "まごころ弁当" in text
    assert json.loads(geo.read_text(encoding="utf-8"))["type"] == "FeatureCollection"


def test_cp932_export_is_readable_by_the_importer(store, tmp_path):
    import_resources(store, read_resource_table(DATA / "coordinator_list_cp932.csv"))
    path = export_resources(store.all(), tmp_path / "sjis.csv", encoding="cp932")
    table = read_resource_table(path)
    assert table.encoding == "cp932" and len(table.frame) == 3


def test_undecodable_file_names_the_file(tmp_path):
    bad = tmp_path / "latin.csv"
    bad.write_bytes("名称\n".encode() + b"\x82\xff\xfe\n")
    with pytest.raises(EncodingError, match="latin.csv"):
        read_resource_table(bad)


def test_missing_name_column_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("住所,電話\n飯塚市,0948\n", encoding="utf-8")
    with pytest.raises(InputError, match="name column") as info:
        parse_resources(read_resource_table(path))
    assert info.value.reason_ja.startswith("名称の列がありません")


@pytest.mark.parametrize("text,days", [
    ("月・水・金", ["mon", "wed", "fri"]), ("月～金", ["mon", "tue", "wed", "thu", "fri"]),
    ("平日", ["mon", "tue", "wed", "thu", "fri"]), ("土日祝", ["sat", "sun"]),
    ("月火水", ["mon", "tue", "wed"]), ("毎日", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    ("Mon, Thu", ["mon", "thu"]), ("水曜日", ["wed"]), ("", []),
])
def test_weekday_text(text, days):
    assert parse_weekdays(text) == days


@pytest.mark.parametrize("text", ["月と火", "金～月", "第2水"])
def test_bad_weekday_text(text):
    with pytest.raises(InputError):
        parse_weekdays(text)


def test_fee_and_date_text():
    assert parse_fee("無料")["kind"] == "free"
    assert parse_fee("1回 1,200円（材料費込）") == {"kind": "paid", "amount_yen": 1200,
                                                   "text": "1回 1,200円（材料費込）"}
    assert parse_fee("実費")["kind"] == "paid"
    assert parse_date("R7.4.1") == date(2025, 4, 1)
    assert parse_date("平成31年4月30日") == date(2019, 4, 30)
    assert parse_date("2025-04-01 00:00:00") == date(2025, 4, 1)
    with pytest.raises(InputError):
        parse_date("2025/2/30")


@pytest.mark.skipif(not IIZUKA.exists(), reason=f"real open-data file absent: {IIZUKA}")
def test_public_facilities_without_category_say_so_once(store):
    """A 公共施設一覧 has no category column: one message naming --category, not 155."""
    with pytest.raises(InputError, match="--category") as info:
        import_resources(store, read_resource_table(IIZUKA), dry_run=True)
    assert str(info.value).count("--category") == 1 and info.value.row is None


def test_public_facilities_barrier_free_columns_are_kept_in_notes():
    """The 公共施設一覧 barrier-free columns go into notes (with 備考), none is ignored."""
    header = "名称,緯度,経度,車椅子可,バリアフリートイレ,授乳室,備考\n"
    csv = header + "市民会館,33.64,130.69,有,有,,駐車場あり\n体育館,33.65,130.70,,,,\n"
    report = parse_resources(read_resource_table(data=csv.encode("cp932"),
                                                 filename="koukyou.csv"),
                             ImportContext(default_category="公共施設"))
    assert report.ok and report.ignored_columns == []
    notes = [r.notes for _, r in report.accepted]
    assert notes == ["駐車場あり\nバリアフリー: 車椅子可 有、バリアフリートイレ 有", None]


@pytest.mark.skipif(not IIZUKA.exists(), reason=f"real open-data file absent: {IIZUKA}")
def test_real_iizuka_public_facilities(store):
    table = read_resource_table(IIZUKA)
    assert table.encoding == "cp932"
    report = import_resources(store, table, ctx=ImportContext(default_category="公共施設",
                                                              source=IIZUKA.name))
    assert report.ok, report.summary()
    assert report.rows == 155 and report.written == 155
    raw = pd.read_csv(IIZUKA, encoding="cp932", dtype=str)
    assert store.count() == len(raw)
    komoda = store.list(ResourceFilter(keyword="菰田小学校")).items
    assert len(komoda) == 1
    r = komoda[0]
    assert r.kana == "コモダショウガッコウ"  # half-width kana normalised
    assert r.contact.tel == "0948-22-0560"
    assert (r.lat, r.lon) == pytest.approx((33.63125, 130.6928611))
    assert r.source == IIZUKA.name
    # every facility lies in 飯塚市
    xy = np.array([(r.lon, r.lat) for r in store.all() if r.lon is not None])
    assert len(xy) == 155
    assert xy[:, 0].min() > 130.5 and xy[:, 0].max() < 130.9
    assert xy[:, 1].min() > 33.5 and xy[:, 1].max() < 33.8
    assert "バリアフリートイレ" not in report.ignored_columns  # kept in notes


def test_kaigo_service_information_csv_layout():
    """A hand-made file in the 介護サービス情報公表システム open-data layout (UTF-8 BOM, CRLF)."""
    table = read_resource_table(DATA / "kaigo_jigyosho_utf8bom.csv")
    assert table.encoding == "utf-8-sig"
    report = parse_resources(table)
    assert report.ok, report.summary()
    day, visit, plan = (r for _, r in report.accepted)
    assert (day.id, day.name, day.kana) == ("4070000001", "デイサービスたていわ",
                                            "デイサービスタテイワ")
    assert day.category == visit.category == plan.category == "care_service"
    assert day.operator == "社会福祉法人たていわ会"
    assert day.schedule.weekdays == ["mon", "tue", "wed", "thu", "fri"]
    assert day.schedule.text == "祝日は休み"
    assert day.contact.fax == "0948-00-1002" and day.contact.url == "https://example.jp/tateiwa"
    assert visit.schedule.weekdays == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert plan.needs_location and report.needs_location == [4]
    assert {"定員", "方書（ビル名等）"} <= set(report.ignored_columns)


def test_pluggable_geocoder_fills_missing_locations(tmp_path):
    path = tmp_path / "no_coords.csv"
    path.write_text("名称,種別,住所\n立岩サロン,サロン,飯塚市立岩1176\n"
                    "不明サロン,サロン,どこか\n住所なし,サロン,\n", encoding="cp932")
    known = {"飯塚市立岩1176": (130.6943, 33.6522)}  # a geocoder is any address → (lon, lat)
    report = parse_resources(read_resource_table(path), ImportContext(geocoder=known.get))
    found, unknown, empty = (r for _, r in report.accepted)
    assert (found.lon, found.lat) == (130.6943, 33.6522) and not found.needs_location
    assert unknown.needs_location and empty.needs_location
    assert report.needs_location == [3, 4]
    plain = parse_resources(read_resource_table(path))  # no geocoder: all kept and flagged
    assert plain.needs_location == [2, 3, 4] and plain.ok


def test_malformed_polygons_and_stops_are_row_problems(tmp_path):
    bow_tie = ('{"type": "Polygon", "coordinates": [[[130, 33], [131, 34], [131, 33], '
               '[130, 34], [130, 33]]]}')
    frame = pd.DataFrame({
        "名称": ["壊れたJSON", "自己交差", "停留所が変", "良い行"],
        "種別": ["配食", "配食", "移動販売", "配食"],
        "対応エリア_GeoJSON": ["{not json", bow_tie, "", ""],
        "停留所": ["", "", '[{"lon": 130.7, "lat": 33.6, "weekday": "mon", "time": "25:00"}]',
                 ""],
    })
    path = tmp_path / "polygons.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    report = parse_resources(read_resource_table(path))
    reasons = {p.row: (p.column, p.reason) for p in report.problems}
    assert reasons[2][0] == "対応エリア_GeoJSON" and "JSON" in reasons[2][1]
    assert reasons[3][0] == "対応エリア_GeoJSON" and "Self-intersection" in reasons[3][1]
    assert reasons[4][0] == "停留所" and "impossible clock time" in reasons[4][1]
    assert [n for n, _ in report.accepted] == [5]


def test_yearly_update_round_refreshes_only_the_columns_in_the_file(store, tmp_path):
    import_resources(store, read_resource_table(DATA / "coordinator_list_utf8bom.csv"))
    before = {r.name: r for r in store.all(ResourceFilter(include_staff=True))}
    bento = before["まごころ弁当"]
    # Staff-only data that a public export leaves out must survive the round trip.
    store.update(bento.id, {"staff_notes": "鍵の場所は職員のみ", "contact": {
        **bento.contact.model_dump(), "fax": "0948-99-9999"},
        "staff_fields": ["contact.fax", "location"]})
    public = [r for r in store.all(ResourceFilter(include_staff=True)) if r.visibility == "public"]
    path = export_resources(public, tmp_path / "public.csv")  # the public view
    table = read_resource_table(path)
    frame = table.frame
    name_col = next(c for c in frame.columns if frame[c].eq("まごころ弁当").any())
    fee_col = next(c for c in frame.columns if frame[c].astype(str).str.contains("500円").any())
    frame.loc[frame[name_col] == "まごころ弁当", fee_col] = "1食550円"
    # Without update mode the existing ids are row problems and nothing is written.
    refused = import_resources(store, table)
    assert refused.written == 0 and refused.updated == 0
    assert any("already exists" in p.reason for p in refused.problems)
    dry = import_resources(store, table, update=True, dry_run=True)
    assert dry.ok and len(dry.to_update) == len(public) and dry.updated == 0
    report = import_resources(store, table, update=True)
    assert report.ok, report.summary()
    assert (report.written, report.updated) == (0, len(public))
    after = store.get(bento.id)
    assert after.fee.amount_yen == 550
    # Staff-only values (left blank by the public export) are kept, location included.
    assert after.staff_notes == "鍵の場所は職員のみ" and after.contact.fax == "0948-99-9999"
    assert (after.lon, after.lat) == (bento.lon, bento.lat)
    assert after.created_at == bento.created_at
    assert "import-update" in [h.action for h in store.history(bento.id)]
    assert len(store.all(ResourceFilter(include_staff=True))) == len(before)  # no duplicates


def test_mobile_sales_stop_outside_the_region_is_a_row_problem(tmp_path):
    frame = pd.DataFrame({
        "名称": ["移動販売A", "移動販売B"], "種別": ["移動販売", "移動販売"],
        "停留所": ['[{"lon": 130.69, "lat": 33.65, "weekday": "mon", "time": "10:00"}]',
                 '[{"lon": 130.69, "lat": 33.65, "weekday": "mon", "time": "10:00"}, '
                 '{"lon": 131.5, "lat": 33.65, "weekday": "tue", "time": "11:00"}]'],
    })
    path = tmp_path / "stops.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    report = parse_resources(read_resource_table(path),
                             ImportContext(region_bounds=(130.6, 33.6, 130.8, 33.7)))
    assert [n for n, _ in report.accepted] == [2]
    (problem,) = report.problems
    assert (problem.row, problem.column) == (3, "停留所") and "stop 2" in str(problem.value)
    assert "outside the region" in problem.reason


# --------------------------------------------------------------------------- areas
# A coordinator's import: each row's area comes from geography as for a single edit (the
# location, else the first 移動販売 stop); 担当圏域 is optional, an id or a name, and must
# agree; every row is checked against the importing coordinator's areas.


@pytest.fixture(params=BACKENDS)
def grid_store(request, tmp_path):
    """A registry serving the grid region: 小学校区 W, M, E (西/中/東小学校) as strips."""
    from geo_service.service.walking import serve_region
    from tests.utils.grid import grid_region

    s = backend_store(request.param, tmp_path)
    serve_region(s, grid_region())
    return s


def grid_csv(rows: list[dict[str, object]], name: str = "list.csv") -> RawTable:
    """A table as read from a CSV of ``rows`` (grid-local x, y become 経度, 緯度)."""
    from tests.utils.grid import lonlat

    out = []
    for row in rows:
        row = dict(row)
        if "x" in row:
            lon, lat = lonlat(row.pop("x"), row.pop("y"))
            row |= {"緯度": lat, "経度": lon}
        out.append(row)
    data = pd.DataFrame(out).fillna("").to_csv(index=False).encode("utf-8")
    return read_resource_table(data=data, filename=name)


def west(**kw) -> ImportContext:
    """The context of an import by the coordinator of W (西小学校)."""
    return ImportContext(allowed_areas=frozenset({"W"}), **kw)


def test_a_coordinator_imports_their_own_list_without_an_area_column(grid_store):
    table = grid_csv([{"名称": "西のサロン", "カテゴリ": "サロン", "x": 100, "y": 500},
                      {"名称": "西の食堂", "カテゴリ": "サロン", "x": 200, "y": 900}])
    report = import_resources(grid_store, table, ctx=west(), user="nishi")
    assert report.ok, report.summary()
    assert report.written == 2
    assert {r.area for r in grid_store.all()} == {"W"}


@pytest.mark.parametrize("given", ["W", "西小学校", "西", "西小学校区", "  ｗ "])
def test_the_area_column_takes_ids_and_names(grid_store, given):
    table = grid_csv([{"名称": "西のサロン", "カテゴリ": "サロン", "x": 100, "y": 500,
                       "担当圏域": given},
                      {"名称": "電話相談", "カテゴリ": "相談窓口", "担当圏域": given}])
    report = import_resources(grid_store, table, ctx=west())
    assert report.ok, report.summary()
    assert [r.area for r in grid_store.all()] == ["W", "W"]


def test_the_area_column_must_agree_with_the_location(grid_store):
    table = grid_csv([{"名称": "東のサロン", "カテゴリ": "サロン", "x": 900, "y": 500,
                       "担当圏域": "西小学校"}], name="higashi.csv")
    report = import_resources(grid_store, table)  # even an admin's
    (problem,) = report.problems
    assert (problem.file, problem.row, problem.column, problem.value) == (
        "higashi.csv", 2, "担当圏域", "西小学校")
    assert "東小学校 (E)" in problem.reason and "東小学校 (E)" in problem.reason_ja
    assert "higashi.csv, row 2, column '担当圏域', value '西小学校'" in str(problem)
    assert report.written == 0 and grid_store.count() == 0


def test_an_unknown_area_is_a_row_problem_listing_the_areas(grid_store):
    table = grid_csv([{"名称": "電話相談", "カテゴリ": "相談窓口", "担当圏域": "北小学校"}])
    (problem,) = import_resources(grid_store, table).problems
    assert problem.column == "担当圏域" and problem.value == "北小学校"
    assert "西小学校 (W)" in problem.reason_ja and "西小学校 (W)" in problem.reason


def test_a_route_without_a_location_takes_its_first_stops_area(grid_store):
    from tests.utils.grid import lonlat

    lon, lat = lonlat(900, 100)
    stops = json.dumps([{"lon": lon, "lat": lat, "weekday": "mon", "time": "10:00"}])
    table = grid_csv([{"名称": "移動販売", "カテゴリ": "移動販売", "停留所": stops}])
    refused = import_resources(grid_store, table, ctx=west())
    (problem,) = refused.problems
    assert problem.column == "停留所" and "東小学校 (E)" in problem.reason_ja
    assert import_resources(grid_store, table).written == 1
    assert grid_store.all()[0].area == "E"


def test_a_coordinator_cannot_import_into_another_area(grid_store):
    """The area of a row comes from where it is, not from its 担当圏域 cell: a row in E is
    refused to W's coordinator whatever the cell says, and nothing of the file is written."""
    table = grid_csv([{"名称": "西のサロン", "カテゴリ": "サロン", "x": 100, "y": 500},
                      {"名称": "東のサロン", "カテゴリ": "サロン", "x": 900, "y": 500,
                       "担当圏域": "W"},
                      {"名称": "東の食堂", "カテゴリ": "サロン", "x": 900, "y": 300},
                      {"名称": "どこか", "カテゴリ": "相談窓口"}], name="nishi.csv")
    report = import_resources(grid_store, table, ctx=west())
    by_row = {p.row: p for p in report.problems}
    assert sorted(by_row) == [3, 4, 5]
    assert by_row[3].column == "担当圏域"  # disagrees with the location (in E)
    assert by_row[4].column == "緯度" and "東小学校 (E)" in by_row[4].reason_ja
    assert "西小学校 (W)" in by_row[4].reason_ja  # the coordinator's own areas
    assert by_row[5].column == "担当圏域" and by_row[5].value == ""
    assert report.written == 0 and grid_store.count() == 0


def test_a_coordinator_cannot_take_over_another_areas_resource_by_update(grid_store):
    from tests.utils.grid import lonlat

    east = grid_store.add(ResourceFields(name="東のサロン", category="サロン",
                                         **dict(zip(("lon", "lat"), lonlat(900, 500),
                                                    strict=True))))
    table = grid_csv([{"ID": east.id, "名称": "西のサロン", "カテゴリ": "サロン",
                       "x": 100, "y": 500}])
    report = import_resources(grid_store, table, ctx=west(), update=True)
    (problem,) = report.problems
    assert (problem.column, problem.value) == ("ID", east.id)
    assert "東小学校 (E)" in problem.reason_ja
    assert grid_store.get(east.id).area == "E" and grid_store.get(east.id).name == "東のサロン"
    # the admin may; and W's coordinator may update it once it is in W
    assert import_resources(grid_store, table, update=True).updated == 1
    assert grid_store.get(east.id).area == "W"
    assert import_resources(grid_store, table, ctx=west(), update=True).ok


def test_a_file_name_longer_than_a_source_is_shortened(grid_store):
    name = "令和7年度_" + "あ" * 600 + ".csv"
    table = grid_csv([{"名称": "西のサロン", "カテゴリ": "サロン", "x": 100, "y": 500}],
                     name=name)
    report = import_resources(grid_store, table, ctx=ImportContext(source=name))
    assert report.ok, report.summary()
    (r,) = grid_store.all(ResourceFilter(include_staff=True))
    assert len(r.source) == 500 and r.source.startswith("令和7年度_あ")
    assert r.source.endswith("….csv")


def test_a_coordinator_uploads_their_list_and_reads_why_in_japanese(grid_store, tmp_path,
                                                                     fast_hashes):
    """Through the API as on the staff page: the coordinator of 西 (a name, as
    ``users add --area`` takes it) checks and imports a list without 担当圏域 whose file
    name is longer than a source may be; a row in 東 is refused in Japanese and English."""
    add_user(grid_store, "nishi", "nishi-pass-1", areas=["西"])
    client = api_client(grid_store, tmp_path)
    headers = bearer(client, "nishi", "nishi-pass-1")

    def upload(rows, name, **params):
        data = grid_csv(rows).frame.to_csv(index=False).encode()
        return client.post("/resources/import", params=params, headers=headers,
                           files={"file": (name, data, "text/csv")})

    mine = [{"名称": "西のサロン", "カテゴリ": "サロン", "x": 100, "y": 500},
            {"名称": "西の食堂", "カテゴリ": "サロン", "x": 200, "y": 900}]
    long_name = "西地区_" + "資源一覧" * 200 + ".csv"
    r = upload(mine, long_name, dry_run="true")
    assert r.status_code == 200, r.text
    assert (r.json()["problems"], r.json()["valid"]) == ([], 2)
    assert upload(mine, long_name).json()["written"] == 2
    assert {x.area for x in grid_store.all()} == {"W"}
    r = upload([{"名称": "東のサロン", "カテゴリ": "サロン", "x": 900, "y": 500}], "higashi.csv",
               dry_run="true")
    (problem,) = r.json()["problems"]
    assert (problem["row"], problem["column"]) == (2, "緯度")
    assert problem["reason_ja"].startswith("東小学校 (E) の資源です")
    assert "not in your areas (西小学校 (W))" in problem["reason"]


def test_an_update_row_is_checked_again_under_the_write_lock(grid_store):
    """The rows are checked first, the resources written after: a resource moved out of the
    coordinator's areas in between refuses the import (nothing written), as a PATCH would."""
    from geo_service.registry.auth import PermissionDeniedError
    from tests.utils.grid import lonlat

    r = grid_store.add(ResourceFields(name="西のサロン", category="サロン",
                                      **dict(zip(("lon", "lat"), lonlat(100, 500),
                                                 strict=True))))
    as_checked = grid_store.get(r.id)  # in W when the rows are checked …
    grid_store.update(r.id, dict(zip(("lon", "lat"), lonlat(900, 500), strict=True)),
                      user="admin")  # … moved to E by an admin before they are written
    table = grid_csv([{"ID": r.id, "名称": "新しい名前", "カテゴリ": "サロン"},
                      {"名称": "西の食堂", "カテゴリ": "サロン", "x": 200, "y": 900}])
    with pytest.raises(PermissionDeniedError, match="now in area 'E'"):
        import_resources(grid_store, table, update=True,
                         ctx=west(current=lambda rid: as_checked if rid == r.id else None))
    assert grid_store.get(r.id).name == "西のサロン" and grid_store.count() == 1


def test_every_problem_of_a_bad_list_is_worded_in_japanese_too():
    """What a coordinator reads on the Japanese page: each refused row's reason in
    Japanese, the English beside it (the CLI prints 「日本語 (English)」)."""
    report = parse_resources(read_resource_table(DATA / "bad_rows.csv"),
                             ImportContext(layers={"小学校区": school_districts()}))
    assert len(report.problems) >= 8
    assert [str(p) for p in report.problems if not p.reason_ja] == []
    by_row = {p.row: p for p in report.problems}
    assert by_row[3].reason_ja.startswith("そのカテゴリはありません")
    assert "幻小学校区" in by_row[7].reason_ja
    assert f"{by_row[3].reason_ja} ({by_row[3].reason})" in str(by_row[3])


@pytest.mark.parametrize("file,source", [
    ("list.csv", "list.csv"), ("C:\\Users\\sato\\資源一覧.xlsx", "資源一覧.xlsx"),
    ("/tmp/uploads/名簿.csv", "名簿.csv"), ("名\x01簿\ufffe.csv", "名簿.csv"),
    ("あ" * 498 + ".csv", "あ" * 495 + "….csv"), ("あ" * 496 + ".csv", "あ" * 496 + ".csv"),
])
def test_source_name_of_a_file(file, source):
    from geo_service.registry.imports import source_name
    from geo_service.registry.resources import validate_resource

    assert source_name(file) == source and len(source) <= 500
    validate_resource({"name": "x", "category": "サロン", "source": source}, ResourceFields)
