"""Schedules and fees read the same on the pages (``formatSchedule``, ``formatFee``,
``weekdayLabel`` of ``static/js/common.js``, run in chromium) and in the 地域カルテ
(:mod:`geo_service.reports.wording`): both word them from ``static/i18n/wording.json``."""

from __future__ import annotations

import pytest

from geo_service.reports.wording import fee_words, schedule_words, weekday_label

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
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday", None]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_pages_and_the_karte_word_alike(ui, lang):
    page = ui.open(f"/handout?lang={lang}")
    in_browser = page.evaluate(
        """async ([schedules, fees, days]) => {
            const GS = await import("/static/js/common.js");
            await GS.init();  // the messages, loaded again: the page's init may not be done
            return [schedules.map((s) => GS.formatSchedule(s)), fees.map((f) => GS.formatFee(f)),
                    days.map((d) => GS.weekdayLabel(d))];
        }""", [SCHEDULES, FEES, DAYS])
    in_python = [[schedule_words(s, lang) for s in SCHEDULES],
                 [fee_words(f, lang) for f in FEES],
                 [weekday_label(d, lang) for d in DAYS]]
    assert in_browser == in_python
    assert len(set(in_python[0])) == len(SCHEDULES) - 1  # only None and {} say nothing
