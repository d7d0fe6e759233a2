"""Every command's ``--help`` in the user's language (issue 18, item 3): under a Japanese
locale no English word outside a short allowlist, under an English one the English.

The help is built when Typer builds the command line, in the language of the environment
then (:mod:`geo_service.cli.help`); the in-process runs set it before each run, one run
through ``python -m geo_service.cli.main`` checks the real start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from geo_service.cli.help import english_help
from geo_service.cli.main import app
from geo_service.i18n import translations
from tests.conftest import ROOT

runner = CliRunner()


def _commands(command, path: str = "") -> list[str]:
    subs = getattr(command, "commands", {})
    return [path, *(p for name, sub in subs.items()
                    for p in _commands(sub, f"{path} {name}".strip()))]


def _names(command) -> set[str]:
    subs = getattr(command, "commands", {})
    return {*subs, *(p.name for p in command.params),
            *(n for sub in subs.values() for n in _names(sub))}


#: every command and group, as a user types it (from the command line itself)
COMMANDS = sorted(_commands(typer.main.get_command(app)))
#: the names of commands and arguments, typed as they are
NAMES = {n for name in _names(typer.main.get_command(app)) for n in (name, name.replace("_", "-"))}
#: words a Japanese reader meets as they are: formats, sources, programs, units, and the
#: values typed after an option (coordinator, count, bus …)
ALLOWED = {
    "OSM", "OpenStreetMap", "Overpass", "GTFS", "GTFS-JP", "CSV", "GeoJSON", "GPKG", "HTML",
    "PDF", "JSON", "Excel", "BOM", "GeoTIFF", "DEM", "GeoParquet", "API", "ID", "URL",
    "SQLite", "HiGHS", "MIP", "Dask", "LocalCluster", "HPC", "Chromium", "uvicorn", "e-Stat",
    "LAYER", "FILE", "FIELD", "VALUE", "METRES", "SPEC", "ROLE", "COLUMN", "NAME", "OUT",
    "HOST", "GET", "YYYY-MM-DD", "M", "m", "k", "s", "geo-service", "pip", "install",
    "coordinator", "admin", "elementary", "count", "share", "bus", "municipality", "osm",
    "convenience", "shop", "zip", "publisher", "title", "edition", "licence", "attribution",
    "url", "dask", "dask-jobqueue", "slurm", "pbs", "sge", "lsf", "srun", "mpirun",
}
#: what is syntax, not words: the usage line, options, metavars, names of files, settings,
#: categories and layers, values in quotes
SYNTAX = re.compile(r"^\s*(Usage:|使い方：).*$|--[\w-]+|<[^<>]*>|\[(x|既定)[^\]]*\]|'[^']*'|`[^`]*`"
                    r"|\S*[_/.:=~@]\S*|[A-Za-z-]*\d\w*", re.M)
WORD = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9-]*(?![\w-])")


def english_words(text: str) -> list[str]:
    """The words of ``text`` a Japanese reader would find English (see :data:`ALLOWED`)."""
    return sorted({w for w in WORD.findall(SYNTAX.sub(" ", text))
                   if w not in ALLOWED and w not in NAMES})


def help_of(command: str, monkeypatch, lang: str) -> str:
    monkeypatch.setenv("GEO_SERVICE_LANG", lang)
    monkeypatch.setenv("COLUMNS", "200")
    r = runner.invoke(app, [*command.split(), "--help"])
    assert r.exit_code == 0, r.output
    return r.output


def test_the_walk_meets_every_command():
    assert {"", "difficulty", "serve", "import", "import resources", "users add",
            "scenario create", "region build", "gtfs stops", "site"} <= set(COMMANDS)
    assert len(COMMANDS) == 27


@pytest.mark.parametrize("command", COMMANDS)
def test_help_in_japanese(command, monkeypatch):
    text = help_of(command, monkeypatch, "ja")
    assert english_words(text) == [], text
    assert "オプション" in text and "この説明を表示して終了します。" in text
    assert f"使い方：geo-service {command}".rstrip() in text and "Usage" not in text


@pytest.mark.parametrize("command", ["users add", "region build", "scenario create"])
def test_help_in_english(command, monkeypatch):
    text = help_of(command, monkeypatch, "en")
    assert "Options" in text and "Show this message and exit." in text
    assert not re.search("オプション|引数|必須|既定|ます", text)


def test_every_help_text_is_in_the_catalogue():
    """What Typer shows is what i18n_update extracted: each text is a translated message."""
    catalogue = translations("ja")
    missing = [(path, text) for path, text in english_help(app)
               if catalogue.gettext(text) == text]
    assert missing == []


def test_a_japanese_line_is_folded_not_cut(monkeypatch):
    """Rich breaks lines at spaces and cut a longer run with "…" (a Japanese sentence has
    few spaces): every help text is shown whole on a narrow terminal."""
    monkeypatch.setenv("GEO_SERVICE_LANG", "ja")
    r = runner.invoke(app, ["gaps", "--help"], terminal_width=80, env={"COLUMNS": "80"})
    flat = re.sub(r"[│\s]", "", r.output)
    catalogue = translations("ja")
    for path, text in english_help(app):
        if path.startswith("geo-service gaps "):
            assert re.sub(r"\s", "", catalogue.gettext(text)) in flat, (text, r.output)


def test_the_console_script_speaks_the_locale():
    """A fresh ``geo-service users add --help`` under ``LANG=ja_JP.UTF-8``."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "GEO_SERVICE_LANG")}
    r = subprocess.run([sys.executable, "-m", "geo_service.cli.main", "users", "add",
                        "--help"], env={**clean, "COLUMNS": "200", "LANG": "ja_JP.UTF-8"},
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "職員のユーザーを作ります" in r.stdout and "引数" in r.stdout
    assert english_words(r.stdout) == []


def test_a_commands_line_in_its_groups_help_is_one_line(monkeypatch):
    """A group's list of commands shows each command's first paragraph on one line (or
    folded to the terminal), not broken where its docstring's lines end."""
    from geo_service.cli.help import join_lines

    text = help_of("", monkeypatch, "en")
    assert re.search(r"serve +Start the web pages and the API \(uvicorn\)\. With nothing "
                     r"configured: the demo region and registry\.", text), text
    assert join_lines("a\n  b\n\nc") == "a b c"
    assert join_lines("地域の\n資源と\nAPI の\n一覧") == "地域の資源と API の一覧"
