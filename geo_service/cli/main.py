"""The ``geo-service`` command line (Typer): the app, ``difficulty`` and ``demo``; the other
command groups register themselves from their modules (exit codes: :mod:`.common`)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import settings
from geo_service._errors import InputError
from geo_service.cli.common import console, err_console, fail, share, worst_areas
from geo_service.layers import FOOD_STORE_LAYER

app = typer.Typer(
    name="geo-service",
    help="Walking access to community support for older people (買い物環境マップ and coverage).",
    no_args_is_help=True,
    add_completion=False,
)

STAGE_LABELS = {
    "network": "歩行ネットワークを読み込み中 (walking network)",
    "stores": "店舗を読み込み中 (stores)",
    "population": "人口を配分中 (population)",
    "areas": "区域を読み込み中 (areas)",
    "attach": "地点を道路に接続中 (attach to edges)",
    "distance field": "最寄り店舗までの距離を計算中 (distance field)",
    "indicators": "指標を集計中 (indicators)",
    "write": "出力を書き込み中 (writing outputs)",
    "demo": "デモ地域を生成中 (building synthetic demo town)",
}


@app.callback()
def main() -> None:
    """geo-service: walking accessibility for community support in Japan."""


@contextmanager
def _progress(total: int):
    """A progress bar over pipeline stages; yields the Stages hook."""
    from geo_service.jobs.pipeline import Stages

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("開始", total=total)
        started: list[str] = []

        def on_start(name: str) -> None:
            if started:
                progress.advance(task)
            started.append(name)
            progress.update(task, description=STAGE_LABELS.get(name, name))

        yield Stages(on_start=on_start)
        progress.update(task, completed=total)


def _print_summary(result, out: Path, started: float, *, synthetic: bool) -> None:
    s = result.summary()
    label = result.region.label
    table = Table(title=f"{label}：買い物環境 — 結果の要約 (summary)"
                  + ("  [合成デモ]" if synthetic and "デモ" not in label else ""),
                  show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("区域 (areas)", " · ".join(f"{k} {v}" for k, v in
                                             result.areas_by_layer().items()))
    table.add_row("居住地点 (demand points)", f"{s['demand_points']:,}")
    table.add_row("集計対象の店舗 (counted stores)", f"{s['stores']}")
    table.add_row("65歳以上人口 (people 65+)", f"{s['pop_65plus']:,.0f}")
    table.add_row(f"徒歩{result.threshold_m:g}m超 (beyond, walking)",
                  f"{s['beyond_65plus']:,.0f}  ({share(s['beyond_share'])})")
    table.add_row(f"直線{result.threshold_m:g}m超 (beyond, straight line)",
                  share(s["beyond_share_straight"]))
    table.add_row("店舗に到達不可 (cannot reach any store)", f"{s['unreachable_65plus']:,.0f}")
    table.add_row("所要時間 (runtime)", f"{time.perf_counter() - started:.1f} s")
    console.print(table)
    console.print(worst_areas(result.areas, result.threshold_m))
    for note in result.notes:
        console.print(f"[yellow]注意:[/] {note}", highlight=False)
    if result.region.attributions:
        console.print(f"出典 (sources): {' / '.join(result.region.attributions)}",
                      highlight=False)
    console.print(f"地図 (map): [bold]{out / 'map.html'}[/]")
    console.print(f"表 (tables): {out / 'areas.csv'}, {out / 'points.csv'} (+ .geojson)")


@app.command()
def difficulty(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    stores: Annotated[str, typer.Option(
        "--stores", help="Store file (GeoJSON/GPKG/CSV with category) or 'osm'.")],
    population: Annotated[list[Path], typer.Option(
        "--population", help="Population: points, polygons, mesh table, or an e-Stat "
        "table and its shapefile (give --population twice).")],
    areas: Annotated[list[str], typer.Option(
        "--areas", help="Area layer [LABEL=]FILE[+MAPPING.csv], or mesh500/mesh250/mesh1km; "
        "repeatable.")],
    network: Annotated[Path | None, typer.Option(
        "--network", help="Walking network: .osm.pbf, .osm, Overpass .json, .graphml.")] = None,
    place: Annotated[str | None, typer.Option(
        "--place", help="Download the walking network of a place (needs internet).")] = None,
    bbox: Annotated[str | None, typer.Option(
        "--bbox", help="Download the walking network in W,S,E,N degrees (needs internet).")]
        = None,
    threshold: Annotated[float, typer.Option(help="Walking distance threshold (m).")] =
        settings.threshold_m,
    speed: Annotated[float, typer.Option(help="Walking speed on the flat (m/s).")] =
        settings.walking_speed_mps,
    dem: Annotated[Path | None, typer.Option(help="DEM GeoTIFF for slope-aware times.")] = None,
    store_layer: Annotated[str, typer.Option(
        help="Resource layer definition (layers/NAME.toml or a path).")] = FOOD_STORE_LAYER,
    include: Annotated[list[str] | None, typer.Option(
        help="Count only these store categories (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        help="Leave these store categories out, e.g. convenience (repeatable).")] = None,
    car_rate: Annotated[str | None, typer.Option(
        help="Share of 65+ who can use a car (MAFF adjustment): 0–1, or a CSV of "
        "area_id,car_rate.")] = None,
    buildings: Annotated[Path | None, typer.Option(
        help="Building footprints to place residents at (vector file).")] = None,
    save_region: Annotated[Path | None, typer.Option(
        help="Also save the region (network, demand, areas, stores) to this folder, for "
        "`geo-service serve --region`.")] = None,
) -> None:
    """Shopping-difficulty map: share of people 65+ beyond a walk to a food store."""
    from geo_service.jobs.pipeline import (
        build_region,
        compute_difficulty,
        parse_car_rate,
        write_difficulty,
    )
    from geo_service.layers import load_resource_layer

    started = time.perf_counter()
    try:
        rates = parse_car_rate(car_rate)
        layer = load_resource_layer(store_layer).restricted(include, exclude)
        with _progress(total=8) as stages:
            region = build_region(network=network, place=place, bbox=bbox, stores=stores,
                                  population=list(population), areas=list(areas), dem=dem,
                                  speed=speed, layer=layer, buildings=buildings, stages=stages)
            result = compute_difficulty(region, layer=layer, threshold_m=threshold,
                                        car_rate=rates, stages=stages)
            write_difficulty(result, out, stages=stages)
    except InputError as exc:
        raise fail(exc) from exc
    _print_summary(result, out, started, synthetic=False)
    if save_region is not None:
        region.threshold_m = threshold
        region.save(save_region)
        console.print(f"地域データ (region for the API): {save_region}  "
                      f"→ geo-service serve --region {save_region}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("geo-service-demo"),
    threshold: Annotated[float, typer.Option(help="Walking distance threshold (m).")] =
        settings.threshold_m,
) -> None:
    """Run the whole pipeline on a built-in synthetic hillside town (no network needed)."""
    from geo_service.jobs.demo import run_demo

    started = time.perf_counter()
    try:
        with _progress(total=9) as stages:
            result = run_demo(out, threshold_m=threshold, stages=stages)
    except InputError as exc:
        raise fail(exc) from exc
    console.print("[bold red]これは合成デモデータです (synthetic demo data, not a real town).[/]")
    _print_summary(result, out, started, synthetic=True)
    console.print(f"デモの入力ファイル (demo inputs): {out / 'inputs'}")


from geo_service.cli.registry import register as _register_registry_commands  # noqa: E402

_register_registry_commands(app)
from geo_service.cli.gaps import register as _register_gaps_commands  # noqa: E402

_register_gaps_commands(app)
from geo_service.cli.siting import register as _register_siting_commands  # noqa: E402

_register_siting_commands(app)
from geo_service.cli.scenario import register as _register_scenario_commands  # noqa: E402

_register_scenario_commands(app)
from geo_service.cli.karte import register as _register_karte_commands  # noqa: E402

_register_karte_commands(app)
from geo_service.cli.batch import register as _register_batch_commands  # noqa: E402

_register_batch_commands(app)
from geo_service.cli.region import register as _register_region_commands  # noqa: E402

_register_region_commands(app)
