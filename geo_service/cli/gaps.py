"""Planning commands: ``gaps`` (the gap ranking after the alternatives) and ``gtfs stops``
(a GTFS / GTFS-JP feed as a bus-stop table). Registered on the main app by
:func:`register`; the numbers come from :mod:`geo_service.planning.gaps` and
:mod:`geo_service.inputs.gtfs`.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from geo_service._errors import InputError
from geo_service.cli.common import (
    DatabaseOpt,
    RegionOpt,
    console,
    fail,
    open_walking,
    print_note,
    print_table,
    share,
)
from geo_service.i18n import Term, msg
from geo_service.layers import FOOD_STORE_CATEGORY

if TYPE_CHECKING:
    from geo_service.planning.gaps import GapResult


gtfs_app = typer.Typer(help="GTFS / GTFS-JP feeds (bus stops and departures).",
                       no_args_is_help=True)


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InputError(msg("not a date YYYY-MM-DD"), column="--date", value=text)


def _parse_thresholds(items: list[str] | None) -> dict[str, float]:
    """``CATEGORY=METRES`` pairs (category by id, label or alias)."""
    from geo_service.layers import load_vocabulary

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            metres = float(value)
        except ValueError:
            metres = math.nan
        if not sep or not metres > 0:
            raise InputError(msg("give CATEGORY=METRES, e.g. mobile_sales=300"),
                             column="--walk-threshold", value=item)
        out[load_vocabulary().category_key(key.strip(), column="--walk-threshold")] = metres
    return out


def gaps(
    layer: Annotated[str | None, typer.Option(
        "--layer", help="Area layer of the region (小学校区, 中学校区 … or its id: elementary "
        "…); default the region's first.")] = None,
    need: Annotated[str, typer.Option(
        "--need", help="What people walk to: a registry category (food_store / 食料品店, "
        "salon / 通いの場 …).")] = FOOD_STORE_CATEGORY,
    region: RegionOpt = None,
    gtfs: Annotated[list[Path] | None, typer.Option(
        "--gtfs", help="A GTFS / GTFS-JP feed (zip or folder) whose stops count as an "
        "alternative; repeatable.")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Walk to the need counted as within range (m); default from "
        "layers/ (walk_threshold_m: 500 food, 800 gathering places), else the region's.")]
        = None,
    bus_threshold: Annotated[float | None, typer.Option(
        "--bus-threshold", help="Walk to a bus stop (m); default from layers/ (300).")]
        = None,
    min_departures: Annotated[int | None, typer.Option(
        "--min-departures", min=0, help="Departures a stop needs on every weekday (or on "
        "--date); default from layers/ (10).")] = None,
    on: Annotated[str | None, typer.Option(
        "--date", help="Count departures on this date (YYYY-MM-DD) instead of every "
        "weekday.")] = None,
    alternative: Annotated[list[str] | None, typer.Option(
        "--alternative", help="Count only these alternatives: registry categories "
        "(meal_delivery, home_delivery, mobile_sales, transport …) and/or bus; repeatable. "
        "Default: for food the food services, mobile sales and bus stops.")] = None,
    no_alternatives: Annotated[bool, typer.Option(
        "--no-alternatives", help="Count no alternative (the walk alone).")] = False,
    walk_threshold: Annotated[list[str] | None, typer.Option(
        "--walk-threshold", help="CATEGORY=METRES: an alternative's walking threshold, e.g. "
        "mobile_sales=200 (a mobile-sales stop's catchment); repeatable.")] = None,
    staff: Annotated[bool, typer.Option(
        "--staff", help="Count staff-only resources too (default: the public view).")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the whole ranking as CSV (UTF-8 with BOM).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows printed.")] = 15,
    by: Annotated[str, typer.Option(
        "--by", help="Order of the printed table (and the CSV): count (people left) or "
        "share (of the area's 65+).")] = "count",
    database_url: DatabaseOpt = None,
) -> None:
    """Gap ranking: per area, people 65+ beyond a walk to the need and covered by no
    alternative (移動販売, 配食・宅配, a frequent bus stop), largest first, with the
    reasons."""
    from geo_service.outputs import csv_writer, write_outputs
    from geo_service.planning.gaps import find_gaps

    try:
        if by not in ("count", "share"):
            raise InputError(msg("give count or share"), column="--by", value=by)
        day = _parse_date(on)
        extra = _parse_thresholds(walk_threshold)
        stops = None
        if gtfs:
            from geo_service.inputs.gtfs import read_bus_stops

            stops = read_bus_stops(gtfs, on=day)
        walking = open_walking(database_url, region)
        areas = walking.region.areas
        name = layer or (areas[0].name if areas else "")
        result = find_gaps(walking, name, need, threshold_m=threshold,
                           alternatives=[] if no_alternatives else alternative,
                           bus_stops=stops, bus_threshold_m=bus_threshold,
                           min_departures=min_departures, on=day, thresholds=extra,
                           staff=staff, source=", ".join(str(p) for p in gtfs or []))
    except InputError as exc:
        raise fail(exc) from exc
    except LookupError as exc:
        raise fail(exc.args[0]) from exc
    if by == "share":
        result.table = result.table.sort_values(["rank_share", "rank_count"],
                                                kind="stable").reset_index(drop=True)
    _print_gaps(result, limit)
    if out is not None:
        table = result.table.copy()
        table.insert(0, "layer", result.layer)
        table.insert(1, "need", result.need)
        table["threshold_m"] = result.threshold_m
        write_outputs(out.parent, {out.name: csv_writer(table.round(4))})
        console.print(msg("table: {path}", path=out).text())


def _english(category_id: str) -> str:
    """The English name of a registry category, or of the bus alternative."""
    from geo_service.layers import load_vocabulary

    category = load_vocabulary().by_id.get(category_id)
    return category.label_en if category is not None else "bus stops"  # planning.gaps.BUS


def _label(alternative: Any) -> str:
    """An alternative's name in the user's language (its category's ``label_en``)."""
    return Term(alternative.label, _english(alternative.id)).text()


def _print_gaps(result: GapResult, limit: int) -> None:
    t = result.table
    s = result.summary()
    title = msg("{layer}: people 65+ beyond {m:g} m of {need} and served by no alternative",
                layer=result.layer, m=result.threshold_m,
                need=Term(result.need_label, _english(result.need)))
    caption = str(msg("alternative columns: of the people 65+ beyond walking range, those "
                      "each covers (they overlap)"))
    table = Table(title=str(title))
    table.add_column(str(msg("rank by count")), justify="right")
    table.add_column(str(msg("area")), no_wrap=True)
    for col in (str(msg("people 65+")), str(msg("beyond {m:g} m", m=result.threshold_m)),
                *(_label(a) for a in result.alternatives), str(msg("gap")), str(msg("share")),
                str(msg("rank by share"))):
        table.add_column(col, justify="right", overflow="fold")
    for row in t.head(limit).itertuples():
        r = row._asdict()
        table.add_row(str(r["rank_count"]), str(r["name"]), f"{r['pop_65plus']:,.0f}",
                      f"{r['beyond_65plus']:,.0f}",
                      *(f"{r[f'covered_{a.id}']:,.0f}" for a in result.alternatives),
                      f"[bold]{r['gap_65plus']:,.0f}[/]", share(r["gap_share"]),
                      str(r["rank_share"]))
    if len(t) > limit:
        caption += str(msg("; {n} more areas in the CSV of --out", n=len(t) - limit))
    table.caption = caption
    print_table(table)
    beyond = s["beyond_65plus"]
    console.print(msg("total: people 65+ {people:,.0f} · beyond {m:g} m {beyond:,.0f} · "
                      "covered by an alternative {covered:,.0f} · [bold]gap {gap:,.0f}[/]",
                      people=s["pop_65plus"], m=result.threshold_m, beyond=beyond,
                      covered=s["covered_any"], gap=s["gap_65plus"]).text(), highlight=False)
    console.print(msg("alternatives:").text(), highlight=False)
    for a in result.alternatives:
        console.print(f"  {_label(a)} ({a.id}): {a.detail}", highlight=False)
    if not result.alternatives:
        console.print("  " + msg("none").text())
    for note in result.notes:
        print_note(note)


@gtfs_app.command("stops")
def gtfs_stops(
    feeds: Annotated[list[Path], typer.Argument(help="GTFS / GTFS-JP feeds (zip or folder).")],
    on: Annotated[str | None, typer.Option(
        "--date", help="Also count departures on this date (YYYY-MM-DD).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the stops as .csv or .geojson.")] = None,
) -> None:
    """A feed's boarding stops with departures per weekday (and on a date)."""
    from geo_service.inputs.gtfs import DAY_COLUMNS, read_bus_stops
    from geo_service.outputs import csv_writer, geojson_writer, write_outputs

    try:
        day = _parse_date(on)
        stops = read_bus_stops(feeds, on=day)
    except InputError as exc:
        raise fail(exc) from exc
    table = Table(title=str(msg("stops and departures per day")))
    table.add_column(str(msg("feed")), no_wrap=True)
    table.add_column(str(msg("stops")), justify="right")
    for day_name in (msg("Mon"), msg("Tue"), msg("Wed"), msg("Thu"), msg("Fri"), msg("Sat"),
                     msg("Sun")):
        table.add_column(str(day_name), justify="right")
    if day is not None:
        table.add_column(day.isoformat(), justify="right")
    for feed, part in stops.groupby("feed", sort=False):
        cells = [f"{part[c].sum():,}" for c in DAY_COLUMNS]
        if day is not None:
            cells.append(f"{part['departures_on_date'].sum():,}")
        table.add_row(str(feed), f"{len(part):,}", *cells)
    table.caption = "発車回数 = 乗車できる停車 (最終停留所・乗車不可を除く) の合計"
    print_table(table)
    if out is not None:
        from geo_service.inputs.sources import describe, output_metadata

        about = output_metadata("", [describe(f, "バス（GTFS）") for f in feeds])
        writer = (geojson_writer(stops, metadata=about) if out.suffix.lower() == ".geojson"
                  else csv_writer(stops.drop(columns="geometry")))
        write_outputs(out.parent, {out.name: writer})
        console.print(msg("stops: {path}", path=out).text())


def register(app: typer.Typer) -> None:
    """Add ``gaps`` and ``gtfs stops`` to the main ``geo-service`` app."""
    app.command("gaps")(gaps)
    app.add_typer(gtfs_app, name="gtfs")
