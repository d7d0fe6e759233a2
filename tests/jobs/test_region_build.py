"""``geo-service region build`` on 飯塚市's real files (../shared/data): e-Stat small areas and
census, the 公共施設一覧 and the GTFS-JP feeds, on a generated street grid (offline) that the
sources record as synthetic; the region loads, serves with its name and attributions, and
bad input is refused naming the file, row, column and value with nothing written.

Known from the files: the census table's own 飯塚市 row (KEY_CODE 40205, not used by the
reader, which sums the small areas) gives 126,364 people and 39,727 aged 65+; the
shapefile has 149 small areas. The N03 outline is tested on hand-made files (no
../shared needed).
"""

from __future__ import annotations

import json
import re

import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service._errors import InputError
from geo_service.api.main import create_app
from geo_service.cli.main import app
from geo_service.config import ServiceSettings
from geo_service.engine.region import Region
from geo_service.registry.store import open_store
from geo_service.service.walking import WalkingService
from tests.conftest import shared_file

runner = CliRunner()
ESTAT = "estat-iizuka-40205"
GTFS = "gtfs-iizuka-40205"
FACILITIES = "opendata-iizuka-40205/public_facilities_40205.csv"


def _args(out, **change) -> list[str]:
    table = shared_file(f"{ESTAT}/tblT001082C40205.txt")
    shp = shared_file(f"{ESTAT}/r2ka40205.shp")
    opts = {"--name": "飯塚市", "--code": "40205", "--synthetic-streets": "300"} | change
    args = ["region", "build", str(out), "--population", str(table), "--population", str(shp),
            "--gtfs", str(shared_file(f"{GTFS}/chikuho.zip")),
            "--gtfs", str(shared_file(f"{GTFS}/miyawaka.zip"))]
    for key, value in opts.items():
        args += [key] if value is True else [key, str(value)]
    return args


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The 飯塚 region built by the command, with its registry (the 公共施設一覧 imported)
    and a store list written here (its publisher given with --source)."""
    folder = tmp_path_factory.mktemp("regions")
    out = folder / "iizuka"
    stores = folder / "iizuka_stores.csv"
    stores.write_text("store_id,name,category,lon,lat\n"
                      "s1,駅前スーパー,supermarket,130.6913,33.6465\n"
                      "s2,吉原町コンビニ,convenience,130.6872,33.6412\n", encoding="utf-8")
    registry = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'r.sqlite3'}"
    result = runner.invoke(app, [
        *_args(out), "--facilities", str(shared_file(FACILITIES)), "--database-url", registry,
        "--stores", str(stores), "--source", "iizuka_stores.csv:publisher=飯塚市商工会",
        "--source", "iizuka_stores.csv:attribution=出典：飯塚市商工会 店舗一覧"])
    assert result.exit_code == 0, result.output
    return out, registry, result.output


def test_the_region_is_named_and_holds_the_census(built):
    out, _, output = built
    region = Region.load(out)
    assert (region.label, region.municipality_code) == ("飯塚市", "40205")
    assert "飯塚市（市区町村コード 40205）を作成しました" in output
    assert region.demand["pop_total"].sum() == pytest.approx(126364)
    assert region.demand["pop_65plus"].sum() == pytest.approx(39727)
    [layer] = region.areas
    assert layer.name == "町丁" and len(layer.areas) == 149
    assert sorted(p.name for p in (out / "gtfs").iterdir()) == ["chikuho.zip", "miyawaka.zip"]
    meta = json.loads((out / "region.json").read_text(encoding="utf-8"))
    assert meta["title"] == "飯塚市" and meta["municipality_code"] == "40205"


def test_sources_name_publishers_and_flag_the_generated_streets(built):
    out, _, output = built
    sources = {s.file: s for s in Region.load(out).sources}
    assert [s.role for s in sources.values() if s.synthetic] == ["道路網"]
    assert all("/" not in f for f in sources)  # file names, never a server's path
    assert sources["tblT001082C40205.txt"].attribution == "出典：政府統計の総合窓口(e-Stat)"
    assert sources["r2ka40205.shp"].edition == "令和2年（2020年）国勢調査"
    assert sources["chikuho.zip"].publisher == "福岡県飯塚市"
    assert sources["miyawaka.zip"].attribution == \
        "出典：飯塚市（宮若市・飯塚市共同運行コミュニティバス）GTFS-JP"
    assert sources["public_facilities_40205.csv"].attribution == \
        "出典：飯塚市オープンデータ（公共施設一覧）"
    streets = next(s for s in sources.values() if s.synthetic)
    assert "実在の道路ではありません" in streets.attribution
    assert "［生成・実データではありません］" in output
    assert sources["iizuka_stores.csv"].publisher == "飯塚市商工会"
    assert "155 件を台帳に登録" in output


def test_the_region_serves_with_its_name_and_attributions(built):
    out, registry, _ = built
    store = open_store(registry)
    walking = WalkingService(Region.load(out), store)
    client = TestClient(create_app(ServiceSettings(database_url=registry, secret_key="k" * 40),
                                   store=store, walking=walking))
    region = client.get("/ui/config").json()["region"]
    assert (region["name"], region["municipality_code"], region["synthetic"]) == \
        ("飯塚市", "40205", True)
    assert "出典：政府統計の総合窓口(e-Stat)" in region["attributions"]
    assert [s["file"] for s in region["sources"] if s["synthetic"]] == \
        ["生成した格子状の道路網（300 m 間隔）"]
    assert client.get("/health").json()["region"] == "飯塚市"
    for page in ("/", "/handout", "/staff", "/council", "/planner"):
        html = client.get(page).text
        assert re.search(r"<title>飯塚市 — ", html), page
        assert '<p class="gs-region-name" id="region-name">飯塚市</p>' in html, page
        footer = re.search(r'<footer class="gs-sources".*?</footer>', html).group(0)
        assert "出典：政府統計の総合窓口(e-Stat)" in footer and "実在の道路ではありません" in footer
    karte = client.get("/karte/町丁/402050010").text
    assert "飯塚市（市区町村コード 40205）" in karte
    assert "tblT001082C40205.txt（政府統計の総合窓口(e-Stat)（総務省統計局））" in karte
    assert "【生成データ・実在しません】" in karte and "出典：政府統計の総合窓口(e-Stat)" in karte
    exported = client.get("/resources/export", params={"format": "geojson"}).json()
    assert exported["metadata"]["region"] == "飯塚市"
    assert "出典：飯塚市オープンデータ（公共施設一覧）" in exported["metadata"]["attributions"]
    assert len(exported["features"]) == 155


def _refused(args, out, *needles):
    """The build refused (exit 2) in English and in Japanese, the needles in one or the
    other, nothing written."""
    outputs = []
    for lang in ("en", "ja"):
        result = runner.invoke(app, args, env={"GEO_SERVICE_LANG": lang})
        assert result.exit_code == 2, result.output
        outputs.append(result.output)
    both = "\n".join(outputs)
    for needle in needles:
        assert needle in both, (needle, both)
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}-*"))  # no temporary folder left behind
    return both


def test_a_code_that_does_not_match_the_data_is_refused(tmp_path):
    out = tmp_path / "iizuka"
    _refused(_args(out, **{"--code": "40100"}), out, "tblT001082C40205.txt",
             "column 'KEY_CODE'", "value '402050010'", "市区町村コード 40100 以外の小地域")
    _refused(_args(out, **{"--code": "402051"}), out, "wrong check digit", "検査数字が違います")


def test_missing_file_is_named_with_its_option(tmp_path):
    out = tmp_path / "iizuka"
    _refused(_args(out, **{"--facilities": tmp_path / "nothing.csv"}), out,
             "nothing.csv", "column '--facilities'", "file not found", "ファイルが見つかりません")


def test_facilities_in_a_wrong_encoding_or_layout_or_town_are_refused(tmp_path):
    out = tmp_path / "iizuka"
    real = shared_file(FACILITIES).read_bytes().decode("cp932")
    utf16 = tmp_path / "facilities_utf16.csv"
    utf16.write_bytes(real.encode("utf-16"))
    _refused(_args(out, **{"--facilities": utf16}), out, "facilities_utf16.csv",
             "NUL bytes", "UTF-16 かバイナリ")
    other = tmp_path / "columns.csv"
    other.write_text("施設,場所\n体育館,どこか\n", encoding="utf-8")
    _refused(_args(out, **{"--facilities": other}), out, "columns.csv",
             "not a 公共施設一覧", "名称・緯度・経度")
    lines = real.splitlines()
    lines[3] = lines[3].replace("402052", "402010", 1)  # the third facility: 北九州市's code
    wrong = tmp_path / "wrong_town.csv"
    wrong.write_bytes("\n".join(lines).encode("cp932"))
    _refused(_args(out, **{"--facilities": wrong}), out, "wrong_town.csv", "row 4",
             "column '全国地方公共団体コード'", "value '402010'",
             "市区町村コード 40205 ではない行です")


def test_an_existing_folder_is_kept_unless_forced(tmp_path):
    out = tmp_path / "iizuka"
    out.mkdir()
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    result = runner.invoke(app, _args(out))
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep"
    assert runner.invoke(app, [*_args(out), "--force"]).exit_code == 0
    assert not (out / "mine.txt").exists() and Region.load(out).label == "飯塚市"


def _write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        for props, geom in features]}, ensure_ascii=False), encoding="utf-8")
    return path


def test_an_n03_outline_clips_the_streets_and_names_a_wrong_code(tmp_path):
    """Hand-made files, no ../shared: two population squares of 0.02° side; the N03
    outline (行政区域コード 40205) covers only the western one, so the generated streets
    stop within 1 km of it."""
    from geo_service.jobs.region_build import RegionInputs, build_named_region

    west, east = shapely.box(130.60, 33.60, 130.62, 33.62), shapely.box(130.62, 33.60,
                                                                      130.64, 33.62)
    people = _write_geojson(tmp_path / "people.geojson", [
        ({"area_id": "w", "pop_total": 100, "pop_65plus": 40}, west),
        ({"area_id": "e", "pop_total": 50, "pop_65plus": 20}, east)])
    outline = _write_geojson(tmp_path / "N03-20240101_40.geojson", [
        ({"N03_001": "福岡県", "N03_004": "飯塚市", "N03_007": "40205"}, west)])
    inputs = RegionInputs(title="飯塚市", code="40205", outline=outline,
                          population=[people], synthetic_streets_m=200)
    region = build_named_region(inputs)
    lon, _ = region.net.to_geographic.transform(region.net.node_xy[:, 0],
                                                region.net.node_xy[:, 1])
    # 1 km east of 130.62° at 33.6° N is about 0.0108°: no street beyond 130.632°
    assert lon.max() < 130.632 and lon.min() < 130.601
    assert region.demand["pop_65plus"].sum() == pytest.approx(60)
    outline_source = next(s for s in region.sources if s.role == "行政区域")
    assert outline_source.attribution == "出典：国土交通省国土数値情報（行政区域データ）"
    with pytest.raises(InputError, match="no area with 市区町村コード 40100") as bad:
        build_named_region(RegionInputs(title="x", code="40100", outline=outline,
                                        population=[people], synthetic_streets_m=200))
    assert bad.value.column == "N03_007" and "行政区域ファイル" in bad.value.reason_ja


def test_region_show_and_the_serve_banner_name_the_region(built, monkeypatch, tmp_path):
    out, _, _ = built
    shown = runner.invoke(app, ["region", "show", str(out)])
    assert shown.exit_code == 0 and "飯塚市（市区町村コード 40205）" in shown.output
    assert "「出典：政府統計の総合窓口(e-Stat)」" in shown.output
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # the banner only
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GEO_SERVICE_DATABASE_URL", raising=False)
    # serve sets GEO_SERVICE_REGION_DIR for its workers: set here so that it is restored
    monkeypatch.setenv("GEO_SERVICE_REGION_DIR", str(out))
    banner = runner.invoke(app, ["serve", "--region", str(out)])
    assert banner.exit_code == 0, banner.output
    key = Region.load(out).key
    assert f"地域：飯塚市 ({out})" in banner.output
    assert f"registries/{key}.sqlite3" in banner.output and "<region key>" not in banner.output


def test_without_stores_the_council_data_and_kartes_say_so_and_show_the_rest(tmp_path):
    """飯塚市 built offline without --stores (as the README's walk-through): the council's
    data are the 149 areas and their people 65+ (39,727 in all, the table's own city row)
    with a note saying the food stores are missing; its kartes render without the
    shopping numbers."""
    out = tmp_path / "iizuka"
    result = runner.invoke(app, _args(out))
    assert result.exit_code == 0, result.output
    store = open_store("sqlite://")
    client = TestClient(create_app(ServiceSettings(database_url="sqlite://",
                                                   data_dir=tmp_path, secret_key="k" * 40),
                                   store=store, walking=WalkingService(Region.load(out), store)))
    body = client.get("/difficulty/町丁").json()
    assert body["note"] == "この地域には食料品店のデータがありません（--stores で追加できます）"
    assert len(body["features"]) == 149
    assert round(sum(f["properties"]["pop_65plus"] for f in body["features"])) == 39_727
    assert all(f["properties"]["beyond_share"] is None for f in body["features"])
    assert len(client.get("/profiles/町丁").json()["areas"]) == 149
    karte = client.get("/karte/町丁/402050010")
    assert karte.status_code == 200
    assert "地域カルテ：吉原町" in karte.text and "買い物の数字は出せません" in karte.text
