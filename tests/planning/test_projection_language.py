"""A projection's errors and notes in Japanese and in English: the notes are catalogue
messages, shown in the reader's language by the API's scenario answers, the 地域カルテ
and the command line (they were English f-strings, and ``answers`` could not show a
plain string note in Japanese)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_service.planning.projection import ProjectionError, load_projection
from geo_service.planning.scenarios import Scenario, save_scenario
from tests.api.test_api_coverage import app_parts  # noqa: F401  (the grid app fixture)
from tests.utils.grid import grid_region

KSJ = Path(__file__).resolve().parents[1] / "data" / "ksj_projection" / "1km_mesh_2018_40.geojson"


def test_a_missing_year_is_refused_in_both_languages():
    with pytest.raises(ProjectionError) as caught:
        load_projection(KSJ, grid_region(), year=2099)
    error = caught.value
    assert error.column == "PTC_2099" and error.value == 2099
    years = "2020, 2025, 2030, 2035, 2040, 2045, 2050"
    assert error.text("en").endswith(f"no 65+ column for 2099; the file has the years "
                                     f"2015, {years}")
    assert error.text("ja").endswith(f"：2099年の65歳以上人口の列がありません。ファイルの年は "
                                     f"2015, {years} です")
    assert "1km_mesh_2018_40.geojson、列「PTC_2099」、値 2099" in error.text("ja")


def test_the_notes_of_a_mesh_file_in_both_languages():
    """The hand-made 国土数値情報 file's four meshes lie around 飯塚駅, none under the
    grid: every demand point (121 people 65+) keeps today's count, and the notes say so."""
    notes = load_projection(KSJ, grid_region(), year=2035).notes
    first, missing = (n.text("ja") for n in notes)
    assert first == ("将来推計人口 1km_mesh_2018_40.geojson：基準年 2015年から2035年を推計"
                     "（PTC_2035 / PTC_2015）")
    assert missing.startswith("将来推計人口 1km_mesh_2018_40.geojson：65歳以上 121人の住む ")
    assert missing.endswith("メッシュがファイルにありません。現在の人数のままです")
    assert notes[0].text("en") == ("projection 1km_mesh_2018_40.geojson: 2035 from its base "
                                   "year 2015 (PTC_2035 / PTC_2015)")
    assert "people 65+ are not in the file" in notes[1].text("en")


def test_a_saved_projection_scenario_is_shown_in_the_readers_language(
        app_parts, tmp_path):  # noqa: F811
    """GET /scenarios/{name} of a scenario made with the CLI (a per-area factor table:
    西小学校区 W doubles its 33 people 65+) answers its notes in Japanese or English."""
    client, _, _ = app_parts
    table = tmp_path / "factors.csv"
    table.write_text("area_id,factor_65plus\nW,2.0\nM,1.0\nE,1.0\n", encoding="utf-8")
    folder = tmp_path / "scenarios" / client.app.state.geo.walking.region.key
    save_scenario(Scenario.from_dict({"name": "将来", "changes": [
        {"kind": "projection", "file": str(table), "year": 2035, "layer": "小学校区"}]}),
        folder)
    ja = client.get("/scenarios/将来", headers={"Accept-Language": "ja"})
    en = client.get("/scenarios/将来", headers={"Accept-Language": "en"})
    assert ja.status_code == 200 and en.status_code == 200, (ja.text, en.text)
    rows = {a["area_id"]: a for a in ja.json()["areas"]}
    assert rows["W"]["pop_65plus_before"] == 33 and rows["W"]["pop_65plus_after"] == 66
    assert rows["M"]["pop_65plus_after"] == rows["M"]["pop_65plus_before"]
    assert "将来推計人口 factors.csv：小学校区の区域ごとの2035年の倍率" in ja.json()["notes"]
    assert "projection factors.csv: factors per area of 小学校区 for 2035" in en.json()["notes"]
    assert not any("projection" in n for n in ja.json()["notes"])


def test_a_scenario_file_with_a_wrong_year_is_named_in_both_languages(tmp_path):
    """A scenario file's faults keep both languages when the file is named (they were
    English, and naming the file dropped any Japanese)."""
    from geo_service.planning.scenarios import ScenarioError, load_scenario

    path = tmp_path / "将来.json"
    path.write_text('{"name": "将来", "changes": [{"kind": "projection", "file": "p.csv", '
                    '"year": 3035}]}', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.text("ja") == (f"{path}、列「year」、値 3035.0：シナリオ「将来」の"
                                       "変更 1：2035 のような年にしてください")
    assert caught.value.text("en") == (f"{path}, column 'year', value 3035.0: scenario '将来', "
                                       "change 1: a year such as 2035")
