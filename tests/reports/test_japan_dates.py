"""Dates people read are Japan's: a karte made at 06:22 JST (21:22 UTC the day before) is
dated that day (it showed the UTC date, a day behind the staff page's 06:22)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from geo_service.settings import japan_date


def test_japan_date_of_a_utc_evening_is_the_next_day():
    assert japan_date(datetime(2026, 12, 6, 21, 22, tzinfo=UTC)) == date(2026, 12, 7)
    assert japan_date(datetime(2026, 12, 6, 14, 59, tzinfo=UTC)) == date(2026, 12, 6)
    assert japan_date(datetime(2026, 12, 6, 15, 0)) == date(2026, 12, 7)  # naive: UTC


def test_the_registry_date_on_a_karte_is_japans(monkeypatch):
    """The registry's last change at 21:22 UTC is dated the next day in the sources."""
    from geo_service.registry.store import open_store
    from geo_service.reports.karte import data_sources
    from geo_service.service.walking import WalkingService
    from tests.utils.grid import grid_region

    store = open_store("sqlite://")
    walking = WalkingService(grid_region(), store)
    monkeypatch.setattr(store, "state_token", lambda: (1, "2026-12-06T21:22:00+00:00"))
    [row] = [r for r in data_sources(walking, staff=False) if r["what"] == "地域資源台帳"]
    assert row["date"] == "2026-12-07"
