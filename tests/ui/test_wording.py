"""Schedules and fees read the same on the pages (``formatSchedule``, ``formatFee``,
``weekdayLabel`` of ``static/js/common.js``, run in chromium) and in the 地域カルテ
(:mod:`geo_service.reports.wording`): both word them from ``static/i18n/wording.json``."""

from __future__ import annotations

import pytest

from geo_service.reports.wording import fee_words, schedule_words, walk_minutes, weekday_label

SCHEDULES = [
    None, {},
    {"weekdays": ["wed"], "start": "10:00", "end": "11:30"},
    {"weekdays": ["tue", "fri"], "frequency": "第1・第3", "start": "13:30"},
    {"weekdays": ["mon"], "frequency": "第2月曜", "text": "祝日休み"},
    {"weekdays": ["sat", "sun"], "text": "雨天中止"},
    {"weekdays": ["mon", "holiday"], "start": "09:00", "end": None},
    {"frequency": "隔週", "start": "14:00", "end": "15:00"},
    {"text": "不定期（電話で確認）"},
    {"weekdays": ["thu"], "stops": [{"weekday": "thu", "time": "10:30", "name": "山手"}]},
]
FEES = [
    None, {"kind": "free"}, {"kind": "unknown"},
    {"kind": "paid", "amount_yen": 1500, "text": None},
    {"kind": "paid", "amount_yen": 12000, "text": "年会費"},
    {"kind": "paid", "amount_yen": 500, "text": "1食500円"},
    {"kind": "paid", "amount_yen": 1000, "text": "月1,000円"},
    {"kind": "paid", "amount_yen": 300, "text": "材料費別"},
    {"kind": "paid", "amount_yen": None, "text": "実費"},
    {"kind": "paid", "amount_yen": 0},
]
#: walking minutes: 500 m at 60 m/min (8 min 20 s), whole minutes and a float's noise
#: around them, under a minute, long walks
MINUTES = [500 / 60, 8.0, 8.0000001, 8.01, 8.5, 8.99, 9.0, 0.2, 0.0, 1.0, 1.000001, 14.999999,
           30 / 60 * 60, 1000 / 80, 59.5]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday", None]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_pages_and_the_karte_word_alike(ui, lang):
    page = ui.open(f"/handout?lang={lang}")
    in_browser = page.evaluate(
        """async ([schedules, fees, days, minutes]) => {
            const GS = await import("/static/js/common.js");
            await GS.init();  // the messages, loaded again: the page's init may not be done
            return [schedules.map((s) => GS.formatSchedule(s)), fees.map((f) => GS.formatFee(f)),
                    days.map((d) => GS.weekdayLabel(d)), minutes.map((m) => GS.walkMinutes(m))];
        }""", [SCHEDULES, FEES, DAYS, MINUTES])
    in_python = [[schedule_words(s, lang) for s in SCHEDULES],
                 [fee_words(f, lang) for f in FEES],
                 [weekday_label(d, lang) for d in DAYS],
                 [walk_minutes(m) for m in MINUTES]]
    assert in_browser == in_python
    assert len(set(in_python[0])) == len(SCHEDULES) - 1  # only None and {} say nothing


def test_walking_minutes_are_rounded_up_whole():
    """500 m at 60 m/min is 「9分」 wherever it is written (the residents' page said 「約8分」
    for its walking range and 「徒歩 9分」 for a store 500 m away)."""
    assert walk_minutes(500 / 60) == 9
    assert [walk_minutes(m) for m in (8.0, 8.0000001, 8.01, 0.0, 0.2)] == [8, 8, 9, 1, 1]

