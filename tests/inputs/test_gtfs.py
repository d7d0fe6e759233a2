"""GTFS / GTFS-JP feeds → a bus-stop layer with departures per day.

The 飯塚 feeds are counted a second time here with the csv module only, so the reader is
checked against an independent count; tiny hand-made feeds cover the edge cases.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from datetime import date

import pytest

from geo_service._errors import InputError
from geo_service.inputs.gtfs import (
    DAY_COLUMNS,
    GTFSError,
    bus_stops,
    read_bus_stops,
    read_feed,
    service_period,
)
from tests.conftest import shared_file

IIZUKA = "gtfs-iizuka-40205"


def _rows(z: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8-sig"))))


def _count_by_hand(path, weekday: str) -> tuple[int, Counter]:
    """Boarding stops and departures per stop on a regular ``weekday`` (calendar.txt's
    pattern): rows of stop_times.txt whose trip's service runs that day, except the
    trip's last stop and rows with pickup_type 1."""
    with zipfile.ZipFile(path) as z:
        stops = [r for r in _rows(z, "stops.txt") if r.get("location_type", "0") in ("", "0")]
        running = {r["service_id"] for r in _rows(z, "calendar.txt") if r[weekday] == "1"}
        trips = {r["trip_id"] for r in _rows(z, "trips.txt") if r["service_id"] in running}
        times = _rows(z, "stop_times.txt")
    last: dict[str, int] = {}
    for r in times:
        last[r["trip_id"]] = max(last.get(r["trip_id"], -1), int(r["stop_sequence"]))
    counts: Counter = Counter()
    for r in times:
        if (r["trip_id"] in trips and r.get("pickup_type") != "1"
                and int(r["stop_sequence"]) != last[r["trip_id"]]):
            counts[r["stop_id"]] += 1
    return len(stops), counts


@pytest.mark.parametrize("feed, n_stops, weekday_total, saturday_total", [
    ("chikuho.zip", 32, 110, 0),
    ("miyawaka.zip", 44, 260, 156),
    ("old4routes.zip", 72, 401, 0),
])
def test_iizuka_feeds_match_an_independent_count(feed, n_stops, weekday_total,
                                                 saturday_total):
    path = shared_file(f"{IIZUKA}/{feed}")
    layer = bus_stops(read_feed(path))
    stops, monday = _count_by_hand(path, "monday")
    _, saturday = _count_by_hand(path, "saturday")
    assert len(layer) == stops == n_stops
    assert layer["stop_id"].is_unique
    by_stop = dict(zip(layer["stop_id"], layer["departures_mon"], strict=True))
    assert by_stop == {s: monday.get(s, 0) for s in layer["stop_id"]}
    assert dict(zip(layer["stop_id"], layer["departures_sat"], strict=True)) == {
        s: saturday.get(s, 0) for s in layer["stop_id"]}
    assert layer["departures_mon"].sum() == weekday_total
    assert layer["departures_sat"].sum() == saturday_total
    assert (layer["weekday_departures"] == layer["departures_mon"]).all()
    assert layer.crs.to_epsg() == 4326
    assert layer.total_bounds[[1, 3]].round(0).tolist() == [34, 34]  # 飯塚, 33.6° N


def test_iizuka_dates_apply_the_calendar_and_its_exceptions():
    """The 2021 routes ran until 2021-11-30: none on a 2026 day; on a weekday of 2021 all;
    on 2021-04-29 (昭和の日, removed in calendar_dates.txt) none. miyawaka's 土日祝 service
    is added on 文化の日 2020-11-03, a Tuesday, instead of the weekday one."""
    old = read_feed(shared_file(f"{IIZUKA}/old4routes.zip"))
    assert service_period(old) == (date(2021, 4, 1), date(2021, 11, 30))
    assert bus_stops(old)["service_to"].eq("2021-11-30").all()
    assert bus_stops(old, on=date(2026, 6, 1))["departures_on_date"].sum() == 0
    assert bus_stops(old, on=date(2021, 6, 1))["departures_on_date"].sum() == 401
    assert bus_stops(old, on=date(2021, 4, 29))["departures_on_date"].sum() == 0
    miyawaka = read_feed(shared_file(f"{IIZUKA}/miyawaka.zip"))
    assert bus_stops(miyawaka, on=date(2020, 11, 3))["departures_on_date"].sum() == 156
    both = read_bus_stops([shared_file(f"{IIZUKA}/chikuho.zip"),
                           shared_file(f"{IIZUKA}/miyawaka.zip")])
    assert len(both) == 76 and set(both["feed"]) == {"chikuho.zip", "miyawaka.zip"}


# ---------------------------------------------------------------------------- hand-made

STOPS = """stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station
ST,駅,33.60,130.70,1,
P1,駅 1番のりば,,,0,ST
P2,駅 2番のりば,33.6001,130.7001,0,ST
E1,駅 入口,33.6002,130.7002,2,ST
A,甲,33.61,130.71,,
B,乙,33.62,130.72,,
"""
TRIPS = """route_id,service_id,trip_id
R,WD,t1
R,WD,t2
R,SAT,t3
R,EXTRA,t4
"""
STOP_TIMES = """trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type
t1,7:00:00,7:00:00,P1,1,0
t1,07:10:00,07:10:00,A,2,0
t1,07:20:00,07:20:00,B,3,0
t2,24:50:00,24:50:00,B,1,
t2,25:10:00,25:10:00,A,2,1
t2,,,P2,3,
t2,25:30:00,25:30:00,P1,4,
t3,10:00:00,10:00:00,A,1,0
t3,10:10:00,10:10:00,B,2,0
t4,12:00:00,12:00:00,A,5,0
t4,12:10:00,12:10:00,B,7,0
"""
CALENDAR = """service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,\
start_date,end_date
WD,1,1,1,1,1,0,0,20260101,20261231
SAT,0,0,0,0,0,1,0,20260101,20261231
"""
CALENDAR_DATES = """service_id,date,exception_type
WD,20260504,2
SAT,20260504,1
EXTRA,20260601,1
EXTRA,20260608,1
EXTRA,20260615,1
"""


def _feed(tmp_path, **files: str | None):
    """A feed folder with the files above, changed or left out (None) as given."""
    base = {"stops.txt": STOPS, "trips.txt": TRIPS, "stop_times.txt": STOP_TIMES,
            "calendar.txt": CALENDAR, "calendar_dates.txt": CALENDAR_DATES}
    base.update({k.replace("_txt", ".txt"): v for k, v in files.items()})
    folder = tmp_path / "feed"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in base.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_hand_made_feed_by_weekday_and_date(tmp_path):
    layer = bus_stops(read_feed(_feed(tmp_path)), on=date(2026, 5, 4)).set_index("stop_id")
    # boarding points only: platforms (P1 took its station's place), not the station or
    # its entrance
    assert list(layer.index) == ["P1", "P2", "A", "B"]
    assert tuple(layer.loc["P1", ["lon", "lat"]]) == (130.70, 33.60)
    assert layer.loc["P1", "parent_station"] == "ST"
    # weekday: t1 boards at P1, A (B is its last stop); t2 (after midnight) at B and P2
    # (A is pickup_type 1, P1 its last stop); EXTRA runs on three Mondays in a row: a
    # regular Monday service, but not on other days
    assert layer["departures_mon"].to_dict() == {"P1": 1, "P2": 1, "A": 2, "B": 1}
    assert layer["departures_tue"].to_dict() == {"P1": 1, "P2": 1, "A": 1, "B": 1}
    assert layer["departures_sat"].to_dict() == {"P1": 0, "P2": 0, "A": 1, "B": 0}
    assert layer["departures_sun"].sum() == 0
    assert layer["weekday_departures"].to_dict() == {"P1": 1, "P2": 1, "A": 1, "B": 1}
    # 2026-05-04 (a Monday holiday): the weekday service removed, Saturday's added
    assert layer["departures_on_date"].to_dict() == {"P1": 0, "P2": 0, "A": 1, "B": 0}


def test_zip_with_a_folder_inside_and_frequencies(tmp_path):
    path = tmp_path / "feed.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in (("stops.txt", STOPS), ("trips.txt", TRIPS),
                           ("stop_times.txt", STOP_TIMES), ("calendar.txt", CALENDAR),
                           ("calendar_dates.txt", CALENDAR_DATES),
                           ("frequencies.txt",
                            "trip_id,start_time,end_time,headway_secs\n"
                            "t1,06:00:00,08:00:00,1800\nt1,17:00:00,17:30:00,900\n")):
            z.writestr(f"gtfs/{name}", ("\ufeff" + text).encode("utf-8"))
    layer = bus_stops(read_feed(path)).set_index("stop_id")
    # t1 runs 4 + 2 = 6 times a day
    assert layer["departures_wed"].to_dict() == {"P1": 6, "P2": 1, "A": 6, "B": 1}


@pytest.mark.parametrize("leave_out, named", [
    (["stop_times.txt"], "stop_times.txt"),
    (["stops.txt", "trips.txt"], "stops.txt, trips.txt"),
    (["calendar.txt", "calendar_dates.txt"], "calendar.txt or calendar_dates.txt"),
])
def test_missing_files_are_named(tmp_path, leave_out, named):
    folder = _feed(tmp_path, **{n.replace(".txt", "_txt"): None for n in leave_out})
    with pytest.raises(GTFSError, match=f"missing: {named}"):
        read_feed(folder)


def test_a_feed_from_calendar_dates_alone(tmp_path):
    folder = _feed(tmp_path, calendar_txt=None, trips_txt="service_id,trip_id\nEXTRA,t4\n",
                   stop_times_txt="trip_id,stop_id,stop_sequence\nt4,A,1\nt4,B,2\n")
    layer = bus_stops(read_feed(folder), on=date(2026, 6, 8)).set_index("stop_id")
    assert layer.loc["A", "departures_mon"] == 1 and layer.loc["A", "departures_tue"] == 0
    assert layer.loc["A", "departures_on_date"] == 1


@pytest.mark.parametrize("bad, row, column, value", [
    ("25:61", 4, "departure_time", "25:61"),
    ("25:61:00", 4, "departure_time", "25:61:00"),
    ("7:5:00", 4, "departure_time", "7:5:00"),
    ("noon", 4, "departure_time", "noon"),
])
def test_broken_times_name_file_row_column_and_value(tmp_path, bad, row, column, value):
    text = STOP_TIMES.replace("07:20:00,07:20:00", f"07:20:00,{bad}")
    with pytest.raises(GTFSError) as err:
        read_feed(_feed(tmp_path, stop_times_txt=text))
    msg = str(err.value)
    assert "stop_times.txt" in msg and f"row {row}," in msg
    assert f"column {column!r}" in msg and f"value {value!r}" in msg


def test_times_after_midnight_are_valid(tmp_path):
    assert read_feed(_feed(tmp_path)).stop_times["trip_id"].eq("t2").sum() == 4


@pytest.mark.parametrize("files, match", [
    ({"stop_times_txt": STOP_TIMES + "t1,08:00:00,08:00:00,NOWHERE,9,0\n"},
     r"stop_times.txt, row 13, column 'stop_id', value 'NOWHERE': stop_id is not defined"),
    ({"stop_times_txt": STOP_TIMES + "t1,08:00:00,08:00:00,ST,9,0\n"},
     r"row 13, column 'stop_id', value 'ST': stop_id is a station"),
    ({"stop_times_txt": STOP_TIMES + "t9,08:00:00,08:00:00,A,9,0\n"},
     r"value 't9': trip_id is not defined in trips.txt"),
    ({"calendar_txt": CALENDAR.replace("20261231", "2026-12-31", 1)},
     r"calendar.txt, row 2, column 'end_date', value '2026-12-31': not a date"),
    ({"calendar_txt": CALENDAR.replace(",1,1,1,1,1,0,0,", ",1,1,yes,1,1,0,0,", 1)},
     r"column 'wednesday', value 'yes': a weekday flag must be 0 or 1"),
    ({"calendar_dates_txt": CALENDAR_DATES + "WD,20260505,3\n"},
     r"row 7, column 'exception_type', value '3'"),
    ({"stops_txt": STOPS.replace("33.61,130.71", ",130.71")},
     r"stops.txt, row 6, column 'stop_id', value 'A': no stop_lat/stop_lon"),
    ({"stops_txt": STOPS.replace("33.62,130.72", "130.72,33.62")},
     r"stops.txt, row 7, column 'stop_lat', value 130.72: latitude 130.72 is impossible"),
    ({"trips_txt": TRIPS + "R,NOSUCH,t5\n"},
     r"trips.txt, row 6, column 'service_id', value 'NOSUCH'"),
    ({"stop_times_txt": "trip_id,stop_id\nt1,A\n"},
     r"stop_times.txt, column 'stop_sequence': required column"),
    ({"stop_times_txt": STOP_TIMES.replace("t1,07:10:00,07:10:00,A,2,0",
                                           "t1,07:10:00,07:10:00,A,two,0")},
     r"row 3, column 'stop_sequence', value 'two': stop_sequence must be a whole number"),
    ({"trips_txt": TRIPS + "R,WD,t1\n"},
     r"trips.txt, row 6, column 'trip_id', value 't1': trip_id defined twice"),
    ({"stops_txt": STOPS + "A,甲2,33.61,130.71,,\n"},
     r"stops.txt, row 8, column 'stop_id', value 'A': stop_id defined twice"),
    ({"stops_txt": STOPS.replace("0,ST\nP2", "0,NOST\nP2")},
     r"row 3, column 'parent_station', value 'NOST'"),
    ({"frequencies_txt": "trip_id,start_time,end_time,headway_secs\nt1,06:00:00,05:00:00,600\n"},
     r"frequencies.txt, row 2, column 'end_time', value '05:00:00'"),
    ({"frequencies_txt": "trip_id,start_time,end_time,headway_secs\nt1,06:00:00,07:00:00,0\n"},
     r"frequencies.txt, row 2, column 'headway_secs', value '0'"),
])
def test_bad_feeds_name_file_row_column_and_value(tmp_path, files, match):
    with pytest.raises(InputError, match=match):  # GTFSError, or SwappedCoordinatesError
        read_feed(_feed(tmp_path, **files))


def test_not_a_feed(tmp_path):
    (tmp_path / "x.zip").write_text("not a zip", encoding="utf-8")
    with pytest.raises(GTFSError, match="not a GTFS feed"):
        read_feed(tmp_path / "x.zip")
    with pytest.raises(GTFSError, match="no such file"):
        read_feed(tmp_path / "absent.zip")


def test_day_columns_are_monday_first():
    assert DAY_COLUMNS[0] == "departures_mon" and DAY_COLUMNS[-1] == "departures_sun"


def test_a_bad_time_is_named_in_japanese_and_in_english(tmp_path):
    """The feed's faults in the reader's language (they were English only): file, rows,
    column and value, then why."""
    times = STOP_TIMES.replace("t1,07:10:00,07:10:00", "t1,7.10,07:10:00")
    with pytest.raises(GTFSError) as err:
        read_feed(_feed(tmp_path, stop_times_txt=times))
    where = f"{tmp_path / 'feed'}/stop_times.txt"
    assert err.value.text("ja") == (
        f"{where}、3行目、列「arrival_time」、値 '7.10'：GTFS の時刻 H:MM:SS ではありません"
        "（深夜0時を過ぎる便は時が24を超えてもよく、分と秒は 00〜59）")
    assert err.value.text("en") == (
        f"{where}, row 3, column 'arrival_time', value '7.10': not a GTFS time H:MM:SS (hours "
        "may pass 24 for trips after midnight, minutes and seconds 00–59)")
    with pytest.raises(GTFSError) as err:
        read_feed(_feed(tmp_path / "other", calendar_txt=None, calendar_dates_txt=None))
    assert err.value.text("ja").endswith(
        "：必須の GTFS ファイルがありません: calendar.txt or calendar_dates.txt")
