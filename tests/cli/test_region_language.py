"""``region build`` speaks the user's language: Japanese only under a Japanese locale,
English otherwise (it printed both, 「作成しました (region built)」, on every line). The
sources' publishers, editions and attribution wording are data and stay as published.
Needs ../shared/data (飯塚市's e-Stat files)."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from geo_service.cli.main import app
from tests.cli.test_cli_language import EN, JA
from tests.jobs.test_region_build import _args

runner = CliRunner()
#: per language: the first line (after the folder), how the second starts and ends, lines
#: and texts that must be there, and words of the other language that must not
EXPECTED = {
    "ja": (JA, "飯塚市（市区町村コード 40205）を作成しました：",
           ("  道路網 ", "65歳以上 39,727 人"),
           ["  区域 町丁：149", "出典："],
           ["  人口：tblT001082C40205.txt — 政府統計の総合窓口(e-Stat)（総務省統計局）",
            "  道路網：生成した格子状の道路網（300 m 間隔）  ［生成・実データではありません］",
            "注意：道路網は生成した格子です（実在の道路ではありません）",
            "「出典：政府統計の総合窓口(e-Stat)」"],
           ["region built", "streets", "nodes", "sources", "people 65+", "synthetic", "note"]),
    "en": (EN, "飯塚市 (municipality code 40205) built: ", ("  streets ", "people 65+ 39,727"),
           ["  areas 町丁: 149", "sources:"],
           ["  population: tblT001082C40205.txt — 政府統計の総合窓口(e-Stat)",
            "  (generated, not real data)",
            "note: the streets are a generated grid (not real streets)",
            "“出典：政府統計の総合窓口(e-Stat)”"],  # the wording its terms require
           ["作成しました", "節点", "居住地点", "注意", "区域 町丁：", "出典 ("]),
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_region_build_prints_one_language(tmp_path, monkeypatch, lang):
    env, first, (starts, ends), lines_in, texts_in, absent = EXPECTED[lang]
    monkeypatch.setattr("geo_service.cli.common.console", Console(width=400))
    monkeypatch.setattr("geo_service.cli.region.console", Console(width=400))
    result = runner.invoke(app, _args(tmp_path / lang), env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{first}{tmp_path / lang}"
    assert lines[1].startswith(starts) and lines[1].endswith(ends), lines[1]
    assert all(line in lines for line in lines_in)
    for text in texts_in:
        assert text in result.output, text
    for word in absent:
        assert word not in result.output, word
