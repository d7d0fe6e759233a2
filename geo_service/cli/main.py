"""The ``geo-service`` command line (Typer): the app, ``difficulty`` and ``demo``; the other
command groups register themselves from their modules (exit codes: :mod:`.common`)."""

from __future__ import annotations

import atexit
import gc
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo_service import settings
from geo_service._errors import InputError
from geo_service.cli.common import (
    BboxOpt,
    NetworkOpt,
    PlaceOpt,
    PopulationOpt,
    SpeedOpt,
    ThresholdOpt,
    console,
    err_console,
    fail,
    print_note,
    print_table,
    share,
    worst_areas,
)
from geo_service.cli.help import localize
from geo_service.i18n import language_from_env, msg, use_language
from geo_service.layers import FOOD_STORE_LAYER

app = typer.Typer(
    name="geo-service",
    help="Walking access to community support for older people: shopping-difficulty maps "
         "(買い物環境マップ), coverage, gaps, siting and what-if scenarios.",
    no_args_is_help=True,
    add_completion=False,
)

STAGE_LABELS = {
    "network": msg("reading the walking network"),
    "stores": msg("reading the stores"),
    "population": msg("apportioning the population"),
    "areas": msg("reading the areas"),
    "attach": msg("attaching points to the streets"),
    "distance field": msg("measuring the walk to the nearest store"),
    "indicators": msg("counting the indicators"),
    "write": msg("writing the outputs"),
    "demo": msg("building the synthetic demo town"),
}


# A command's process ends without the interpreter's last garbage collections over the
# objects its libraries made (numpy, pandas, scipy, SQLAlchemy …: about 0.4 s of CPU at
# each exit): atexit runs the handlers registered later first, then this freezes what is
# still alive, so the final collections pass over it; files, databases and threads are
# closed as before (by their handlers and reference counts).
atexit.register(gc.freeze)


@app.callback()
def main(ctx: typer.Context) -> None:
    """geo-service: walking accessibility for community support in Japan."""
    # messages in the user's language (LANG, LC_ALL, LC_MESSAGES; GEO_SERVICE_LANG wins)
    ctx.call_on_close(use_language(language_from_env()))


@contextmanager
def _progress(total: int):
    """A progress bar over pipeline stages; yields the Stages hook."""
    from geo_service.jobs.pipeline import Stages

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task(str(msg("starting")), total=total)
        started: list[str] = []

        def on_start(name: str) -> None:
            if started:
                progress.advance(task)
            started.append(name)
            progress.update(task, description=str(STAGE_LABELS.get(name, name)))

        yield Stages(on_start=on_start)
        progress.update(task, completed=total)


def _print_summary(result, out: Path, started: float, *, synthetic: bool) -> None:
    s = result.summary()
    label = result.region.label
    title = msg("Shopping access: summary")
    if synthetic and "デモ" not in label:
        title = msg("{title}  [synthetic demo]", title=title)
    table = Table(title=f"{label}：{title}" if label else str(title),
                  show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    m = result.threshold_m
    table.add_row(str(msg("areas")), " · ".join(f"{k} {v}" for k, v in
                                                result.areas_by_layer().items()))
    table.add_row(str(msg("demand points")), f"{s['demand_points']:,}")
    table.add_row(str(msg("stores counted")), f"{s['stores']}")
    table.add_row(str(msg("people 65+")), f"{s['pop_65plus']:,.0f}")
    table.add_row(str(msg("beyond {m:g} m on foot", m=m)),
                  f"{s['beyond_65plus']:,.0f}  ({share(s['beyond_share'])})")
    table.add_row(str(msg("beyond {m:g} m in a straight line", m=m)),
                  share(s["beyond_share_straight"]))
    table.add_row(str(msg("cannot reach any store")), f"{s['unreachable_65plus']:,.0f}")
    table.add_row(str(msg("run time")), f"{time.perf_counter() - started:.1f} s")
    print_table(table)
    print_table(worst_areas(result.areas, result.threshold_m))
    for note in result.notes:
        print_note(note)
    if result.region.attributions:
        console.print(msg("sources: {sources}", sources=" / ".join(
            result.region.attributions)).text(), highlight=False)
    console.print(msg("map: [bold]{path}[/]", path=out / "map.html").text())
    paths = ", ".join(str(out / name) for name in ("areas.csv", "points.csv"))
    console.print(msg("tables: {paths} (+ .geojson)", paths=paths).text())


@app.command()
def difficulty(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    stores: Annotated[str, typer.Option(
        "--stores", help="Store file (GeoJSON/GPKG/CSV with category) or 'osm'.")],
    population: PopulationOpt,
    areas: Annotated[list[str], typer.Option(
        "--areas", help="Area layer [LABEL=]FILE[+MAPPING.csv], or mesh500/mesh250/mesh1km; "
        "repeatable.")],
    network: NetworkOpt = None,
    place: PlaceOpt = None,
    bbox: BboxOpt = None,
    threshold: ThresholdOpt = settings.threshold_m,
    speed: SpeedOpt = settings.walking_speed_mps,
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
        console.print(msg("region for the pages and the API: {path}  → geo-service serve "
                          "--region {path}", path=save_region).text())


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] =
        Path("geo-service-demo"),
    threshold: ThresholdOpt = settings.threshold_m,
) -> None:
    """Run the whole pipeline on a built-in synthetic hillside town (no network needed)."""
    from geo_service.jobs.demo import run_demo

    started = time.perf_counter()
    try:
        with _progress(total=9) as stages:
            result = run_demo(out, threshold_m=threshold, stages=stages)
    except InputError as exc:
        raise fail(exc) from exc
    console.print(msg("[bold red]This is synthetic demo data, not a real town.[/]").text())
    _print_summary(result, out, started, synthetic=True)
    console.print(msg("demo inputs: {path}", path=out / "inputs").text())


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


localize(app)

if __name__ == "__main__":
    app()
