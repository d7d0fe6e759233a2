"""Hand-made GTFS feeds for the tests."""

from __future__ import annotations

from pathlib import Path


def weekday_feed(tmp_path: Path, stops: dict[str, tuple[float, float]],
                 trips_per_stop: int, *, name: str = "gtfs") -> Path:
    """A GTFS folder: each stop served by ``trips_per_stop`` weekday trips (each trip
    boards at the stop and ends at a terminal 14 km east of tests/utils/grid.py's grid,
    which is not a departure)."""
    folder = tmp_path / name
    folder.mkdir()
    lines = ["stop_id,stop_name,stop_lat,stop_lon"]
    for sid, (lon, lat) in stops.items():
        lines.append(f"{sid},{sid},{lat},{lon}")
    lines.append("END,終点,33.80,130.95")
    (folder / "stops.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    trips, times = ["route_id,service_id,trip_id"], [
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for sid in stops:
        for k in range(trips_per_stop):
            trips.append(f"R,WD,{sid}-{k}")
            times.append(f"{sid}-{k},{6 + k % 18}:00:00,{6 + k % 18}:00:00,{sid},1")
            times.append(f"{sid}-{k},{6 + k % 18}:30:00,{6 + k % 18}:30:00,END,2")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n", encoding="utf-8")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n", encoding="utf-8")
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
        "end_date\nWD,1,1,1,1,1,0,0,20260101,20261231\n", encoding="utf-8")
    return folder
