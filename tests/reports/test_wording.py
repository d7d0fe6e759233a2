"""Schedules and fees in words, in both languages of ``static/i18n/wording.json`` (the
pages say the same: ``tests/ui/test_wording.py``)."""

from __future__ import annotations

from geo_service.reports.wording import fee_words, schedule_words, weekday_label


def test_schedules_in_japanese_and_english():
    weekly = {"weekdays": ["wed", "fri"], "start": "10:00", "end": "11:30", "text": "祝日休み"}
    assert schedule_words(weekly) == "毎週水・金曜 10:00〜11:30・祝日休み"
    assert schedule_words(weekly, "en") == "Every Wed, Fri 10:00〜11:30; 祝日休み"
    named = {"weekdays": ["mon"], "frequency": "第2月曜", "start": "13:30"}
    assert schedule_words(named) == schedule_words(named, "en") == "第2月曜 13:30〜"
    assert schedule_words({"frequency": "隔週"}, "en") == "隔週"
    assert schedule_words(None) == schedule_words({}, "en") == ""


def test_weekdays_in_japanese_and_english():
    assert [weekday_label(d) for d in ("mon", "sun", "holiday", None)] == ["月曜", "日曜", "", ""]
    assert weekday_label("thu", "en") == "Thu"


def test_fees_in_japanese_and_english():
    assert fee_words({"kind": "free"}, "en") == "Free"
    assert fee_words({"kind": "paid", "amount_yen": 12000, "text": "年会費"}) == "12,000円 年会費"
    assert fee_words({"kind": "paid", "amount_yen": 12000}, "en") == "¥12,000"
    assert fee_words({"kind": "paid", "amount_yen": 500, "text": "1食500円"}, "en") == "1食500円"
    assert fee_words({"kind": "unknown"}) == fee_words(None) == ""
