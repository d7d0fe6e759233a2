"""``geo-service region``: build a named region from a municipality's files, show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service import settings
from geo_service._errors import InputError
from geo_service.cli import common as opt  # the options difficulty shares
from geo_service.cli.common import console, fail, service_settings

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
    console.print(f"[bold]{region.label}[/]（市区町村コード {region.municipality_code}）を"
                  f"作成しました (region built): {out}", highlight=False)
    console.print(f"  道路網 (streets) {region.net.n_nodes:,} 節点 (nodes) · 居住地点 (demand "
                  f"points) {len(region.demand):,} · 65歳以上 (people 65+) "
                  f"{region.demand['pop_65plus'].sum():,.0f} 人", highlight=False)
    for layer in region.areas:
        console.print(f"  区域 (areas) {layer.name}: {len(layer.areas)}", highlight=False)
    for key, table in region.resources.items():
        console.print(f"  {key}: {len(table)}", highlight=False)
    if inputs.facilities:  # the region is saved; its registry is another file
        try:
            store = open_store(service_settings(database_url).registry_url(region.key)
                               if database_url is None else database_url)
            lines = import_facilities(region, inputs.facilities, store)
        except InputError as exc:
            raise fail(exc) from exc
        for line in lines:
            console.print(f"  {line}", highlight=False)
    _print_sources(region)
    for note in region.notes:
        console.print(f"[yellow]注意:[/] {note}", highlight=False)
    console.print(f"→ geo-service serve --region {out}", highlight=False)


@region_app.command("show")
def show(region: Annotated[Path, typer.Argument(help="A saved region folder.")]) -> None:
    """A saved region's name, code, extent and sources."""
    from geo_service.engine.region import Region

    try:
        loaded = Region.load(region)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{region}: not a saved region folder ({exc})") from exc
    code = f"（市区町村コード {loaded.municipality_code}）" if loaded.municipality_code else ""
    console.print(f"[bold]{loaded.label}[/]{code}  {region}", highlight=False)
    console.print(f"  道路網 (streets) {loaded.net.n_nodes:,} 節点 · 区域 (areas) "
                  f"{', '.join(a.name for a in loaded.areas) or '—'}", highlight=False)
    _print_sources(loaded)


def _print_sources(region) -> None:  # type: ignore[no-untyped-def]
    """The sources, one line each: role, file, publisher, edition, licence, attribution."""
    console.print("出典 (sources):", highlight=False)
    for s in region.sources:
        parts = [s.publisher or "提供元不明（--source FILE:publisher=… で補ってください）",
                 s.edition, s.licence]
        console.print(f"  {s.role}: {s.file}" + ("  [生成・実データではない synthetic]"
                                                  if s.synthetic else "")
                      + f" — {' · '.join(p for p in parts if p)}"
                      + (f" 「{s.attribution}」" if s.attribution else ""), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``geo-service region`` to the main app."""
    app.add_typer(region_app, name="region")
