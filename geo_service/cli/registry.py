"""Commands of the resource registry: ``serve``, ``coverage``, ``import resources``,
``export resources``, ``users add``. Registered on the main Typer app by :func:`register`.

Every command reads the deployment settings (``GEO_SERVICE_DATABASE_URL`` …, see
:mod:`geo_service.config`); ``--database-url`` overrides the database.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len
from rich.table import Table

from geo_service._errors import InputError
from geo_service.cli.common import (
    DatabaseOpt,
    RegionOpt,
    console,
    demo_region,
    err_console,
    fail,
    open_walking,
    pick_region,
    print_table,
    service_settings,
)
from geo_service.i18n import msg, msg_n

import_app = typer.Typer(help="Import data into the registry.", no_args_is_help=True)
export_app = typer.Typer(help="Export data from the registry.", no_args_is_help=True)
users_app = typer.Typer(help="Manage staff users (coordinators, admins).", no_args_is_help=True)

#: uvicorn would believe ``X-Forwarded-For`` from loopback (its ``--forwarded-allow-ips``
#: default) and hand the app the address the client wrote; the app decides instead, from
#: the proxies named in ``GEO_SERVICE_TRUSTED_PROXIES`` (geo_service.api.deps.client_address)
UVICORN_PROXY_OPTIONS = {"proxy_headers": False}


def _region_registry(settings, region: Path | None):  # type: ignore[no-untyped-def]
    """The region to work in (:func:`~geo_service.cli.common.pick_region`; the demo only
    when no database is configured either) and its registry, bound to it; a configured
    database without a region is opened as it is. Returns (Region or None, store)."""
    from geo_service.registry.store import open_store
    from geo_service.service.walking import serve_region

    _, loaded = pick_region(settings, region, demo=not settings.database_configured)
    if loaded is None:
        return None, open_store(settings.database_url)
    store = open_store(settings.registry_url(loaded.key))
    serve_region(store, loaded, area_layer=settings.area_layer)
    return loaded, store


@import_app.command("resources")
def import_resources_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8, UTF-8 BOM or CP932) or .xlsx")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
    partial: Annotated[bool, typer.Option(
        "--partial", help="Write the valid rows even if some are rejected.")] = False,
    update: Annotated[bool, typer.Option(
        "--update", help="Yearly update round: rows whose id exists refresh that resource "
        "(only the columns in the file; others keep their values).")] = False,
    category: Annotated[str | None, typer.Option(
        "--category", help="Category for rows without one (e.g. 公共施設).")] = None,
    areas: Annotated[Path | None, typer.Option(
        "--areas", help="Boundary file (A27/A32, e-Stat, GeoJSON) to resolve area names "
        "in service-area text.")] = None,
    region: RegionOpt = None,
    user: Annotated[str, typer.Option("--user", help="Name recorded in the history.")] =
        "import",
    database_url: DatabaseOpt = None,
) -> None:
    """Import a resource list; all or nothing unless --partial; --dry-run reports only."""
    from geo_service.registry.import_rows import ImportContext
    from geo_service.registry.imports import import_resources, read_resource_table

    settings = service_settings(database_url)
    try:
        _, store = _region_registry(settings, region)
        layers = dict(store.layers)
        if areas is not None:
            from geo_service.inputs.boundaries import read_area_layer

            extra = read_area_layer(areas)
            layers[extra.name] = extra
        table = read_resource_table(file, limits=settings.read_limits)  # GEO_SERVICE_UPLOAD_*
        report = import_resources(store, table, ctx=ImportContext(
            default_category=category, source=file.name, layers=layers),
            dry_run=dry_run, partial=partial, user=user, update=update)
    except InputError as exc:
        raise fail(exc) from exc
    console.print(report.summary(), highlight=False)
    if report.problems and not (report.written or report.updated):
        if not dry_run:
            err_console.print(msg("nothing was written (an import is all or nothing; fix the "
                                  "rows above, or use --partial to write the valid rows)").text())
        raise typer.Exit(code=2)


@export_app.command("resources")
def export_resources_cmd(
    out: Annotated[Path, typer.Argument(help="Output .csv, .xlsx or .geojson")],
    staff: Annotated[bool, typer.Option(
        "--staff", help="Include staff-only resources and fields (default: public only).")]
        = False,
    encoding: Annotated[str, typer.Option(
        "--encoding", help="CSV encoding: utf-8-sig (Excel-friendly) or cp932.")] =
        "utf-8-sig",
    region: RegionOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Export the registry (public view by default)."""
    from geo_service.registry.exports import export_resources
    from geo_service.registry.store import ResourceFilter

    try:
        loaded, store = _region_registry(service_settings(database_url), region)
        items = store.all(ResourceFilter(include_staff=staff))
        export_resources(items, out, public=not staff, encoding=encoding, layers=store.layers,
                         region=loaded.label if loaded is not None else "",
                         attributions=loaded.attributions if loaded is not None else ())
    except (InputError, UnicodeEncodeError) as exc:
        if isinstance(exc, UnicodeEncodeError):
            exc = InputError(msg("a value cannot be written in {encoding}: {reason}",
                                 encoding=encoding, reason=exc.reason),
                             file=out, value=exc.object[exc.start:exc.end])
        raise fail(exc) from exc
    console.print((msg_n("{n} resource → {out} (staff view)", "{n} resources → {out} (staff "
                         "view)", len(items), out=out) if staff else
                   msg_n("{n} resource → {out} (public view)", "{n} resources → {out} (public "
                         "view)", len(items), out=out)).text())


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option("--role", help="coordinator or admin")] = "coordinator",
    area: Annotated[list[str] | None, typer.Option(
        "--area", help="An area the coordinator is responsible for (repeat).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    region: RegionOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a staff user (the password is asked for, or read with --password-stdin).

    Areas are those of the region's responsible-area layer, by id or name (川西 →
    川西小学校's id); an unknown area is an error listing the layer's areas.
    """
    from geo_service.registry.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        _, store = _region_registry(service_settings(database_url), region)
        user = store.add_user(username, hash_password(password), role=role,  # type: ignore[arg-type]
                              areas=area or [])
    except InputError as exc:
        raise fail(exc) from exc
    console.print(msg("user {name!r} ({role}; areas: {areas}) created", name=user.username,
                      role=user.role, areas=", ".join(user.areas) or "—").text())


def coverage(
    layer: Annotated[str, typer.Option(
        "--layer", help="Area layer of the region (小学校区, 中学校区, 日常生活圏域 … or "
        "its id: elementary, junior_high, mesh250 …).")],
    region: RegionOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the table as CSV (UTF-8 with BOM): one row per area and "
        "category.")] = None,
    staff: Annotated[bool, typer.Option(
        "--staff", help="Count staff-only resources too (default: the public view).")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="Walking distance (m) counted as within range (default: the region's).")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Coverage per area: resources located in it, services covering it, and the share of
    people 65+ within walking range, per category — the numbers of ``GET /areas/LAYER``."""
    import pandas as pd

    from geo_service.outputs import csv_writer, write_outputs

    walking = open_walking(database_url, region, threshold_m=threshold)
    try:
        layer = walking.area_layer(layer).name  # a name or its id (elementary, mesh250 …)
        rows = walking.area_coverage(layer, staff=staff)
    except LookupError as exc:
        raise fail(exc.args[0]) from exc
    long = pd.DataFrame([
        {"layer": layer, "area_id": a["area_id"], "name": a["name"],
         "pop_65plus": round(a["pop_65plus"], 2), "category": cat,
         "category_label": c["label"], "located": len(c["located"]),
         "covering": len(c["covering"]),
         "share_65plus_within_walk": (None if c["share_65plus_within_walk"] is None
                                      else round(c["share_65plus_within_walk"], 4))}
        for a in rows for cat, c in a["categories"].items()])
    t = f"{walking.threshold_m:g}"
    table = Table(title=msg("{layer}: share of people 65+ within {m} m on foot", layer=layer,
                            m=t).text(),
                  caption=msg("covered = inside a service's area. The counts are in the CSV of "
                              "--out").text())
    table.add_column(msg("area").text(), overflow="fold")
    table.add_column(msg("people 65+").text(), justify="right")
    labels = list(dict.fromkeys(long["category_label"])) if len(long) else []
    for label in labels:
        table.add_column(label, justify="right", overflow="fold")
    for a in rows:
        cells = {c["label"]: c for c in a["categories"].values()}
        table.add_row(a["name"], f"{a['pop_65plus']:,.0f}", *(
            _coverage_cell(cells.get(label)) for label in labels))
    print_table(table)
    if out is not None:
        write_outputs(out.parent, {out.name: csv_writer(long)})
        console.print(msg("table: {path}", path=out).text())


def _coverage_cell(c: dict | None) -> str:
    """A category's cell: the share within walking range, else whether a service's area
    covers the area (covered: 対象) or nothing does (—)."""
    if c is None:
        return "—"
    share = c["share_65plus_within_walk"]
    if share is not None:
        return f"{share * 100:.0f} %"
    return msg("covered").text() if c["covering"] else "—"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    region: RegionOpt = None,
    demo: Annotated[bool, typer.Option(
        "--demo/--no-demo", help="With nothing configured, serve the synthetic demo region "
        "and a demo registry.")] = True,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log every request (off behind a proxy that logs, or for load tests).")] = True,
    database_url: DatabaseOpt = None,
) -> None:
    """Start the web pages and the API (uvicorn). With nothing configured: the demo region
    and registry."""
    import uvicorn

    from geo_service.engine.region import Region

    settings = service_settings(database_url)
    region = region or settings.region_dir
    url = settings.database_url
    label: object = msg("none")
    if region is None and demo:
        region, loaded = demo_region(settings)
        url, label = settings.registry_url(loaded.key), loaded.label
    elif region is not None:
        # the workers load the region; here only its name and network, to say which file
        try:
            key, label = Region.saved_identity(region)
        except (OSError, ValueError, KeyError) as exc:
            raise fail(msg("{folder}: not a saved region folder ({error})", folder=region,
                           error=exc)) from exc
        if not settings.database_configured:
            url = settings.registry_url(key)
    env = {"GEO_SERVICE_DATABASE_URL": settings.database_url} if database_url else {}
    if region is not None:
        env["GEO_SERVICE_REGION_DIR"] = str(region)
    os.environ.update(env)
    base = f"http://{host}:{port}"
    console.print(msg("geo-service on {url}  region: {label}", url=base, label=label).text()
                  + (f" ({region})" if region is not None else ""), highlight=False)
    places = [(str(msg("registry")), url.split("@")[-1]), (str(msg("residents")), f"{base}/"),
              (str(msg("staff")), f"{base}/staff"),
              (str(msg("council and planning")), f"{base}/council"), ("API", f"{base}/docs")]
    width = max(cell_len(name) for name, _ in places)
    for name, address in places:  # (the addresses whole: a line of the console never wraps)
        console.print(f"  {name}{' ' * (width - cell_len(name))}  {address}", highlight=False)
    uvicorn.run("geo_service.api.main:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=access_log,
                **UVICORN_PROXY_OPTIONS)


def register(app: typer.Typer) -> None:
    """Add the registry commands to the main ``geo-service`` app."""
    app.command("serve")(serve)
    app.command("coverage")(coverage)
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
    app.add_typer(users_app, name="users")
