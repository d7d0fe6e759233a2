"""The command line speaks the user's language: Japanese for a Japanese locale (``LANG``,
``LC_ALL``, ``LC_MESSAGES``), English otherwise, ``GEO_SERVICE_LANG`` overriding both —
errors, summaries and notes alike (the help texts: tests/test_i18n_catalogue.py runs a
fresh process, as Typer reads them when the command line is loaded)."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from geo_service.cli.main import app
from geo_service.i18n import current_language
from tests.conftest import ROOT

runner = CliRunner()
JA = {"LANG": "ja_JP.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "GEO_SERVICE_LANG": ""}
EN = {"LANG": "en_US.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "GEO_SERVICE_LANG": ""}


@pytest.fixture
def wide(monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path))
    for module in ("common", "gaps", "siting"):
        monkeypatch.setattr(f"geo_service.cli.{module}.console", Console(width=400))
    monkeypatch.setattr("geo_service.cli.common.err_console", Console(width=400, stderr=True))
    return tmp_path


def test_gaps_in_japanese_and_in_english(wide):
    ja = runner.invoke(app, ["gaps"], env=JA)
    assert ja.exit_code == 0, ja.output
    assert "合計：65歳以上" in ja.output and "代わりの手段：" in ja.output
    assert "注意：バス停は数えていません（GTFS データ（--gtfs）の指定がありません）" in ja.output
    assert "デモの登録簿：資源 19件（合成）" in ja.output
    assert "stop(s)" not in ja.output and "resource" not in ja.output
    en = runner.invoke(app, ["gaps"], env=EN)
    assert en.exit_code == 0, en.output
    assert "total: people 65+" in en.output and "alternatives:" in en.output
    assert "note: bus stops not counted: no GTFS feed given (--gtfs)" in en.output
    assert "合計" not in en.output and "注意" not in en.output
    assert current_language() == "en"  # the language is the command's, not the process's


def test_geo_service_lang_overrides_the_locale(wide):
    r = runner.invoke(app, ["gaps", "--alternative", "mobile_sales"],
                      env={**EN, "GEO_SERVICE_LANG": "ja"})
    assert "合計：65歳以上" in r.output
    r = runner.invoke(app, ["gaps", "--alternative", "mobile_sales"],
                      env={**JA, "LC_ALL": "C.UTF-8"})  # LC_ALL before LANG, as gettext
    assert "total: people 65+" in r.output


def test_an_input_error_in_either_language(wide):
    r = runner.invoke(app, ["site", "--need", "food_store", "--grid", "250",
                            "--candidates", "x.csv"], env=JA)
    assert r.exit_code == 2
    assert ("入力エラー：列「--grid」、値 250.0：--candidates と --grid はどちらか一方だけを"
            "指定してください") in r.output
    r = runner.invoke(app, ["site", "--need", "food_store", "--grid", "250",
                            "--candidates", "x.csv"], env=EN)
    assert r.exit_code == 2
    assert ("input error: column '--grid', value 250.0: give either --candidates or --grid, "
            "not both") in r.output


def test_the_demo_summary_in_either_language(wide):
    ja = runner.invoke(app, ["demo", "--out", str(wide / "d")], env=JA)
    assert ja.exit_code == 0, ja.output
    assert "これは合成デモデータです（実在の町ではありません）。" in ja.output
    assert "買い物環境 — 結果の要約" in ja.output and "所要時間" in ja.output
    assert "Shopping access" not in ja.output and "synthetic demo" not in ja.output
    en = runner.invoke(app, ["demo", "--out", str(wide / "d")], env=EN)
    assert en.exit_code == 0, en.output
    assert "This is synthetic demo data, not a real town." in en.output
    assert "Shopping access: summary" in en.output and "run time" in en.output


def test_an_import_check_in_either_language(wide, monkeypatch):
    """The import summary and each row's problem in the user's language only (they were
    English lines with Japanese-and-English reasons)."""
    from tests.conftest import TEST_DATA

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{wide / 'r.sqlite3'}")
    bad = str(TEST_DATA / "registry" / "bad_rows.csv")
    ja = runner.invoke(app, ["import", "resources", bad, "--dry-run"], env=JA)
    assert ja.exit_code == 2
    assert "10行、正しい行 2、受け付けない行 8、位置が必要な行 1" in ja.output
    assert "確認のみ：何も書き込んでいません" in ja.output
    assert "10行目、列「緯度」：緯度と経度は両方書くか、両方空欄にしてください" in ja.output
    assert "give both lon and lat" not in ja.output and "rejected" not in ja.output
    en = runner.invoke(app, ["import", "resources", bad, "--dry-run"], env=EN)
    assert "10 rows, 2 valid, 8 rejected, 1 need a location" in en.output
    assert "row 10, column '緯度': latitude and longitude must both be given" in en.output
    assert "緯度と経度は両方" not in en.output


def test_a_missing_area_layer_in_either_language(wide):
    ja = runner.invoke(app, ["coverage", "--layer", "村"], env=JA)
    assert ja.exit_code == 2 and "入力エラー：区域レイヤ '村' はありません。" in ja.output
    en = runner.invoke(app, ["coverage", "--layer", "村"], env=EN)
    assert en.exit_code == 2 and "input error: no area layer '村'; layers:" in en.output


KSJ = str(ROOT / "tests" / "data" / "ksj_projection" / "1km_mesh_2018_40.geojson")


def test_a_projection_scenario_in_either_language(wide):
    """A scenario with the hand-made 将来推計人口 file (its meshes lie in 飯塚, not in the
    demo town: every point keeps today's count, 12,540 people 65+ in 9 meshes): its notes
    and a year the file lacks, in Japanese and in English."""
    ja = runner.invoke(app, ["scenario", "create", "将来", "--projection", KSJ,
                             "--year", "2035"], env=JA)
    assert ja.exit_code == 0, ja.output
    assert ("注意：将来推計人口 1km_mesh_2018_40.geojson：基準年 2015年から2035年を推計"
            "（PTC_2035 / PTC_2015）") in ja.output
    assert ("注意：将来推計人口 1km_mesh_2018_40.geojson：65歳以上 12,540人の住む 9メッシュが"
            "ファイルにありません。現在の人数のままです") in ja.output
    assert "注意：projection" not in ja.output
    en = runner.invoke(app, ["scenario", "create", "future", "--projection", KSJ,
                             "--year", "2035"], env=EN)
    assert en.exit_code == 0, en.output
    assert ("note: projection 1km_mesh_2018_40.geojson: 9 meshes with 12,540 people 65+ are "
            "not in the file; they keep today's counts") in en.output
    years = "2015, 2020, 2025, 2030, 2035, 2040, 2045, 2050"
    ja = runner.invoke(app, ["scenario", "create", "x", "--projection", KSJ,
                             "--year", "2099"], env=JA)
    assert ja.exit_code == 2
    assert (f"値 2099：2099年の65歳以上人口の列がありません。ファイルの年は {years} です"
            in ja.output)
    en = runner.invoke(app, ["scenario", "create", "x", "--projection", KSJ,
                             "--year", "2099"], env=EN)
    assert f"value 2099: no 65+ column for 2099; the file has the years {years}" in en.output
