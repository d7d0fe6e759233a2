"""Commands of the what-if scenarios: ``geo-service scenario create|list|show|compare|delete``.

Registered on the main Typer app by :func:`register`. A scenario is computed on a saved
region: ``--region DIR``, else ``GEO_SERVICE_REGION_DIR``, else the demo region in the data
directory (built once, as ``geo-service serve`` does). Scenarios are saved as JSON in
``scenarios/<region key>/`` of the data directory, or in ``--folder``.

Future population: ``geo-service scenario create 2035年 --projection m500.shp --year 2035``
(alone, or with closures and new stores: the indicators of the future year with them).

Services of the registry (配食, 宅配, 買い物代行, 移動販売's area): ``--service-area
ID=SPEC`` gives the service ``ID`` another service area (SPEC: a GeoJSON file of a polygon,
``municipality``, ``radius:METRES``, ``walk:MINUTES`` or ``areas:LAYER:ID,ID…``) and
``--withdraw ID`` stops it; the region's registry is read (``--database-url``, else the
region's own registry in the data directory), never written, and the people 65+ beyond
the walk and covered by no alternative are shown before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from geo_service._errors import InputError
from geo_service.cli.common import (
    DatabaseOpt,
    RegionOpt,
    console,
    demo_region,
    fail,
    people,
    print_note,
    print_table,
    service_settings,
    share,
    signed,
)
from geo_service.i18n import msg
from geo_service.layers import FOOD_STORE_LAYER

scenario_app = typer.Typer(
    help="What-if scenarios: store closures, new stores or 移動販売 stops, another threshold "
    "or speed, a future population, bus routes cut or added, services (配食・宅配) given "
    "another service area or withdrawn — before, after and the difference per area.",
    no_args_is_help=True)

FolderOpt = Annotated[Path | None, typer.Option(
    "--folder", help="Folder of the scenario JSON files (default: scenarios/<region key> in "
    "the data directory).")]
LayerOpt = Annotated[str | None, typer.Option(
    "--layer", help="Area layer shown in the tables (default: the region's first).")]
StoreLayerOpt = Annotated[str, typer.Option(
    "--store-layer", help="Resource layer definition of the stores.")]


def _context(region: Path | None, folder: Path | None, store_layer: str):  # type: ignore[no-untyped-def]
    """(Region, the store layer, the scenario folder)."""
    from geo_service.engine.region import Region
    from geo_service.layers import FOOD_STORE_LAYER, load_resource_layer
    from geo_service.planning.scenarios import scenario_folder
    from geo_service.service.walking import no_food_stores

    settings = service_settings()
    where = region or settings.region_dir
    if where is None:
        where = demo_region(settings)[0]
    if not (Path(where) / "region.json").exists():
        raise InputError(msg("not a saved region folder (no region.json)"), file=where)
    loaded = Region.load(where)
    layer = load_resource_layer(store_layer)
    if layer.id not in loaded.resources and layer.id == FOOD_STORE_LAYER:
        raise InputError(no_food_stores(), file=where)
    if layer.id not in loaded.resources:
        raise InputError(msg("the region has no {layer} layer; it has {layers}", layer=layer.id,
                             layers=", ".join(loaded.resources) or "—"), file=where)
    return loaded, layer, scenario_folder(loaded, folder)


StaffOpt = Annotated[bool, typer.Option(
    "--staff", help="Count staff-only services too (default: the public view).")]


def _walking(loaded: Any, scenarios: list[Any], database_url: str | None) -> Any:
    """The coverage service over the region's registry, when a scenario changes services
    (else None)."""
    from geo_service.planning.scenarios import SERVICE_KINDS

    if not any(c["kind"] in SERVICE_KINDS for s in scenarios for c in s.changes):
        return None
    from geo_service.service.walking import WalkingService

    return WalkingService.from_settings(loaded, service_settings(database_url))


def _service_area_spec(item: str) -> dict[str, Any]:
    """``ID=SPEC`` of ``--service-area`` as a service_area change (a file is read now and
    kept in the scenario, so the scenario stands alone)."""
    rid, sep, spec = (p.strip() for p in item.partition("="))
    if not sep or not rid or not spec:
        raise InputError(msg("expected ID=FILE.geojson, ID=municipality, ID=radius:METRES, "
                             "ID=walk:MINUTES or ID=areas:LAYER:ID,ID"), column="--service-area",
                         value=item)
    kind, _, rest = spec.partition(":")
    area: dict[str, Any]
    if kind in ("municipality", "市内全域") and not rest:
        area = {"kind": "municipality"}
    elif kind in ("radius", "walk") and rest:
        try:
            number = float(rest.removesuffix("m").removesuffix("min"))
        except ValueError:
            raise InputError(msg("{kind}: not a number", kind=kind), column="--service-area",
                             value=item) from None
        area = ({"kind": "radius", "radius_m": number} if kind == "radius"
                else {"kind": "walk", "minutes": number})
    elif kind == "areas" and ":" in rest:
        layer, _, ids = rest.partition(":")
        area = {"kind": "areas", "layer": layer.strip(),
                "area_ids": [a.strip() for a in ids.split(",") if a.strip()]}
    else:
        area = {"kind": "polygon", "geometry": _read_polygon(Path(spec))}
    return {"kind": "service_area", "resource": rid, "service_area": area}


def _read_polygon(path: Path) -> dict[str, Any]:
    """The (Multi)Polygon of a GeoJSON file: a geometry, a Feature or a FeatureCollection
    (its polygons united)."""
    import json

    import shapely
    from shapely.geometry import mapping, shape

    if not path.is_file():
        raise InputError(msg("no such GeoJSON file (or an unknown SPEC: municipality, "
                             "radius:METRES, walk:MINUTES, areas:LAYER:IDS)"), file=path,
                         column="--service-area")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        if data.get("type") == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in data["features"] if f.get("geometry")]
            if not geoms:
                raise InputError(msg("the FeatureCollection has no geometry"), file=path)
            return dict(mapping(shapely.union_all(geoms)))
        if data.get("type") == "Feature":
            data = data["geometry"]
        return dict(mapping(shape(data)))
    except InputError:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError,
            shapely.errors.GeometryTypeError) as exc:
        raise InputError(msg("not a GeoJSON polygon: {error}", error=str(exc)), file=path,
                         column="--service-area") from None


def _print_result(result: Any, layer: str | None) -> None:
    s = result.summary()
    b, a = s["before"], s["after"]
    m = result.after.threshold_m
    table = Table(title=str(msg("scenario \"{name}\"", name=result.scenario.name)),
                  show_header=True)
    for col in ("", str(msg("before")), str(msg("after"))):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row(str(msg("people 65+")), f"{b['pop_65plus']:,.0f}", f"{a['pop_65plus']:,.0f}")
    table.add_row(str(msg("beyond {m:g} m on foot", m=m)),
                  f"{b['beyond_65plus']:,.0f} ({share(b['beyond_share'])})",
                  f"{a['beyond_65plus']:,.0f} ({share(a['beyond_share'])})")
    table.add_row(str(msg("cannot reach any store")), f"{b['unreachable_65plus']:,.0f}",
                  f"{a['unreachable_65plus']:,.0f}")
    table.add_row(str(msg("stores")), f"{b['stores']}", f"{a['stores']}")
    if "bus" in s:
        bus = s["bus"]
        table.add_row(str(msg("beyond {m:g} m and no bus stop either", m=m)),
                      f"{bus['beyond_no_bus_65plus_before']:,.0f}",
                      f"{bus['beyond_no_bus_65plus_after']:,.0f}")
    if "alternatives" in s:
        alt = s["alternatives"]
        table.add_row(str(msg("beyond {m:g} m and no alternative either", m=m)),
                      f"{alt['gap_65plus_before']:,.0f}", f"{alt['gap_65plus_after']:,.0f}")
    stats = s["stats"]
    table.caption = str(msg(
        "closed {closed} · new {added} · nodes searched again {nodes:,} · points evaluated "
        "again {points:,} · {ms:.0f} ms", closed=", ".join(s["closed"]) or "—",
        added=", ".join(s["added"]) or "—", nodes=stats["nodes_searched_again"],
        points=stats["points_evaluated_again"], ms=stats["seconds"] * 1000))
    print_table(table)
    diff = result.area_difference()
    name = layer or str(diff["layer"].iloc[0])
    diff = diff[diff["layer"] == name]
    if diff.empty:
        raise InputError(msg("no area layer {name!r}; layers are {layers}", name=name,
                             layers=", ".join(dict.fromkeys(result.area_difference()["layer"]))))
    areas = Table(title=str(msg("{layer}: people 65+ beyond {m:g} m (largest change first)",
                                layer=name, m=m)))
    gap = "gap_65plus_change" in diff.columns
    area, change = str(msg("area")), str(msg("change"))
    for col in (area, str(msg("people 65+")), str(msg("beyond walking range, before → after")),
                change, str(msg("share, before → after")), change,
                *((str(msg("no alternative, before → after")),) if gap else ())):
        areas.add_column(col, justify="left" if col == area else "right")
    # the change in people first (a future population changes counts, and a projection
    # by area leaves each area's share as it was), then in points
    moved = diff["beyond_65plus_change"].round().abs().fillna(-1)
    key = moved + diff["beyond_share_change_pt"].round(1).abs().fillna(0)
    if gap:
        key = key + diff["gap_65plus_change"].round().abs()
    order = key.sort_values(ascending=False, kind="stable").index
    for row in diff.loc[order].head(12).itertuples():
        areas.add_row(str(row.name), people(row.pop_65plus_after),
                      f"{people(row.beyond_65plus_before)}→{people(row.beyond_65plus_after)}",
                      signed(row.beyond_65plus_change, 0, str(msg(" people"))),
                      f"{share(row.beyond_share_before)[:-2]}→{share(row.beyond_share_after)}",
                      signed(row.beyond_share_change_pt, 1, "pt"),
                      *((f"{people(row.gap_65plus_before)}→{people(row.gap_65plus_after)}",)
                        if gap else ()))
    print_table(areas)
    if "alternatives" in s:
        console.print(msg("services changed: {changes}",
                          changes="; ".join(s["alternatives"]["changed"])).text(),
                      highlight=False)
    for note in result.notes:
        print_note(note)


def _parse_point(spec: str, option: str, fields: tuple[str, ...]) -> dict[str, Any]:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) < 2 or len(parts) > len(fields):
        raise InputError(msg("expected {fields} (the first two required)",
                             fields=",".join(fields)),
                         column=option, value=spec)
    out: dict[str, Any] = dict(zip(fields, parts, strict=False))
    return out


def _changes(region: Any, close: list[str], add_store: list[str], add_stop: list[str],
             threshold: float | None, speed: float | None, projection: Path | None,
             year: int | None, projection_layer: str | None,
             projection_column: list[str], bus: dict[str, Any],
             services: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    services = services or {}
    changes += [_service_area_spec(item) for item in services.get("area", [])]
    changes += [{"kind": "withdraw_service", "resource": rid.strip()}
                for rid in services.get("withdraw", [])]
    if bus["network"]:
        network: dict[str, Any] = {"kind": "bus_network",
                                   "feeds": [str(p.resolve()) for p in bus["network"]]}
        if bus["threshold"] is not None:
            network["threshold_m"] = bus["threshold"]
        if bus["min_departures"] is not None:
            network["min_departures"] = bus["min_departures"]
        changes.append(network)
    elif bus["threshold"] is not None or bus["min_departures"] is not None:
        raise InputError(msg("--bus-threshold and --min-departures go with --bus-network"),
                         column="--bus-network")
    changes += [{"kind": "cut_route", "feed": str(p.resolve())} for p in bus["cut"]]
    changes += [{"kind": "add_route", "feed": str(p.resolve())} for p in bus["add"]]
    if speed is not None:
        changes.append({"kind": "speed", "mps": speed})
    if threshold is not None:
        changes.append({"kind": "threshold", "metres": threshold})
    changes += [{"kind": "close_store", "store": s} for s in close]
    for k, spec in enumerate(add_store, 1):
        d = _parse_point(spec, "--add-store", ("lon", "lat", "category", "name", "id"))
        if "category" not in d:
            raise InputError(msg("a new store needs a category: lon,lat,category[,name[,id]]"),
                             column="--add-store", value=spec)
        changes.append({"kind": "add_store", "id": d.get("id") or f"new{k}", **d})
    for k, spec in enumerate(add_stop, 1):
        d = _parse_point(spec, "--add-stop", ("lon", "lat", "name", "id"))
        changes.append({"kind": "add_stop", "id": d.get("id") or f"stop{k}", **d})
    columns = {}
    for item in projection_column:
        role, sep, col = item.partition("=")
        if not sep:
            raise InputError(msg("expected ROLE=COLUMN, e.g. 65plus=POP65_2050"),
                             column="--projection-column", value=item)
        columns[role.strip()] = col.strip()
    from geo_service.planning.projection import pick_projection

    # the file given, else the region's own (region build --projection) for --year
    picked = pick_projection(region, projection, year, layer=projection_layer,
                             columns=columns)
    if picked is not None:
        file, year, file_layer, columns = picked
        change: dict[str, Any] = {"kind": "projection", "file": str(file.resolve()),
                                  "year": year}
        if file_layer:
            change["layer"] = file_layer
        if columns:
            change["columns"] = columns
        changes.append(change)
    return changes


@scenario_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The scenario's name (e.g. 川東スーパー閉店).")],
    close: Annotated[list[str] | None, typer.Option(
        "--close", help="A store that closes: its id or name (repeatable).")] = None,
    add_store: Annotated[list[str] | None, typer.Option(
        "--add-store", help="A new store: lon,lat,category[,name[,id]] (repeatable).")] = None,
    add_stop: Annotated[list[str] | None, typer.Option(
        "--add-stop", help="A new 移動販売 stop counted as a food source: lon,lat[,name[,id]] "
        "(repeatable).")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Another walking threshold (m).")] = None,
    speed: Annotated[float | None, typer.Option(
        help="Another walking speed on the flat (m/s).")] = None,
    projection: Annotated[Path | None, typer.Option(
        "--projection", help="Future population: a 国土数値情報 将来推計人口 mesh file "
        "(PTC_yyyy / PTD_yyyy) or a table per area (factors or projected counts).")] = None,
    year: Annotated[int | None, typer.Option("--year", help="The projection's year.")] = None,
    projection_layer: Annotated[str | None, typer.Option(
        "--projection-layer", help="Area layer of a per-area projection table.")] = None,
    projection_column: Annotated[list[str] | None, typer.Option(
        "--projection-column", help="ROLE=COLUMN for a file whose columns are not "
        "understood (roles 65plus, base_65plus, 75plus, base_75plus, total, base_total).")]
        = None,
    bus_network: Annotated[list[Path] | None, typer.Option(
        "--bus-network", help="A GTFS / GTFS-JP feed running today (zip or folder; "
        "repeatable): with bus changes, who also has no frequent bus stop is counted.")]
        = None,
    cut_route: Annotated[list[Path] | None, typer.Option(
        "--cut-route", help="A GTFS feed whose routes stop running (repeatable).")] = None,
    add_route: Annotated[list[Path] | None, typer.Option(
        "--add-route", help="A GTFS feed of new routes (repeatable).")] = None,
    bus_threshold: Annotated[float | None, typer.Option(
        "--bus-threshold", help="Walk to a bus stop counted as in range (m; default "
        "from layers/resource_categories.toml, 300).")] = None,
    min_departures: Annotated[int | None, typer.Option(
        "--min-departures", help="Departures a stop needs on every weekday (default 10).")]
        = None,
    service_area: Annotated[list[str] | None, typer.Option(
        "--service-area", help="ID=SPEC: the registry's service ID (配食, 宅配 …) gets "
        "another service area; SPEC is a GeoJSON polygon file, municipality, "
        "radius:METRES, walk:MINUTES or areas:LAYER:ID,ID (repeatable).")] = None,
    withdraw: Annotated[list[str] | None, typer.Option(
        "--withdraw", help="The registry's service ID stops (repeatable).")] = None,
    staff: StaffOpt = False,
    database_url: DatabaseOpt = None,
    description: Annotated[str, typer.Option(help="What the scenario is about.")] = "",
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace a saved scenario of the same name.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the tables and the difference map to this folder.")] = None,
    layer: LayerOpt = None,
    region: RegionOpt = None,
    folder: FolderOpt = None,
    store_layer: StoreLayerOpt = FOOD_STORE_LAYER,
) -> None:
    """Create a scenario, compute it against the baseline, print the difference, save it.

    It is saved only when it can be computed (unknown stores, points off the network or
    unreadable projection files are refused, exit 2, nothing written)."""
    from geo_service.planning.scenarios import Baseline, Scenario, apply_scenario, save_scenario

    try:
        loaded, store_layer_def, where = _context(region, folder, store_layer)
        changes = _changes(loaded, close or [], add_store or [], add_stop or [], threshold,
                           speed, projection, year, projection_layer, projection_column or [],
                           {"network": bus_network or [], "cut": cut_route or [],
                            "add": add_route or [], "threshold": bus_threshold,
                            "min_departures": min_departures},
                           {"area": service_area or [], "withdraw": withdraw or []})
        if not changes:
            raise InputError(msg("a scenario needs at least one change (--close, --add-store, "
                                 "--add-stop, --threshold, --speed, --projection/--year, "
                                 "--cut-route, --add-route, --service-area or --withdraw)"))
        scenario = Scenario(name, changes, description=description, region=loaded.key)
        if not replace and (where / f"{name}.json").exists():
            raise InputError(msg("a scenario of this name exists; use --replace or another "
                                 "name"),
                             file=where / f"{name}.json")
        walking = _walking(loaded, [scenario], database_url)
        baseline = Baseline.saved(loaded, layer=store_layer_def)
        result = apply_scenario(baseline, scenario, walking=walking, staff=staff)
        _print_result(result, layer)
        path = save_scenario(scenario, where, overwrite=replace)
        if out is not None:
            from geo_service.reports.scenario_map import write_scenario

            write_scenario(result, out)
    except InputError as exc:
        raise fail(exc) from exc
    console.print(msg("saved: {path}", path=path).text())
    if out is not None:
        console.print(msg("difference map: [bold]{path}[/]",
                          path=out / "difference_map.html").text())


@scenario_app.command("list")
def list_cmd(region: RegionOpt = None, folder: FolderOpt = None) -> None:
    """List the saved scenarios of the region."""
    from geo_service.planning.scenarios import list_scenarios

    try:
        _, _, where = _context(region, folder, FOOD_STORE_LAYER)
        items = list_scenarios(where)
    except InputError as exc:
        raise fail(exc) from exc
    table = Table(title=str(msg("scenarios: {folder}", folder=where)))
    for col in (msg("name"), msg("changes"), msg("created"), msg("description")):
        table.add_column(str(col), overflow="fold")
    for s in items:
        table.add_row(s.name, "; ".join(_describe(c) for c in s.changes), s.created,
                      s.description)
    console.print(table if items else msg("no scenario is saved in {folder}",
                                          folder=where).text())


def _describe(change: dict[str, Any]) -> str:
    kind = change["kind"]
    return {
        "close_store": lambda c: f"閉店 {c['store']}",
        "add_store": lambda c: f"新店 {c['id']} ({c['category']})",
        "add_stop": lambda c: f"移動販売 {c['id']}",
        "threshold": lambda c: f"閾値 {c['metres']:g} m",
        "speed": lambda c: f"速度 {c['mps']:g} m/s",
        "projection": lambda c: f"将来人口 {c['year']} ({Path(c['file']).name})",
        "bus_network": lambda c: "バス路線網 " + ", ".join(Path(f).name for f in c["feeds"]),
        "cut_route": lambda c: f"路線廃止 {Path(c['feed']).name}",
        "add_route": lambda c: f"路線新設 {Path(c['feed']).name}",
        "service_area": lambda c: f"サービス区域変更 {c['resource']} "
                                  f"({c['service_area']['kind']})",
        "withdraw_service": lambda c: f"サービス撤退 {c['resource']}",
    }[kind](change)


@scenario_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A saved scenario's name (or its JSON file).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the tables and the difference map to this folder.")] = None,
    layer: LayerOpt = None,
    region: RegionOpt = None,
    folder: FolderOpt = None,
    store_layer: StoreLayerOpt = FOOD_STORE_LAYER,
    staff: StaffOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Compute a saved scenario and print before, after and the change per area."""
    from geo_service.planning.scenarios import Baseline, apply_scenario, load_scenario

    try:
        loaded, store_layer_def, where = _context(region, folder, store_layer)
        scenario = load_scenario(name, where)
        walking = _walking(loaded, [scenario], database_url)
        baseline = Baseline.saved(loaded, layer=store_layer_def)
        result = apply_scenario(baseline, scenario, walking=walking, staff=staff)
        _print_result(result, layer)
        if out is not None:
            from geo_service.reports.scenario_map import write_scenario

            write_scenario(result, out)
    except InputError as exc:
        raise fail(exc) from exc
    if out is not None:
        tables = ", ".join(str(out / f"difference_{kind}.csv") for kind in ("areas", "points"))
        console.print(msg("difference map: [bold]{path}[/]  tables: {tables}",
                          path=out / "difference_map.html", tables=tables).text())


@scenario_app.command("compare")
def compare(
    names: Annotated[list[str], typer.Argument(help="Saved scenarios to compare.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the comparison as CSV (UTF-8 with BOM).")] = None,
    layer: LayerOpt = None,
    region: RegionOpt = None,
    folder: FolderOpt = None,
    store_layer: StoreLayerOpt = FOOD_STORE_LAYER,
    staff: StaffOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Compare scenarios: the share of 65+ beyond the threshold per area, baseline and each."""
    from geo_service.outputs import csv_writer, write_outputs
    from geo_service.planning.scenarios import (
        Baseline,
        apply_scenario,
        compare_scenarios,
        load_scenario,
    )

    try:
        loaded, store_layer_def, where = _context(region, folder, store_layer)
        scenarios = [load_scenario(n, where) for n in names]
        walking = _walking(loaded, scenarios, database_url)
        baseline = Baseline.saved(loaded, layer=store_layer_def)
        results = [apply_scenario(baseline, s, walking=walking, staff=staff)
                   for s in scenarios]
        table = compare_scenarios(results)
        name = layer or str(table["layer"].iloc[0])
        shown = table[table["layer"] == name]
        if shown.empty:
            raise InputError(msg("no area layer {name!r}", name=name), value=name)
    except InputError as exc:
        raise fail(exc) from exc
    view = _per_scenario_table(str(msg("{layer}: share of people 65+ beyond walking range — "
                                       "the baseline and each scenario", layer=name)),
                               shown, results, share)
    total = Table(title=str(msg("whole region")))
    total.add_column("")
    total.add_column(str(msg("people 65+ beyond walking range")), justify="right")
    total.add_row(str(msg("baseline")), share(results[0].before.summary()["beyond_share"]))
    for r in results:
        s = r.after.summary()
        total.add_row(r.scenario.name, f"{s['beyond_65plus']:,.0f} ({share(s['beyond_share'])})")
    print_table(view)
    print_table(total)
    with_services = [r for r in results if r.alternatives is not None]
    if with_services:
        gaps = compare_scenarios(with_services, measure="gap_65plus")
        gaps = gaps[gaps["layer"] == name]
        console.print(_per_scenario_table(str(msg(
            "{layer}: people 65+ beyond walking range and with no alternative — the baseline "
            "and each scenario", layer=name)), gaps, with_services, lambda x: f"{x:,.0f}"))
    if out is not None:
        write_outputs(out.parent, {out.name: csv_writer(table.round(4))})
        console.print(msg("table: {path}", path=out).text())


def _per_scenario_table(title: str, rows: Any, results: list[Any],
                        fmt: Callable[[float], str]) -> Table:
    """One row per area of ``rows`` (a :func:`compare_scenarios` table): the baseline and
    each scenario of ``results``, formatted with ``fmt``."""
    view = Table(title=title)
    view.add_column(str(msg("area")))
    view.add_column(str(msg("baseline")), justify="right")
    for r in results:
        view.add_column(r.scenario.name, justify="right", overflow="fold")
    for _, row in rows.iterrows():
        view.add_row(str(row["name"]), fmt(row["baseline"]),
                     *(fmt(row[r.scenario.name]) for r in results))
    return view


@scenario_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="A saved scenario's name.")],
    region: RegionOpt = None,
    folder: FolderOpt = None,
) -> None:
    """Delete a saved scenario (the baseline is never touched)."""
    from geo_service.planning.scenarios import delete_scenario

    try:
        _, _, where = _context(region, folder, FOOD_STORE_LAYER)
        path = delete_scenario(name, where)
    except InputError as exc:
        raise fail(exc) from exc
    console.print(msg("deleted: {path}", path=path).text())


def register(app: typer.Typer) -> None:
    """Add ``geo-service scenario …`` to the main app."""
    app.add_typer(scenario_app, name="scenario")
