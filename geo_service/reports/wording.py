"""Schedules and fees in words, as the web pages write them.

The words come from one table, ``static/i18n/wording.json`` (installed as
``geo_service.static``), which the pages' ``GS.formatSchedule``, ``GS.formatFee`` and
``GS.weekdayLabel`` (``static/js/common.js``) read too; ``tests/ui/test_wording.py`` checks
in a browser that both sides give the same strings. Change the wording in the table; the
rules (which parts are shown, in which order) are the same few lines on either side.

Walking minutes are shown whole, rounded up (:func:`walk_minutes`, ``GS.walkMinutes``): a
walk of 8 min 20 s (500 m at 60 m/min) is 「9分」 wherever it is written, as Japan's
real-estate notices count 徒歩○分 (端数切り上げ), never less than the walk takes.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from importlib.resources import files
from typing import Any

from geo_service.registry.resources import WEEKDAYS

_SLOT = re.compile(r"\{(\w+)\}")


@cache
def _table(lang: str) -> dict[str, str]:
    text = (files("geo_service.static") / "i18n" / "wording.json").read_text(encoding="utf-8")
    table: dict[str, dict[str, str]] = json.loads(text)
    return table[lang]


def _t(lang: str, key: str, **values: str) -> str:
    """The message ``key`` with its ``{name}``s filled, as the pages' ``GS.t``."""
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), _table(lang)[key])


def weekday_label(day: str | None, lang: str = "ja") -> str:
    """A weekday key (``mon`` … ``sun``) in words: 水曜 / Wed; "" for anything else."""
    if day not in WEEKDAYS:
        return ""
    return _t(lang, "weekday.label", day=_t(lang, f"weekday.{day}"))


def schedule_words(schedule: dict[str, Any] | None, lang: str = "ja") -> str:
    """A schedule in words: 「毎週水曜 10:00〜11:30」「第1・第3火曜 13:30〜」, a frequency
    that names its day alone (「第2月曜」), the text as written after it; "" without one.
    Mobile-sales stops are left to the caller."""
    if not schedule:
        return ""
    days = [d for d in schedule.get("weekdays") or [] if d in WEEKDAYS]
    freq = schedule.get("frequency") or ""
    start = schedule.get("start")
    time = _t(lang, "schedule.time", start=start, end=schedule.get("end") or "") if start else ""
    when = freq
    if days and _t(lang, "schedule.named_day") not in freq:
        names = _t(lang, "schedule.day_sep").join(_t(lang, f"weekday.{d}") for d in days)
        when = _t(lang, "schedule.days", frequency=freq or _t(lang, "schedule.every"), days=names)
    parts = " ".join(p for p in (when, time) if p)
    return _t(lang, "schedule.text_sep").join(p for p in (parts, schedule.get("text")) if p)


def fee_words(fee: dict[str, Any] | None, lang: str = "ja") -> str:
    """A fee in words: 無料, 1,500円, or the text as written — alone when it states the
    amount (500円 + 「1食500円」 → 1食500円); "" when nothing is known."""
    if not fee:
        return ""
    if fee.get("kind") == "free":
        return _t(lang, "fee.free")
    amount, text = fee.get("amount_yen"), fee.get("text") or ""
    if text and (amount is None or str(amount) in text.replace(",", "").replace("，", "")):
        return text
    yen = _t(lang, "fee.yen", amount=f"{amount:,}") if amount is not None else ""
    return " ".join(p for p in (yen, text) if p)


def walk_minutes(minutes: float) -> int:
    """Walking minutes as people read them: whole, rounded up (8.3 → 9; at least 1), the
    rule of ``GS.walkMinutes`` on the pages. A float's noise (9.000000001) stays 9."""
    return max(1, math.ceil(round(float(minutes), 6)))

