"""The pages' messages (``static/i18n/*.json``): every message exists in Japanese and in
English, with the same ``{placeholders}``, so that neither language shows a bare key or
falls back to the other."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT

MESSAGES = sorted((ROOT / "static" / "i18n").glob("*.json"))


def test_there_are_messages():
    assert {"common.json", "resident.json", "council.json"} <= {p.name for p in MESSAGES}


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_japanese_and_english_have_the_same_messages(path):
    messages = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(messages) == ["en", "ja"]
    ja, en = messages["ja"], messages["en"]
    assert sorted(set(ja) - set(en)) == [], "Japanese only"
    assert sorted(set(en) - set(ja)) == [], "English only"

    def slots(text: str) -> list[str]:
        return sorted(re.findall(r"\{(\w+)\}", text))

    assert {k: slots(v) for k, v in ja.items()} == {k: slots(v) for k, v in en.items()}
