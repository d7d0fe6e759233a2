"""The ``geo-service site`` command: where would k new places (or n stops of a new route)
bring the most people 65+ within walking range? Registered on the main app by
:func:`register`; the arithmetic is :mod:`geo_service.planning.siting`'s.

Works on a saved region (``--region``, else ``GEO_SERVICE_REGION_DIR``) or the demo, with
the registry's located resources of the need as the existing facilities (as
``geo-service coverage`` counts them; for 食料品店 with none registered, the region's own
food-store layer).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from geo_service._errors import InputError
from geo_service.cli.common import (
    DatabaseOpt,
    RegionOpt,
    console,
    fail,
    open_walking,
    people,
    print_note,
    print_table,
    share,
)
from geo_service.i18n import Message, msg
from geo_service.inputs.sources import output_metadata


def site(
    need: Annotated[str, typer.Option(
        "--need", help="The category to site: food_store, salon, dementia_cafe, "
        "consultation, mobile_sales … (id, label or alias).")],
    k: Annotated[int, typer.Option("--k", help="Number of new sites (or route stops).")] = 5,
    candidates: Annotated[str | None, typer.Option(
        "--candidates", help="Candidate sites: a 公共施設一覧 CSV/Excel (名称, 緯度, 経度), a "
        "bus-stop list (GTFS stops.txt or lon/lat CSV), a GTFS feed (zip or folder: e.g. the "
        "stops of a cut route), a point file (GeoJSON, GPKG), or "
        "registry:CATEGORY for the registry's located resources of a category (e.g. "
        "registry:公共施設 after importing a 公共施設一覧).")] = None,
    grid: Annotated[float | None, typer.Option(
        "--grid", help="Candidates: network nodes on a grid of this spacing (m); the "
        "default when no --candidates is given: 250.")] = None,
    target_share: Annotated[float | None, typer.Option(
        "--target-share", help="Set covering instead: the fewest sites bringing the share of "
        "people 65+ within range to this (0–1); --k is then ignored.")] = None,
    route: Annotated[bool, typer.Option(
        "--route", help="Stops of a new 移動販売 / community-bus route: each stop serves its "
        "catchment (--threshold, default 300 m); the stops are put in walking order.")]
        = False,
    threshold: Annotated[float | None, typer.Option(
        help="Walking distance (m) a new site serves (default: the need's walk_threshold_m "
        "in layers/ — 500 food, 800 gathering places — else the region's; with --route "
        "the mobile-sales stop's, 300).")] = None,
    existing_threshold: Annotated[float | None, typer.Option(
        help="Walking distance (m) within which an existing facility already serves people "
        "(default: the need's, as for --threshold).")] = None,
    time_limit: Annotated[float, typer.Option(
        help="Seconds per exact solve; past it the best found is given with its gap.")] = 30.0,
    greedy: Annotated[bool, typer.Option(
        "--greedy", help="Lazy greedy only (no MIP), with its bound.")] = False,
    curve: Annotated[bool, typer.Option(
        "--curve/--no-curve", help="Also the best coverage for 1 … k sites.")] = True,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the chosen sites (.csv, UTF-8 with BOM, or .geojson); the curve "
        "goes beside it as NAME_curve.csv.")] = None,
    staff: Annotated[bool, typer.Option(
        "--staff", help="Count staff-only resources as existing too (default: public).")]
        = False,
    region: RegionOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Facility siting: choose k new sites among candidates to bring the most people 65+
    newly within walking range (maximal covering, solved exactly with HiGHS), or the fewest
    reaching a target share (--target-share), or stops of a new route (--route)."""
    from geo_service.planning import siting
    from geo_service.planning.siting_plan import plan_siting, registry_candidates, siting_need

    try:
        if out is not None and out.suffix.lower() not in (".csv", ".geojson", ".json"):
            raise InputError(msg("the output must be .csv or .geojson"), column="--out",
                             value=str(out))
        if candidates is not None and grid is not None:
            raise InputError(msg("give either --candidates or --grid, not both"), column="--grid",
                             value=grid)
        category = siting_need(need, column="--need")
        walking = open_walking(database_url, region)
        net, loaded = walking.net, walking.region
        if candidates is None:
            cands = siting.grid_candidates(net, grid or 250.0)
        elif candidates.startswith("registry:"):
            cands = registry_candidates(walking, candidates.removeprefix("registry:"),
                                        staff=staff, column="--candidates")
        else:
            cands = siting.read_candidates(net, Path(candidates))
        plan = plan_siting(walking, category, cands, route=route, threshold_m=threshold,
                           existing_threshold_m=existing_threshold, staff=staff)
        problem, serve_m, existing_m = plan.problem, plan.threshold_m, plan.existing_threshold_m
        existing_note = _existing_note(plan.existing)
        stops_note = ("" if plan.stops is None else " · " + str(msg(
            "existing 移動販売 stops {stops} ({m:g} m on foot)", stops=_existing_note(
                plan.stops), m=plan.stop_threshold_m)))
        header = msg("[bold]{need}[/]: {n:,} candidate {what} ({source}) · within {m:g} m on "
                     "foot · existing {existing} ({existing_m:g} m on foot)",
                     need=category.label, n=len(cands),
                     what=msg("stops") if route else msg("sites"),
                     source=cands.source or msg("candidates"), m=serve_m,
                     existing=existing_note, existing_m=existing_m)
        where = msg("region {name}", name=loaded.label or "—")
        if loaded.synthetic:
            where = msg("{title}  [synthetic demo]", title=where)
        console.print(f"{header}{stops_note} · {where}", highlight=False)
        if target_share is not None:
            cover = problem.set_covering(target_share, time_limit_s=time_limit)
            chosen, gains = cover.chosen, cover.gains
            _print_set_cover(cover)
            curve_rows: list[dict[str, Any]] = []
        else:
            result = problem.maximal_covering(k, time_limit_s=time_limit, exact=not greedy,
                                              curve=curve)
            chosen, gains = result.chosen, result.gains
            curve_rows = _print_mclp(result)
        order = siting.order_stops(net, cands.attachment.take(chosen)) if route else None
        table = _sites_table(cands, net, chosen, gains, problem, order)
        _print_sites(table, route=order)
        if out is not None:
            _write(out, table, curve_rows, about=output_metadata(
                loaded.label, loaded.sources, municipality_code=loaded.municipality_code))
    except InputError as exc:
        raise fail(exc) from exc


def _existing_note(existing: Any) -> Message:
    """What the existing facilities are: how many and from where."""
    if not existing.count:
        return msg("none")
    where = (msg("registry") if existing.source == "registry"
             else msg("region: {layer}", layer=existing.source))
    return msg("{n} ({source})", n=existing.count, source=where)


def _print_mclp(result: Any) -> list[dict[str, Any]]:
    from geo_service.planning.siting.model import method_text

    if result.optimal:
        quality = msg("proven optimal")
    else:
        quality = msg("within {gap:.1%} of the bound of {bound} people ({source})",
                      gap=result.gap, bound=people(result.bound),
                      source=method_text(result.bound_source))
    console.print(msg(
        "maximal covering, k = {k}: people 65+ newly within walking range [bold]{new}[/] · "
        "share within range {before} → [bold]{after}[/] · {method} · {quality} · greedy "
        "{greedy} · {seconds:.2f} s", k=result.k, new=people(result.covered_new),
        before=share(result.share_before), after=share(result.share_after),
        method=method_text(result.method), quality=quality,
        greedy=people(result.greedy_new), seconds=result.seconds).text(), highlight=False)
    for note in result.notes:
        print_note(note)
    rows = [{"k": p.k, "covered_new_65plus": round(p.covered_new, 2),
             "share_65plus_after": (round((result.already + p.covered_new) / result.total, 4)
                                    if result.total else None),
             "greedy_new_65plus": round(p.greedy_new, 2), "bound_65plus": round(p.bound, 2),
             "optimal": p.optimal} for p in result.curve]
    if len(rows) > 1:
        table = Table(title=str(msg("coverage curve: the most people newly covered per number "
                                    "of sites")))
        for col in ("k", str(msg("new 65+")), str(msg("share")), str(msg("greedy")),
                    str(msg("optimal"))):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(str(r["k"]), people(r["covered_new_65plus"]),
                          share(r["share_65plus_after"] or math.nan),
                          people(r["greedy_new_65plus"]), "○" if r["optimal"] else "—")
        print_table(table)
    return rows


def _print_set_cover(result: Any) -> None:
    from geo_service.planning.siting.model import method_text

    if result.feasible:
        lower = "" if result.optimal else " " + str(msg("(at least {n})",
                                                         n=result.lower_bound))
        console.print(msg(
            "set covering: the fewest sites for a share of {target} within walking range "
            "[bold]{n}[/] · share → {after} · {method}{lower} · {seconds:.2f} s",
            target=share(result.target_share), n=len(result.chosen),
            after=share(result.share_after), method=method_text(result.method), lower=lower,
            seconds=result.seconds).text(), highlight=False)
    else:
        console.print(msg(
            "[bold red]the target {target} cannot be reached[/]: every candidate together "
            "gives {best}; the sites for that share: {n}", target=share(result.target_share),
            best=share(result.best_share), n=len(result.chosen)).text(), highlight=False)
    for note in result.notes:
        print_note(note)


def _sites_table(cands: Any, net: Any, chosen: Any, gains: Any, problem: Any,
                 order: Any) -> Any:
    import numpy as np
    import pandas as pd

    lonlat = cands.lonlat(net)[chosen] if len(chosen) else np.zeros((0, 2))
    cumulative = np.cumsum(gains)
    table = pd.DataFrame({
        "order": np.arange(1, len(chosen) + 1), "candidate_id": cands.ids[chosen],
        "name": cands.names[chosen], "lon": np.round(lonlat[:, 0], 7),
        "lat": np.round(lonlat[:, 1], 7), "new_65plus": np.round(gains, 2),
        "cumulative_new_65plus": np.round(cumulative, 2),
        "share_65plus_after": (np.round((problem.already + cumulative) / problem.total, 4)
                               if problem.total else np.nan)})
    if order is not None:
        stop = np.empty(len(chosen), dtype=np.int64)
        stop[order.order] = np.arange(1, len(chosen) + 1)
        leg = np.full(len(chosen), np.nan)
        leg[order.order[1:]] = np.round(order.legs_m, 1)
        table["route_order"], table["leg_m_from_previous"] = stop, leg
    return table


def _print_sites(table: Any, *, route: Any) -> None:
    title = msg("chosen sites, in order of gain")
    if route is not None:
        table = table.sort_values("route_order")
        title = msg("chosen stops, in route order")
    t = Table(title=str(title), caption=str(msg("coordinates and ids are in the file of --out")))
    cols = [msg("order"), msg("name"), msg("new 65+"), msg("cumulative"), msg("share")]
    if route is not None:
        cols += [msg("route order"), msg("from the previous stop")]
    for c in cols:
        t.add_column(str(c), justify="left" if c == msg("name") else "right", overflow="fold")
    for r in table.itertuples():
        cells = [str(r.order), str(r.name), people(r.new_65plus),
                 people(r.cumulative_new_65plus), share(r.share_65plus_after)]
        if route is not None:
            cells += [str(r.route_order), "—" if math.isnan(r.leg_m_from_previous)
                      else f"{r.leg_m_from_previous:,.0f} m"]
        t.add_row(*cells)
    print_table(t)
    if route is not None:
        length = "—" if not math.isfinite(route.length_m) else f"{route.length_m:,.0f} m"
        console.print(msg("route order: {note}; length on the walking network {length}",
                          note=route.note, length=length).text(), highlight=False)


def _write(out: Path, table: Any, curve_rows: list[dict[str, Any]], *,
           about: dict[str, Any]) -> None:
    """The chosen sites as CSV or GeoJSON (with ``about``: the region and its sources)."""
    import geopandas as gpd
    import pandas as pd

    from geo_service.outputs import csv_writer, geojson_writer, write_outputs

    suffix = out.suffix.lower()
    writers = {}
    if suffix == ".csv":
        writers[out.name] = csv_writer(table)
    else:
        writers[out.name] = geojson_writer(gpd.GeoDataFrame(
            table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326),
            metadata=about)
    if curve_rows:
        writers[f"{out.stem}_curve.csv"] = csv_writer(pd.DataFrame(curve_rows))
    written = write_outputs(out.parent, writers)
    console.print(msg("written: {paths}", paths=", ".join(str(p) for p in written)).text(),
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``site`` to the main ``geo-service`` app."""
    app.command("site")(site)
