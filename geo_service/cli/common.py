"""What every ``geo-service`` command shares: the consoles, the exit on bad input, number
formats, the ``--region``/``--database-url`` options, the deployment settings, the region to
work in and its coverage service.

Exit codes: 0 success, 2 invalid input (the message names file, row, column and value),
1 unexpected failure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from geo_service._errors import InputError
from geo_service.i18n import Message, Term, current_language, msg

if TYPE_CHECKING:
    from geo_service.config import ServiceSettings
    from geo_service.engine.region import Region
    from geo_service.service.walking import WalkingService

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)  # a message is one line

INPUT_ERROR = msg("input error")


RegionOpt = Annotated[Path | None, typer.Option("--region", help=(
    "A saved region folder: its registry, area layers and extent (default: "
    "GEO_SERVICE_REGION_DIR; else the demo region)."))]
DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help=(
    "Registry database URL (default: GEO_SERVICE_DATABASE_URL or the region's SQLite file "
    "in the data directory, GEO_SERVICE_DATA_DIR)."))]
# the inputs ``difficulty`` and ``region build`` share
NetworkOpt = Annotated[Path | None, typer.Option("--network", help=(
    "Streets: an OSM extract (.osm.pbf, .osm, Overpass .json) or .graphml."))]
PlaceOpt = Annotated[str | None, typer.Option("--place", help=(
    "Streets (and with --stores osm its shops) downloaded from OpenStreetMap for a place "
    "(needs internet), e.g. 飯塚市."))]
BboxOpt = Annotated[str | None, typer.Option("--bbox", help=(
    "Streets downloaded in W,S,E,N degrees (needs internet)."))]
PopulationOpt = Annotated[list[Path], typer.Option("--population", help=(
    "Population: points, polygons, a mesh table, or an e-Stat table and its small-area "
    "shapefile (give --population twice)."))]
ThresholdOpt = Annotated[float, typer.Option(help="Walking distance threshold (m).")]
SpeedOpt = Annotated[float, typer.Option(help="Walking speed on the flat (m/s).")]


def fail(problem: InputError | Message | str, *, label: Message | str = INPUT_ERROR,
         code: int = 2) -> typer.Exit:
    """Print ``problem`` on stderr under ``label`` in the user's language and return the
    exit to raise."""
    lang = current_language()
    text = problem.text(lang) if isinstance(problem, InputError | Message) else problem
    label = label.text(lang) if isinstance(label, Message) else label
    err_console.print(f"[bold red]{label}{'：' if lang == 'ja' else ': '}[/]{text}",
                      highlight=False)
    return typer.Exit(code=code)


def print_note(note: Message | str) -> None:
    """Print a note of a result (a caveat the reader should know) in the user's language."""
    console.print(msg("[yellow]note:[/] {note}", note=note).text(), highlight=False)


def share(x: float) -> str:
    """A share (0–1) as a percentage with one decimal; ``—`` when there is none."""
    return "—" if not math.isfinite(x) else f"{x * 100:.1f} %"


def signed(x: float, digits: int, unit: str = "") -> str:
    """A change with its sign as printed (``+12 人``, ``-3.4 pt``); one that rounds to
    nothing is ``±0`` (never ``-0.0``, a float's noise); ``—`` when there is none."""
    if not math.isfinite(x):
        return "—"
    text = f"{abs(x):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return "±" + text + unit
    return ("+" if x > 0 else "-") + text + unit


def people(x: float) -> str:
    """A number of people as people count them: whole, with thousands separators (the
    apportioned counts carry fractions that mean nothing to a reader)."""
    return "—" if not math.isfinite(x) else f"{x:,.0f}"


#: the narrowest a number's column is (two Japanese characters of its header a line)
MIN_NUMBER_COLUMN = 4
#: a name's column (an area's) keeps this many cells of its names at least
MIN_NAME_COLUMN = 20


def print_table(table: Table) -> None:
    """Print ``table`` so that a narrow terminal never breaks a number.

    A right-aligned (number) column is as wide as its widest cell (at least
    :data:`MIN_NUMBER_COLUMN`) or, the first that lets the table fit the terminal, its
    whole header or its header's longest English word; its header is folded to that
    width. A name's column folds where it is full but keeps its names' width up to
    :data:`MIN_NAME_COLUMN`; the table's outer edges are padded if there is room. Rich
    otherwise folded ``4,282`` into ``4,28`` and ``2`` and cut a Japanese header to
    ``人 …``: Japanese has no spaces to break at, so a header's whole length was the
    narrowest its column could be.
    """
    def cells(column: Column) -> list[int]:
        return [Text.from_markup(c).cell_len for c in column.cells if isinstance(c, str)]

    def header(column: Column) -> Text:
        h = column.header
        return Text.from_markup(h) if isinstance(h, str) else h if isinstance(h, Text) else (
            Text())

    numbers = [c for c in table.columns if c.justify == "right"]
    names = [c for c in table.columns if c.justify != "right"]
    for column in names:
        column.overflow, column.no_wrap = "fold", False
        column.min_width = min(MIN_NAME_COLUMN, max(cells(column), default=0)) or None
    narrow = [max([MIN_NUMBER_COLUMN, *cells(c)]) for c in numbers]
    whole_words = [max([w, *(cell_len(x) for x in str(header(c)).split() if x.isascii())])
                   for w, c in zip(narrow, numbers, strict=True)]
    whole = [max(w, header(c).cell_len) for w, c in zip(narrow, numbers, strict=True)]
    chrome = 3 * len(table.columns) - 1  # the borders and the padding between them
    room = console.width - chrome - sum(c.min_width or 0 for c in names)
    widths = next((w for w in (whole, whole_words) if sum(w) <= room), narrow)
    table.pad_edge = sum(widths) + 2 <= room  # the outer edges' padding, if there is room
    for column, width in zip(numbers, widths, strict=True):
        lines = header(column).wrap(console, width, overflow="fold")
        for line in lines:
            line.rstrip()
        column.header = Text("\n").join(lines)
        column.no_wrap = True
    console.print(table)


def worst_areas(areas: Any, threshold_m: float, *, limit: int = 8,
                file: str = "areas.csv") -> Table:
    """The areas of the first layer, hardest first (the rest are in ``file``)."""
    first = areas[areas["layer"] == areas["layer"].iloc[0]]
    worst = first.sort_values("beyond_share", ascending=False, na_position="last").head(limit)
    m = threshold_m
    table = Table(title=str(msg("{layer}: highest share of people 65+ beyond {m:g} m on foot "
                                "first", layer=first["layer"].iloc[0], m=m)))
    area = str(msg("area"))
    for col in (area, str(msg("people 65+")), str(msg("beyond {m:g} m on foot", m=m)),
                str(msg("beyond {m:g} m in a straight line", m=m)), str(msg("median")),
                str(msg("stores"))):
        table.add_column(col, justify="left" if col == area else "right")
    for row in worst.itertuples():
        median = "—" if not math.isfinite(row.median_m) else f"{row.median_m:,.0f} m"
        table.add_row(str(row.name), f"{row.pop_65plus:,.0f}", share(row.beyond_share),
                      share(row.beyond_share_straight), median, f"{row.stores_in_area}")
    if len(first) > limit:
        table.caption = str(msg("{n} more areas in {file}", n=len(first) - limit, file=file))
    return table


def service_settings(database_url: str | None = None) -> ServiceSettings:
    """The deployment settings (``GEO_SERVICE_*``), ``--database-url`` overriding the
    database."""
    from geo_service.config import ServiceSettings

    return ServiceSettings(database_url=database_url) if database_url else ServiceSettings()


def pick_region(settings: ServiceSettings, region: Path | None, *,
                demo: bool) -> tuple[Path | None, Region | None]:
    """The region to work in, loaded once: ``--region``, else ``GEO_SERVICE_REGION_DIR``,
    else (with ``demo``) the demo region. Returns (folder, Region), or (None, None)."""
    from geo_service.engine.region import Region

    folder = region or settings.region_dir
    if folder is None:
        return demo_region(settings) if demo else (None, None)
    return folder, Region.load(folder)


def demo_region(settings: ServiceSettings) -> tuple[Path, Region]:
    """Build the demo region under the data folder (once) and fill an empty registry;
    return (its folder, the loaded Region)."""
    from geo_service.engine.region import Region
    from geo_service.registry.store import open_store

    folder = settings.data_dir / "demo"
    region_dir = folder / "region"
    if not (region_dir / "region.json").exists():
        from geo_service.jobs.demo import run_demo  # (the pipeline: only to build it)

        console.print(msg("building the synthetic demo region …").text())
        run_demo(folder)
    loaded = Region.load(region_dir)
    store = open_store(settings.registry_url(loaded.key))
    if store.count() == 0:
        from geo_service.jobs.demo_registry import seed_demo_registry

        n = seed_demo_registry(store, loaded)
        console.print(msg("demo registry: {n} resources (synthetic)", n=n).text())
    return region_dir, loaded


def open_walking(database_url: str | None, region: Path | None, *,
                 threshold_m: float | None = None) -> WalkingService:
    """The coverage service of the region to work in (:func:`pick_region`, the demo by
    default) over its registry, as the deployment settings configure it
    (:meth:`WalkingService.from_settings`)."""
    from geo_service.service.walking import WalkingService

    settings = service_settings(database_url)
    _, loaded = pick_region(settings, region, demo=True)
    assert loaded is not None  # demo=True always gives a region
    print_region(loaded)
    return WalkingService.from_settings(loaded, settings, threshold_m=threshold_m)


def print_region(region: Region) -> None:
    """One line naming the region worked in (飯塚市（40205）) and the attributions of its
    sources; a warning when any of its data is generated (a synthetic street grid)."""
    code = f"（{region.municipality_code}）" if region.municipality_code else ""
    credits = f" · {' / '.join(region.attributions)}" if region.attributions else ""
    console.print(msg("region: {label}{code}{credits}", label=region.label, code=code,
                      credits=credits).text(), highlight=False)
    generated = [s.role for s in region.sources if s.synthetic]
    if generated and not region.synthetic:
        print_note(msg("generated, not real data: {roles}",
                       roles=Term("・".join(generated), ", ".join(generated))))
