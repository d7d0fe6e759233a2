"""``geo-service region``: build a named region from a municipality's files, show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service import settings
from geo_service._errors import InputError
from geo_service.cli import common as opt  # the options difficulty shares
from geo_service.cli.common import console, fail, print_note, service_settings
from geo_service.i18n import current_language, msg, text_of
from geo_service.inputs import sources as src

region_app = typer.Typer(
    help="地域（市区町村）のデータ: build a named region from open data files.",
    no_args_is_help=True)


@region_app.command("build")
def build(
    out: Annotated[Path, typer.Argument(help="The region folder to write (e.g. iizuka/).")],
    name: Annotated[str, typer.Option("--name", help="The municipality's name (飯塚市).")],
    code: Annotated[str, typer.Option("--code", help="Its 市区町村コード (40205).")],
    population: opt.PopulationOpt,
    network: opt.NetworkOpt = None,
    place: opt.PlaceOpt = None,
    bbox: opt.BboxOpt = None,
    synthetic_streets: Annotated[float | None, typer.Option(
        "--synthetic-streets", help="No street data: a generated grid every M metres over the "
        "municipality (offline tests and demonstrations only; recorded as synthetic).")] = None,
    outline: Annotated[Path | None, typer.Option(
        "--outline", help="国土数値情報 N03 行政区域 file: the municipality's outline, used to "
        "clip streets and areas.")] = None,
    areas: Annotated[list[str] | None, typer.Option(
        "--areas", help="Area layer [LABEL=]FILE[+MAPPING.csv] (A27/A32, e-Stat, 日常生活圏域 "
        "mapping) or mesh250/mesh500/mesh1km; repeatable. e-Stat small areas become 町丁.")]
        = None,
    stores: Annotated[str | None, typer.Option(
        "--stores", help="Food stores: a list (CSV/GeoJSON with category) or 'osm' (the "
        "extract's shop tags, or downloaded with --place).")] = None,
    facilities: Annotated[list[Path] | None, typer.Option(
        "--facilities", help="公共施設一覧 (デジタル庁 standard layout CSV): imported into the "
        "region's registry as 公共施設; repeatable.")] = None,
    gtfs: Annotated[list[Path] | None, typer.Option(
        "--gtfs", help="GTFS / GTFS-JP feed (zip): checked and copied into the region; "
        "repeatable.")] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Complete or correct a source: FILE:FIELD=VALUE, FIELD one of "
        "publisher, title, edition, licence, attribution, url; repeatable.")] = None,
    projection: Annotated[Path | None, typer.Option(
        "--projection", help="将来推計人口: a 国土数値情報 mesh file (PTC_yyyy …) or a "
        "per-area table, kept in the region: karte and scenario use it for --year.")] = None,
    projection_layer: Annotated[str | None, typer.Option(
        "--projection-layer", help="Area layer of a per-area projection table.")] = None,
    threshold: opt.ThresholdOpt = settings.threshold_m,
    speed: opt.SpeedOpt = settings.walking_speed_mps,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing folder.")] = False,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="Registry for --facilities (default: the region's own SQLite "
        "file in the data directory).")] = None,
) -> None:
    """Build a named region (streets, population, areas, stores, sources) for
    `geo-service serve --region OUT`."""
    from geo_service.jobs.region_build import (
        RegionInputs,
        build_named_region,
        check_projection,
        import_facilities,
        save_region,
    )
    from geo_service.registry.store import open_store

    inputs = RegionInputs(
        title=name, code=code, outline=outline, network=network, place=place, bbox=bbox,
        synthetic_streets_m=synthetic_streets, population=list(population),
        areas=list(areas or []), stores=stores, facilities=list(facilities or []),
        gtfs=list(gtfs or []), source_overrides=list(source or []), threshold_m=threshold,
        speed=speed, projection=projection, projection_layer=projection_layer)
    try:
        region = build_named_region(inputs)
        saved = check_projection(inputs, region) if projection is not None else None
        save_region(region, out, gtfs=inputs.gtfs, replace_existing=force, projection=saved)
    except InputError as exc:
        raise fail(exc) from exc
    console.print(msg("[bold]{name}[/] (municipality code {code}) built: {out}",
                      name=region.label, code=region.municipality_code, out=out).text(),
                  highlight=False)
    console.print(msg("  streets {nodes:,} nodes · demand points {points:,} · people 65+ "
                      "{people:,.0f}", nodes=region.net.n_nodes, points=len(region.demand),
                      people=region.demand["pop_65plus"].sum()).text(), highlight=False)
    for layer in region.areas:
        console.print(msg("  areas {layer}: {n:,}", layer=layer.name,
                          n=len(layer.areas)).text(), highlight=False)
    for key, table in region.resources.items():
        console.print(msg("  stores ({layer}): {n:,}", layer=key, n=len(table)).text(),
                      highlight=False)
    if inputs.facilities:  # the region is saved; its registry is another file
        try:
            store = open_store(service_settings(database_url).registry_url(region.key)
                               if database_url is None else database_url)
            lines = import_facilities(region, inputs.facilities, store)
        except InputError as exc:
            raise fail(exc) from exc
        for line in lines:
            console.print(f"  {text_of(line)}", highlight=False)
    _print_sources(region)
    for note in region.notes:
        print_note(SYNTHETIC_STREETS if note == src.SYNTHETIC_ATTRIBUTION else note)
    console.print(f"→ geo-service serve --region {out}", highlight=False)


@region_app.command("show")
def show(region: Annotated[Path, typer.Argument(help="A saved region folder.")]) -> None:
    """A saved region's name, code, extent and sources."""
    from geo_service.engine.region import Region

    try:
        loaded = Region.load(region)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(msg("{folder}: not a saved region folder ({problem})", folder=region,
                       problem=str(exc))) from exc
    head = (msg("[bold]{name}[/] (municipality code {code})  {folder}", name=loaded.label,
                code=loaded.municipality_code, folder=region) if loaded.municipality_code
            else msg("[bold]{name}[/]  {folder}", name=loaded.label, folder=region))
    console.print(head.text(), highlight=False)
    console.print(msg("  streets {nodes:,} nodes · areas {areas}", nodes=loaded.net.n_nodes,
                      areas=", ".join(a.name for a in loaded.areas) or "—").text(),
                  highlight=False)
    _print_sources(loaded)


#: the note of a region on generated streets (stored in Japanese in region.json)
SYNTHETIC_STREETS = msg("the streets are a generated grid (not real streets)")
#: the roles region build records its inputs under (stored in Japanese), in English
ROLES_EN = {"道路網": "streets", "行政区域": "outline", "人口": "population", "店舗": "stores",
            "公共施設": "public facilities", "バス（GTFS）": "bus (GTFS)",
            "将来推計人口": "population projection", "区域": "areas"}


def role_label(role: str) -> str:
    """A source's role in the user's language (``区域 町丁`` → ``areas 町丁`` in English)."""
    if current_language() == "ja":
        return role
    head, sep, rest = role.partition(" ")
    return ROLES_EN.get(head, head) + sep + rest


def _print_sources(region) -> None:  # type: ignore[no-untyped-def]
    """The sources, one line each: role, file, publisher, edition, licence, attribution."""
    console.print(msg("sources:").text(), highlight=False)
    for s in region.sources:
        parts = [s.publisher or msg("publisher unknown (add it with --source "
                                    "FILE:publisher=…)").text(), s.edition, s.licence]
        line = msg("  {role}: {file}{generated} — {details}", role=role_label(s.role),
                   file=s.file, generated=msg("  (generated, not real data)")
                   if s.synthetic else "", details=" · ".join(p for p in parts if p)).text()
        if s.attribution:
            line += msg(" “{attribution}”", attribution=s.attribution).text()
        console.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``geo-service region`` to the main app."""
    app.add_typer(region_app, name="region")
