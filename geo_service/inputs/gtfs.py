"""GTFS and GTFS-JP feeds as a bus-stop layer: each stop with its departures per day.

A feed is a zip file or a folder of the GTFS text files (at its top or in one sub-folder).
Only what the walking analysis needs is read:

- ``stops.txt``: stop id, name, lon/lat, ``location_type`` and ``parent_station``. The
  layer holds the places where people board (``location_type`` 0 or empty: a stop or a
  station's platform, with its ``parent_station``); stations, entrances, generic nodes and
  boarding areas are not boarding points of their own. A platform without coordinates
  takes its station's;
- ``trips.txt``, ``stop_times.txt``: which stops each trip serves;
- ``calendar.txt`` and/or ``calendar_dates.txt`` (at least one): on which days;
- ``frequencies.txt`` (optional): a trip run every ``headway_secs`` counts that many times.

GTFS-JP's extra files (``agency_jp.txt``, ``office_jp.txt``, ``routes_jp.txt`` …) and extra
columns are ignored.

A **departure** is a stop time where people can board: not the trip's last stop, and not
``pickup_type`` 1 (no pickup). Per stop the layer gives the departures on each day of a
regular week (``departures_mon`` … ``departures_sun``: ``calendar.txt``'s weekday pattern,
without the one-off exceptions of ``calendar_dates.txt``; a service defined only in
``calendar_dates.txt`` counts on a weekday when it runs on more than half of those
weekdays between its first and last date), ``weekday_departures`` (the fewest on any day
Monday to Friday: a stop with *N* weekday departures has at least *N* every weekday), and,
for a given date, ``departures_on_date`` (the calendar with its exceptions).

Times are GTFS times: ``H:MM:SS`` or ``HH:MM:SS``, hours past 24 for trips after midnight
(``25:10:00`` is valid; ``25:61`` is not). Errors name the file (``feed.zip/stop_times.txt``),
the rows as a spreadsheet numbers them (header = row 1), the column and the value.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service._errors import InputError, sheet_rows
from geo_service.i18n import Message, msg
from geo_service.inputs.readers import check_lon_lat, decode_text

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: the layer's per-day columns, Monday first
DAY_COLUMNS = tuple(f"departures_{d[:3]}" for d in WEEKDAYS)
_TIME = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
_REQUIRED = {
    "stops.txt": ("stop_id",),
    "trips.txt": ("trip_id", "service_id"),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *WEEKDAYS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
}


class GTFSError(InputError):
    """A GTFS feed is incomplete or holds a value that is not valid GTFS."""


@dataclass(frozen=True)
class Feed:
    """The tables of one feed that the bus-stop layer needs, checked.

    ``stops`` has ``stop_id``, ``stop_name``, ``lon``, ``lat``, ``location_type`` (int),
    ``parent_station``; ``stop_times`` has ``trip_id``, ``stop_id``, ``stop_sequence``
    (int), ``trip_pos`` and ``stop_pos`` (positions in ``trips`` and ``stops``) and
    ``boards`` (a departure, see the module); ``calendar`` one row per service
    with the weekday flags (bool) and ``start_date``/``end_date`` (datetime.date);
    ``calendar_dates`` ``service_id``, ``date`` (datetime.date), ``exception_type`` (1
    added, 2 removed); ``runs`` per trip how many times it runs a day (1, or from
    ``frequencies.txt``).
    """

    name: str
    stops: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    runs: pd.Series


# ---------------------------------------------------------------------------- reading

class _Source:
    """The text files of a zip or a folder, found at its top or in one sub-folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, str | Path] = {}  # a zip member's name, or a file's path
        if path.is_dir():
            for p in [*path.glob("*.txt"), *path.glob("*/*.txt")]:
                self.files.setdefault(p.name.lower(), p)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename.count("/")):
                    parts = info.filename.rstrip("/").split("/")
                    if not info.is_dir() and len(parts) <= 2 and parts[-1].endswith(".txt"):
                        self.files.setdefault(parts[-1].lower(), info.filename)
        elif path.exists():
            raise GTFSError(msg("not a GTFS feed: give a .zip file or a folder of GTFS .txt "
                                "files"), file=path)
        else:
            raise GTFSError(msg("no such file or folder"), file=path)

    def label(self, name: str) -> str:
        return f"{self.path}/{name}"

    def has(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> pd.DataFrame:
        item = self.files[name]
        if isinstance(item, Path):
            raw = item.read_bytes()
        else:  # read when asked: shapes.txt and the like are never read
            with zipfile.ZipFile(self.path) as z:
                raw = z.read(item)
        text, _ = decode_text(raw, file=self.label(name))
        try:
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise GTFSError(msg("not a readable CSV table: {error}", error=str(e)),
                            file=self.label(name)) from None
        table.columns = [str(c).strip() for c in table.columns]
        table = table.apply(lambda s: s.str.strip())
        missing = [c for c in _REQUIRED[name] if c not in table.columns]
        if missing:
            raise GTFSError(msg("required column(s) missing: {columns}",
                                columns=", ".join(missing)),
                            file=self.label(name), column=missing[0])
        return table


def read_feed(path: str | Path) -> Feed:
    """Read and check a GTFS / GTFS-JP feed (zip or folder).

    Raises
    ------
    GTFSError
        Naming the missing file(s), or the file, rows, column and value of the first
        problem: a time that is not ``H:MM:SS``, a date that is not ``YYYYMMDD``, a flag
        that is not 0/1, a trip or stop that is not defined, a stop without coordinates.
    """
    path = Path(path)
    src = _Source(path)
    missing = [f for f in ("stops.txt", "trips.txt", "stop_times.txt") if not src.has(f)]
    if not (src.has("calendar.txt") or src.has("calendar_dates.txt")):
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise GTFSError(msg("required GTFS file(s) missing: {files}", files=", ".join(missing)),
                        file=path)
    stops = _stops(src)
    trips = src.read("trips.txt")
    _unique(trips, "trip_id", src.label("trips.txt"))
    stop_times = _stop_times(src, trips, stops)
    calendar = _calendar(src)
    calendar_dates = _calendar_dates(src)
    known = set(calendar["service_id"]) | set(calendar_dates["service_id"])
    unknown = ~trips["service_id"].isin(known)
    if unknown.any():
        raise GTFSError(msg("service_id not defined in calendar.txt or calendar_dates.txt"),
                        file=src.label("trips.txt"), row=sheet_rows(np.flatnonzero(unknown)),
                        column="service_id", value=trips["service_id"][unknown].iloc[0])
    runs = _runs(src, trips)
    return Feed(path.name, stops, trips[["trip_id", "service_id"]], stop_times, calendar,
                calendar_dates, runs)


def _unique(table: pd.DataFrame, column: str, label: str) -> None:
    dup = table[column].duplicated()
    if dup.any():
        raise GTFSError(msg("{column} defined twice", column=column), file=label,
                        row=sheet_rows(np.flatnonzero(dup)), column=column,
                        value=table[column][dup].iloc[0])


def _bad(mask: np.ndarray | pd.Series, reason: Message, *, file: str, column: str,
         values: pd.Series) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise GTFSError(reason, file=file, row=sheet_rows(np.flatnonzero(mask)),
                        column=column, value=values[mask].iloc[0])


def _stops(src: _Source) -> pd.DataFrame:
    label = src.label("stops.txt")
    t = src.read("stops.txt")
    _unique(t, "stop_id", label)
    for col in ("stop_name", "stop_lat", "stop_lon", "location_type", "parent_station"):
        if col not in t.columns:
            t[col] = ""
    lt = t["location_type"].replace("", "0")
    _bad(~lt.isin(["0", "1", "2", "3", "4"]), msg("location_type must be 0–4"), file=label,
         column="location_type", values=t["location_type"])
    t["location_type"] = lt.astype(int)
    known = set(t["stop_id"])
    _bad((t["parent_station"] != "") & ~t["parent_station"].isin(known),
         msg("parent_station is not a stop_id of stops.txt"), file=label,
         column="parent_station", values=t["parent_station"])
    lon = pd.to_numeric(t["stop_lon"].replace("", np.nan), errors="coerce")
    lat = pd.to_numeric(t["stop_lat"].replace("", np.nan), errors="coerce")
    for col, values in (("stop_lon", lon), ("stop_lat", lat)):
        _bad(values.isna() & (t[col] != ""), msg("not a number"), file=label, column=col,
             values=t[col])
    # a platform without coordinates takes its station's
    parent = pd.Series(list(zip(lon, lat, strict=True)), index=t["stop_id"])
    need = lon.isna() & (t["parent_station"] != "")
    for i in np.flatnonzero(need):
        plon, plat = parent.get(t["parent_station"].iloc[i], (np.nan, np.nan))
        lon.iloc[i], lat.iloc[i] = plon, plat
    _bad((t["location_type"] <= 2) & (lon.isna() | lat.isna()),
         msg("no stop_lat/stop_lon (a stop, station or entrance needs them)"), file=label,
         column="stop_id", values=t["stop_id"])
    check_lon_lat(lon.to_numpy(float), lat.to_numpy(float), source=label,  # NaN passes
                  lon_col="stop_lon", lat_col="stop_lat")
    return pd.DataFrame({"stop_id": t["stop_id"], "stop_name": t["stop_name"],
                         "lon": lon.to_numpy(float), "lat": lat.to_numpy(float),
                         "location_type": t["location_type"],
                         "parent_station": t["parent_station"]})


def parse_time(values: pd.Series, *, file: str, column: str) -> np.ndarray:
    """Seconds after midnight of GTFS times (``H:MM:SS``, hours may pass 24); NaN where
    empty (a time left to interpolation); raise naming every bad row."""
    codes, uniques = pd.factorize(values)  # a feed repeats its times: parse each once
    parts = pd.Series(uniques, dtype=object).str.extract(_TIME)
    bad = (parts[0].isna() & (pd.Series(uniques, dtype=object) != "")).to_numpy()[codes]
    _bad(bad, msg("not a GTFS time H:MM:SS (hours may pass 24 for trips after midnight, "
         "minutes and seconds 00–59)"), file=file, column=column, values=values)
    nums = parts.astype(float)
    seconds = (nums[0] * 3600 + nums[1] * 60 + nums[2]).to_numpy()
    return seconds[codes] if len(seconds) else np.zeros(len(values))


def _stop_times(src: _Source, trips: pd.DataFrame, stops: pd.DataFrame) -> pd.DataFrame:
    label = src.label("stop_times.txt")
    t = src.read("stop_times.txt")
    for col in ("arrival_time", "departure_time"):
        if col in t.columns:
            parse_time(t[col], file=label, column=col)
    seq = pd.to_numeric(t["stop_sequence"], errors="coerce")
    _bad(seq.isna() | (seq < 0) | (seq % 1 != 0),
         msg("stop_sequence must be a whole number ≥ 0"), file=label, column="stop_sequence",
         values=t["stop_sequence"])
    trip_pos = pd.Index(trips["trip_id"]).get_indexer(t["trip_id"])
    _bad(trip_pos < 0, msg("trip_id is not defined in trips.txt"),
         file=label, column="trip_id", values=t["trip_id"])
    stop_pos = pd.Index(stops["stop_id"]).get_indexer(t["stop_id"])
    _bad(stop_pos < 0, msg("stop_id is not defined in stops.txt"),
         file=label, column="stop_id", values=t["stop_id"])
    _bad(stops["location_type"].to_numpy()[stop_pos] != 0,
         msg("stop_id is a station, entrance or node (location_type ≠ 0), where no trip can "
             "stop"), file=label, column="stop_id", values=t["stop_id"])
    pickup = t["pickup_type"] if "pickup_type" in t.columns else pd.Series("", index=t.index)
    _bad(~pickup.isin(["", "0", "1", "2", "3"]), msg("pickup_type must be 0–3"), file=label,
         column="pickup_type", values=pickup)
    out = pd.DataFrame({"trip_id": t["trip_id"], "stop_id": t["stop_id"],
                        "stop_sequence": seq.astype(int), "trip_pos": trip_pos,
                        "stop_pos": stop_pos})
    last = out["stop_sequence"] == out.groupby("trip_pos")["stop_sequence"].transform("max")
    out["boards"] = (pickup != "1").to_numpy() & ~last.to_numpy()
    return out


def _dates(values: pd.Series, *, file: str, column: str) -> pd.Series:
    parsed = pd.to_datetime(values, format="%Y%m%d", errors="coerce")
    _bad(parsed.isna(), msg("not a date YYYYMMDD"), file=file, column=column, values=values)
    return parsed.dt.date


def _calendar(src: _Source) -> pd.DataFrame:
    if not src.has("calendar.txt"):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _REQUIRED["calendar.txt"]})
    label = src.label("calendar.txt")
    t = src.read("calendar.txt")
    _unique(t, "service_id", label)
    for day in WEEKDAYS:
        _bad(~t[day].isin(["0", "1"]), msg("a weekday flag must be 0 or 1"), file=label,
             column=day, values=t[day])
        t[day] = t[day] == "1"
    for col in ("start_date", "end_date"):
        t[col] = _dates(t[col], file=label, column=col)
    return t[list(_REQUIRED["calendar.txt"])]


def _calendar_dates(src: _Source) -> pd.DataFrame:
    if not src.has("calendar_dates.txt"):
        return pd.DataFrame({"service_id": pd.Series(dtype=object),
                             "date": pd.Series(dtype=object),
                             "exception_type": pd.Series(dtype=int)})
    label = src.label("calendar_dates.txt")
    t = src.read("calendar_dates.txt")
    _bad(~t["exception_type"].isin(["1", "2"]),
         msg("exception_type must be 1 (added) or 2 (removed)"), file=label,
         column="exception_type", values=t["exception_type"])
    return pd.DataFrame({"service_id": t["service_id"],
                         "date": _dates(t["date"], file=label, column="date"),
                         "exception_type": t["exception_type"].astype(int)})


def _runs(src: _Source, trips: pd.DataFrame) -> pd.Series:
    runs = pd.Series(1, index=trips["trip_id"].to_numpy(), dtype=np.int64)
    if not src.has("frequencies.txt"):
        return runs
    label = src.label("frequencies.txt")
    t = src.read("frequencies.txt")
    start = parse_time(t["start_time"], file=label, column="start_time")
    end = parse_time(t["end_time"], file=label, column="end_time")
    headway = pd.to_numeric(t["headway_secs"], errors="coerce")
    _bad(headway.isna() | (headway <= 0), msg("headway_secs must be a number > 0"),
         file=label,
         column="headway_secs", values=t["headway_secs"])
    _bad(np.isnan(start) | np.isnan(end) | (end < start),
         msg("end_time must be a time not before start_time"), file=label, column="end_time",
         values=t["end_time"])
    _bad(~t["trip_id"].isin(set(trips["trip_id"])), msg("trip_id is not defined in trips.txt"),
         file=label, column="trip_id", values=t["trip_id"])
    count = np.ceil((end - start) / headway.to_numpy(float)).astype(np.int64)
    per_trip = pd.Series(count, index=t["trip_id"].to_numpy()).groupby(level=0).sum()
    runs.loc[per_trip.index] = per_trip.to_numpy()
    return runs


# ---------------------------------------------------------------------------- services

def services_on(feed: Feed, day: date) -> set[str]:
    """The service ids running on ``day``: the calendar's weekday pattern within its
    dates, plus the dates added and minus those removed in ``calendar_dates.txt``."""
    cal = feed.calendar
    name = WEEKDAYS[day.weekday()]
    inside = (cal["start_date"] <= day) & (cal["end_date"] >= day) & cal[name].astype(bool)
    running = set(cal["service_id"][inside])
    cd = feed.calendar_dates[feed.calendar_dates["date"] == day]
    running |= set(cd["service_id"][cd["exception_type"] == 1])
    return running - set(cd["service_id"][cd["exception_type"] == 2])


def services_by_weekday(feed: Feed) -> dict[str, set[str]]:
    """Per weekday (``monday`` …): the services of the regular week (see the module)."""
    cal = feed.calendar
    out = {d: set(cal["service_id"][cal[d].astype(bool)]) for d in WEEKDAYS}
    cd = feed.calendar_dates
    added = cd[(cd["exception_type"] == 1) & ~cd["service_id"].isin(set(cal["service_id"]))]
    for sid, dates in added.groupby("service_id")["date"]:
        first, last = min(dates), max(dates)
        span = [first + timedelta(days=k) for k in range((last - first).days + 1)]
        on = {d.weekday() for d in dates}
        for k, day in enumerate(WEEKDAYS):
            possible = sum(1 for d in span if d.weekday() == k)
            hits = sum(1 for d in set(dates) if d.weekday() == k)
            if k in on and hits * 2 > possible:
                out[day].add(str(sid))
    return out


def service_period(feed: Feed) -> tuple[date | None, date | None]:
    """The first and last day any service of the feed runs: the calendar's start and end
    dates and the dates added in ``calendar_dates.txt`` (None, None without either)."""
    cd = feed.calendar_dates
    added = cd["date"][cd["exception_type"] == 1]
    starts = [*feed.calendar["start_date"], *added]
    ends = [*feed.calendar["end_date"], *added]
    return (min(starts), max(ends)) if starts else (None, None)


def departures(feed: Feed, services: Iterable[str]) -> pd.Series:
    """Departures per stop id (every boarding stop, 0 where none) on a day on which
    ``services`` run."""
    per_trip = feed.trips["service_id"].isin(set(services)).to_numpy() * feed.runs.reindex(
        feed.trips["trip_id"].to_numpy()).to_numpy()  # times each trip runs that day
    st = feed.stop_times
    weight = per_trip[st["trip_pos"].to_numpy()] * st["boards"].to_numpy()
    counts = np.bincount(st["stop_pos"].to_numpy(), weights=weight,
                         minlength=len(feed.stops)).astype(np.int64)
    boarding = (feed.stops["location_type"] == 0).to_numpy()
    return pd.Series(counts[boarding], index=feed.stops["stop_id"][boarding].to_numpy())


def bus_stops(feed: Feed, *, on: date | None = None) -> gpd.GeoDataFrame:
    """The feed's boarding stops as a point layer (EPSG:4326).

    Columns: ``feed``, ``stop_id``, ``name``, ``parent_station``, ``lon``, ``lat``,
    ``departures_mon`` … ``departures_sun``, ``weekday_departures`` (the fewest Monday to
    Friday), ``service_from`` and ``service_to`` (:func:`service_period`, ISO dates: a
    regular week of a feed that has ended still counts) and, with ``on``,
    ``departures_on_date``.
    """
    stops = feed.stops[feed.stops["location_type"] == 0].reset_index(drop=True)
    table = pd.DataFrame({"feed": feed.name, "stop_id": stops["stop_id"],
                          "name": stops["stop_name"], "parent_station": stops["parent_station"],
                          "lon": stops["lon"], "lat": stops["lat"]})
    by_day = services_by_weekday(feed)
    for col, day in zip(DAY_COLUMNS, WEEKDAYS, strict=True):
        table[col] = departures(feed, by_day[day]).to_numpy()
    table["weekday_departures"] = table[list(DAY_COLUMNS[:5])].min(axis=1)
    first, last = service_period(feed)
    table["service_from"] = first.isoformat() if first else ""
    table["service_to"] = last.isoformat() if last else ""
    if on is not None:
        table["departures_on_date"] = departures(feed, services_on(feed, on)).to_numpy()
    return gpd.GeoDataFrame(table, geometry=shapely.points(table[["lon", "lat"]].to_numpy()),
                            crs=4326)


def read_bus_stops(paths: Iterable[str | Path], *, on: date | None = None
                   ) -> gpd.GeoDataFrame:
    """The bus-stop layers of one or more feeds, one after another (``feed`` tells them
    apart: two feeds may use the same stop id)."""
    layers = [bus_stops(read_feed(p), on=on) for p in paths]
    if not layers:
        raise GTFSError(msg("no GTFS feed given"))
    return gpd.GeoDataFrame(pd.concat(layers, ignore_index=True), geometry="geometry",
                            crs=4326)
