"""Cells of imported resource lists, one at a time: fees, dates, numbers, JSON, times,
lists, and the visibility columns. Each parser raises
:class:`~geo_service._errors.InputError` naming the column, in Japanese and English.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from typing import Any

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.registry.columns import STAFF_FIELD_LABELS, match_key
from geo_service.registry.resources import normalise_time

_SPLIT = re.compile(r"[、,，・/／\s]+")
_HOURS = re.compile(r"(\d{1,2}[:：時]\d{0,2}分?)\s*[～〜~\-－ーから]+\s*(\d{1,2}[:：時]\d{0,2}分?)")


def split_list(text: str) -> list[str]:
    """「現金、PayPay・振込」 → its items (split at 、 , ・ / and white space)."""
    return [p for p in _SPLIT.split(text) if p]


def parse_fee(text: str) -> dict[str, Any]:
    """「無料」→ free; 「300円」「1回300円」→ paid 300; 「実費」「有料」→ paid; kept as text."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return {"kind": "unknown"}
    if t in ("無料", "無償", "なし", "0円", "0", "free"):
        return {"kind": "free", "amount_yen": 0, "text": text}
    amounts = [int(a.replace(",", "")) for a in re.findall(r"(\d[\d,]*)\s*円", t)]
    if amounts:
        return {"kind": "paid", "amount_yen": min(amounts), "text": text}
    if any(w in t for w in ("有料", "有償", "実費", "円")):
        return {"kind": "paid", "text": text}
    if "無料" in t:
        return {"kind": "free", "text": text}
    return {"kind": "unknown", "text": text}


_ERA = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}


def parse_date(text: str, *, column: str = "last_verified") -> date | None:
    """「2025/4/1」「2025-04-01」「令和7年4月1日」「R7.4.1」 (and Excel's timestamps)."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return None
    m = re.match(r"^(令和|平成|R|H)\s*(\d{1,2}|元)[年./\-](\d{1,2})[月./\-](\d{1,2})日?$", t)
    if m:
        year = _ERA[m.group(1)] + (1 if m.group(2) == "元" else int(m.group(2)))
        parts = (year, int(m.group(3)), int(m.group(4)))
    else:
        m = re.match(r"^(\d{4})[年./\-](\d{1,2})[月./\-](\d{1,2})日?(?:[ T]00:00:00)?$", t)
        if not m:
            raise InputError(msg("not a date (use 2025-04-01 or 令和7年4月1日)"),
                             column=column, value=text)
        parts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    try:
        return date(*parts)
    except ValueError:
        raise InputError(msg("impossible date"), column=column, value=text) from None


def parse_json(text: str, *, column: str) -> Any:
    """A JSON value from a cell (GeoJSON polygons, stop lists); raise naming the column."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise InputError(msg("not valid JSON: {error}", error=e), column=column,
                         value=text[:80]) from None


def parse_number(text: str, *, column: str) -> float | None:
    """A float from a cell (full-width digits allowed); None when empty."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        raise InputError(msg("not a number"), column=column, value=text) from None


def parse_visibility(text: str) -> str:
    """「公開」→ public; 「非公開」「職員のみ」 → staff (an empty cell is public)."""
    t = match_key(text)
    if t in ("", "公開", "public", "一般公開"):
        return "public"
    if t in ("非公開", "職員のみ", "関係者のみ", "staff", "内部"):
        return "staff"
    raise InputError(msg("unknown visibility (公開 or 非公開)"), column="visibility",
                     value=text)


def parse_staff_fields(text: str) -> list[str]:
    """「住所、電話」 → the fields a resource keeps staff-only (labels or field names)."""
    by_label = {match_key(v): k for k, v in STAFF_FIELD_LABELS.items()} | {
        match_key(k): k for k in STAFF_FIELD_LABELS}
    out = []
    for tok in split_list(unicodedata.normalize("NFKC", text)):
        if match_key(tok) not in by_label:
            fields = "、".join(STAFF_FIELD_LABELS.values())
            raise InputError(msg("unknown field; staff-only fields may be {fields}",
                                 fields=fields), column="staff_fields", value=tok)
        out.append(by_label[match_key(tok)])
    return out


def parse_hours(text: str, *, column: str = "hours") -> tuple[str, str] | None:
    """「9:00～17:00」「10時から12時」 → (start, end) as HH:MM; None when the text holds no
    span of times."""
    m = _HOURS.search(unicodedata.normalize("NFKC", text))
    if m is None:
        return None
    return (normalise_time(m.group(1), column=column),
            normalise_time(m.group(2), column=column))
