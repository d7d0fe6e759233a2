"""The command line's tables on a narrow terminal (:func:`geo_service.cli.common.print_table`):
numbers never broken, Japanese headers folded rather than cut with "…", names kept whole,
English header words whole when the table fits so."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from geo_service.cli import common
from geo_service.cli.main import app

HEADERS = {"ja": ["65歳以上", "500m超", "配食", "宅配", "移動販売", "残るギャップ", "割合",
                  "割合順"],
           "en": ["people 65+", "beyond 500 m", "Meal delivery", "Home delivery",
                  "Mobile sales", "gap", "share", "rank by share"]}
ROWS = [["山手小学校", "4,820", "4,282", "4,282", "0", "781", "[bold]0[/]", "0.0 %", "1"],
        ["門司海青小学校", "14,879", "11,963", "1,963", "0", "0", "[bold]10[/]", "12.5 %", "2"]]


def _printed(lang: str, width: int, monkeypatch) -> tuple[str, Table]:
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=width))
    table = Table(title="小学校区")
    table.add_column("人数順" if lang == "ja" else "rank by count", justify="right")
    table.add_column("区域" if lang == "ja" else "area", no_wrap=True)
    for h in HEADERS[lang]:
        table.add_column(h, justify="right", overflow="fold")
    for k, row in enumerate(ROWS):
        table.add_row(str(k + 1), *row)
    common.print_table(table)
    return out.getvalue(), table


@pytest.mark.parametrize(("lang", "width"), [("ja", 80), ("en", 80), ("ja", 120), ("en", 120)])
def test_numbers_and_names_whole_headers_folded_not_cut(lang, width, monkeypatch):
    text, table = _printed(lang, width, monkeypatch)
    assert all(cell_len(line) <= width for line in text.splitlines()), text
    assert "…" not in text
    for number in ("4,820", "14,879", "11,963", "4,282", "12.5 %", "781"):
        assert number in text, (number, text)
    assert "山手小学校" in text and "門司海青小学校" in text
    for column, original in zip(table.columns[2:], HEADERS[lang], strict=True):
        assert str(column.header).replace("\n", "").replace(" ", "") == original.replace(
            " ", ""), (original, column.header)


def test_english_header_words_whole_when_the_table_fits(monkeypatch):
    text, _ = _printed("en", 120, monkeypatch)
    for word in ("delivery", "people", "beyond", "Mobile", "share"):
        assert word in text, text
    narrow, _ = _printed("en", 80, monkeypatch)
    assert "delivery" not in narrow  # folded: the numbers and names come first


def test_the_gaps_table_on_an_80_column_terminal_in_japanese(monkeypatch):
    """The demo's gap table at 80 columns: every count whole (4,282 was 4,28 and 2)."""
    monkeypatch.setenv("GEO_SERVICE_LANG", "ja")
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=80))
    r = CliRunner().invoke(app, ["gaps"])
    assert r.exit_code == 0, r.output
    table = "\n".join(line for line in out.getvalue().splitlines() if line[:1] in "┃│")
    assert "4,282" in table and "4,820" in table and "…" not in table
    assert "山手小学校" in table and "残る" in table
