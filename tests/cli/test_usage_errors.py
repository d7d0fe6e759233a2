"""Usage errors in the user's language: a missing or unknown option or command, an option
without its value, a value that is not a number, an argument too many — in Japanese under
a Japanese locale (no English word but the command line's own names), Typer's English
otherwise; the exit code is Typer's (2) either way."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from geo_service.cli.main import app
from tests.cli.test_help_language import english_words
from tests.conftest import ROOT

runner = CliRunner()

#: a mistake, what the Japanese panel says, what Typer's English says
CASES = [
    ("site --k x", "'--k' の値が正しくありません：整数ではありません",
     "Invalid value for '--k': Input should be a valid integer"),
    ("gaps --threshold abc", "'--threshold' の値が正しくありません：数値ではありません",
     "Invalid value for '--threshold'"),
    ("nosuch", "'nosuch' というコマンドはありません", "No such command 'nosuch'."),
    ("gaps --neeed food", "'--neeed' というオプションはありません（'--need' のことですか？）",
     "No such option: --neeed (Possible options: --need)"),
    ("gaps --zzz", "'--zzz' というオプションはありません", "No such option: --zzz"),
    ("gaps 2026", "余分な引数があります：2026", "Got unexpected extra argument(s) (2026)"),
    ("gaps --threshold", "オプション '--threshold' には値を続けてください",
     "Option '--threshold' requires an argument."),
    ("scenario create", "引数 'name' を指定してください", "Missing argument 'name'."),
    ("difficulty", "オプション '--out' を指定してください", "Missing option '--out'."),
    ("batch", "オプション '--pbf' / '--network' を指定してください",
     "Missing option '--pbf' / '--network'."),
]


def _run(argv: str, lang: str, monkeypatch) -> tuple[int, str]:
    monkeypatch.setenv("GEO_SERVICE_LANG", lang)
    r = runner.invoke(app, argv.split(), env={"COLUMNS": "200"})
    return r.exit_code, re.sub(r"[│╭╮╰╯─]", " ", r.output)


@pytest.mark.parametrize(("argv", "ja", "en"), CASES)
def test_a_usage_error_in_japanese(argv, ja, en, monkeypatch):
    code, text = _run(argv, "ja", monkeypatch)
    assert code == 2, text
    assert ja in text and "エラー" in text and "Usage" not in text
    assert english_words(text.split("エラー", 1)[1]) == [], text


@pytest.mark.parametrize(("argv", "ja", "en"), CASES)
def test_a_usage_error_in_english(argv, ja, en, monkeypatch):
    code, text = _run(argv, "en", monkeypatch)
    assert code == 2, text
    assert en in re.sub(r"\s+", " ", text) and "Error" in text
    assert not re.search("ません|ください|ですか", text)


def test_the_console_script_words_its_usage_errors_in_the_locale():
    """A fresh ``geo-service site --k x`` under ``LANG=ja_JP.UTF-8``: the panel is worded
    where the real command line starts, not only in a test's runner."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "GEO_SERVICE_LANG")}
    r = subprocess.run([sys.executable, "-m", "geo_service.cli.main", "site", "--k", "x"],
                       env={**clean, "COLUMNS": "200", "LANG": "ja_JP.UTF-8"},
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert "'--k' の値が正しくありません：整数ではありません" in r.stderr, r.stderr
    assert re.search(r"^使い方：.* site \[OPTIONS\]$", r.stderr, re.M), r.stderr
