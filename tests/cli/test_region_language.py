"""``region build`` speaks the user's language: Japanese only under a Japanese locale,
English otherwise (it printed both, 「作成しました (region built)」, on every line). The
sources' publishers, editions and attribution wording are data and stay as published.
Needs ../shared/data (飯塚市's e-Stat files)."""

from __future__ import annotations

from rich.console import Console
from typer.testing import CliRunner

from geo_service.cli.main import app
from tests.cli.test_cli_language import EN, JA
from tests.jobs.test_region_build import _args

runner = CliRunner()


def test_region_build_prints_japanese_or_english(tmp_path, monkeypatch):
    monkeypatch.setattr("geo_service.cli.common.console", Console(width=400))
    monkeypatch.setattr("geo_service.cli.region.console", Console(width=400))
    ja = runner.invoke(app, _args(tmp_path / "ja"), env=JA)
    assert ja.exit_code == 0, ja.output
    lines = ja.output.splitlines()
    assert lines[0] == f"飯塚市（市区町村コード 40205）を作成しました：{tmp_path / 'ja'}"
    assert lines[1].startswith("  道路網 ") and lines[1].endswith("65歳以上 39,727 人")
    assert "  区域 町丁：149" in lines and "出典：" in lines
    assert "  人口：tblT001082C40205.txt — 政府統計の総合窓口(e-Stat)（総務省統計局）" in ja.output
    assert "  道路網：生成した格子状の道路網（300 m 間隔）  ［生成・実データではありません］" \
        in ja.output
    assert "注意：道路網は生成した格子です（実在の道路ではありません）" in ja.output
    for english in ("region built", "streets", "nodes", "sources", "people 65+", "synthetic",
                    "note"):
        assert english not in ja.output, english
    en = runner.invoke(app, _args(tmp_path / "en"), env=EN)
    assert en.exit_code == 0, en.output
    lines = en.output.splitlines()
    assert lines[0] == f"飯塚市 (municipality code 40205) built: {tmp_path / 'en'}"
    assert lines[1].startswith("  streets ") and lines[1].endswith("people 65+ 39,727")
    assert "  areas 町丁: 149" in lines and "sources:" in lines
    assert "  population: tblT001082C40205.txt — 政府統計の総合窓口(e-Stat)" in en.output
    assert "“出典：政府統計の総合窓口(e-Stat)”" in en.output  # the wording its terms require
    assert "  (generated, not real data)" in en.output
    assert "note: the streets are a generated grid (not real streets)" in en.output
    for japanese in ("作成しました", "節点", "居住地点", "注意", "区域 町丁：", "出典 ("):
        assert japanese not in en.output, japanese
