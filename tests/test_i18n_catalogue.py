"""The message catalogue (geo_service/i18n.py, geo_service/locale/ja/…/geo_service.po):
every message of the code is translated, with the same values, and nothing else is in
it; the language choice of the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from geo_service.i18n import language_from_env, msg, msg_n, render
from geo_service.i18n_update import extract
from tests.conftest import ROOT


def _read_ja():
    from babel.messages.pofile import read_po

    path = ROOT / "geo_service" / "locale" / "ja" / "LC_MESSAGES" / "geo_service.po"
    with path.open("rb") as f:
        return read_po(f, locale="ja")


def _slots(text: str) -> list[str]:
    return sorted(re.findall(r"\{(\w+)[^{}]*\}", text))


def test_every_message_is_translated_and_nothing_is_left_over():
    """Fails until ``python -m geo_service.i18n_update`` has been run and every new
    message translated, using no value the English does not give (it may leave one out:
    the Japanese of a stale If-Match names no resource id)."""
    code = {m.id for m in extract() if m.id}
    ja = _read_ja()
    catalogue = {m.id for m in ja if m.id}
    assert sorted(map(str, code - catalogue)) == [], "not in the catalogue: run i18n_update"
    assert sorted(map(str, catalogue - code)) == [], "no longer in the code: run i18n_update"
    for m in ja:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings) and not m.fuzzy, f"untranslated: {ids[0]}"
        for s in strings:  # only the English's values (Japanese has one form)
            assert set(_slots(s)) <= set(_slots(ids[-1])), (ids[0], s)
            assert not re.search(r"\(s\)", s)


def test_a_message_in_both_languages():
    note = msg_n("{n} resource: {parts}", "{n} resources: {parts}", 3, parts=msg(
        "{first}, {second}", first=msg_n("{n} service area", "{n} service areas", 1),
        second=msg_n("{n} stop within {m:g} m", "{n} stops within {m:g} m", 4, m=300.0)))
    assert note.text("en") == "3 resources: 1 service area, 4 stops within 300 m"
    assert note.text("ja") == "3件：サービス提供範囲 1件、300 m 以内の停留所 4か所"
    assert render({"notes": [note, "as it is"]}, "ja") == {
        "notes": ["3件：サービス提供範囲 1件、300 m 以内の停留所 4か所", "as it is"]}


@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "ja_JP.UTF-8"}, "ja"), ({"LANG": "ja_JP.eucJP"}, "ja"),
    ({"LANG": "en_US.UTF-8"}, "en"), ({"LANG": "C.UTF-8"}, "en"), ({}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, "ja"),
    ({"LANG": "ja_JP.UTF-8", "LC_ALL": "C"}, "en"),
    ({"LANG": "C", "GEO_SERVICE_LANG": "ja"}, "ja"),
    ({"LANG": "ja_JP.UTF-8", "GEO_SERVICE_LANG": "en"}, "en"),
])
def test_the_command_line_language(env, lang):
    assert language_from_env(env) == lang


def test_the_help_in_the_users_language():
    """Typer reads help texts when the command line is loaded: a fresh process each."""
    def help_text(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "GEO_SERVICE_LANG")}
        r = subprocess.run([sys.executable, "-m", "geo_service.cli.main", "--help"],
                           env={**clean, "COLUMNS": "200", **env}, capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        return r.stdout

    ja = help_text(LANG="ja_JP.UTF-8")
    assert "高齢者の地域資源への徒歩アクセス" in ja
    assert "買い物環境マップ：食料品店まで徒歩圏外の65歳以上の割合。" in ja
    en = help_text(LANG="en_US.UTF-8")
    assert "Walking access to community support for older people" in en
    assert "Shopping-difficulty map: share of people 65+ beyond a walk to a food store." in en
