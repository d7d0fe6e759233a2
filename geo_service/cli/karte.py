"""``geo-service karte`` (the 地域カルテ of every area of a layer, HTML and PDF) and
``geo-service booklet`` (an area's 生活便利帳). Registered on the main app by
:func:`register`; the numbers come from :mod:`geo_service.reports.karte`, the pages from
:mod:`geo_service.reports.karte_render`.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from geo_service._errors import InputError
from geo_service.cli.common import DatabaseOpt, RegionOpt, console, fail, open_walking, print_note
from geo_service.i18n import msg, msg_n

NO_PDF = msg("no PDF can be made")
LayerOpt = Annotated[str | None, typer.Option(
    "--layer", help="Area layer of the region (小学校区, 中学校区 … or its id: elementary …); "
    "default the region's first.")]
StaffOpt = Annotated[bool, typer.Option(
    "--staff", help="Include staff-only resources and fields (default: public only).")]


def write_kartes(walking: Any, layer: str, out: Path, *, area_ids: list[str] | None = None,
                 pdf: bool = False, staff: bool = False, projection: Any = None
                 ) -> list[Path]:
    """Write the kartes of ``layer`` (all areas, or ``area_ids``) into ``out``:
    ``karte_<area name>.html`` each (``karte_山手小学校.html``; the id added where two
    areas share a name), with ``pdf`` ``karte_<area name>.pdf`` each and ``kartes.pdf``
    (all, one page per area), and ``kartes.json`` (the numbers) — atomically: when
    anything fails, nothing in ``out`` changes."""
    from geo_service.outputs import readable_names, text_writer, write_outputs
    from geo_service.reports import karte_render as kr
    from geo_service.reports.karte import layer_kartes

    kartes = layer_kartes(walking, layer, area_ids=area_ids, staff=staff,
                          projection=projection)
    region = walking.name
    names = readable_names("karte_", [(k["name"], k["area_id"]) for k in kartes])
    pages: dict[str, dict[str, Any]] = {}

    def page(i: int) -> dict[str, Any]:
        key = kartes[i]["area_id"]
        if key not in pages:
            pages[key] = kr.with_map(walking, kartes[i])
        return pages[key]

    def html(i: int) -> str:
        return kr.render_kartes([page(i)], region=region)

    def html_writer(i: int) -> Any:
        return lambda path: path.write_text(html(i), encoding="utf-8")

    writers: dict[str, Any] = {f"{name}.html": html_writer(i) for i, name in enumerate(names)}
    writers["kartes.json"] = text_writer(json.dumps(kartes, ensure_ascii=False, indent=1,
                                                    default=str))
    with ExitStack() as stack:
        if pdf:
            printer = stack.enter_context(kr.PdfPrinter())
            batch = kr.BatchPdf(printer, [lambda i=i: html(i) for i in range(len(kartes))],
                                lambda: kr.render_kartes(
                                    [page(i) for i in range(len(kartes))], region=region))
            writers["kartes.pdf"] = batch.write_combined
            for i, name in enumerate(names):
                writers[f"{name}.pdf"] = batch.writer(i)
        return write_outputs(out, writers)


def karte(
    layer: LayerOpt = None,
    area: Annotated[list[str] | None, typer.Option(
        "--area", help="Only this area: its name (山手, 山手小学校) or id; repeatable. "
        "Default: every area.")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for the kartes (created; files of the same name replaced).")]
        = Path("karte"),
    pdf: Annotated[bool, typer.Option(
        "--pdf", help="Also PDF: one per area and kartes.pdf with all (Chromium, "
        "pip install 'geo-service[pdf]').")] = False,
    projection: Annotated[Path | None, typer.Option(
        "--projection", help="Future population: a 国土数値情報 将来推計人口 mesh file or a "
        "table per area (with --year); default the region's own (region build "
        "--projection).")] = None,
    year: Annotated[int | None, typer.Option("--year", help="The projection's year.")] = None,
    projection_layer: Annotated[str | None, typer.Option(
        "--projection-layer", help="Area layer of a per-area projection table.")] = None,
    staff: StaffOpt = False,
    region: RegionOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """地域カルテ: one page per area (population, aging, people 65+ beyond walking range
    of food stores and gathering places, the alternatives, resources with schedules, a
    map, rank, sources) as HTML, and with --pdf as PDF; all or nothing."""
    from geo_service.reports.karte_render import PdfUnavailableError

    started = time.perf_counter()
    try:
        from geo_service.planning.projection import load_projection, pick_projection

        walking = open_walking(database_url, region)
        proj = None
        picked = pick_projection(walking.region, projection, year, layer=projection_layer)
        if picked is not None:  # the file given, else the region's own for --year
            file, year, file_layer, columns = picked
            proj = load_projection(file, walking.region, year=year, layer=file_layer,
                                   columns=columns or None)
        name = layer or (walking.region.areas[0].name if walking.region.areas else "")
        ids = ([walking.area_layer(name).area_id(a, column="--area") for a in area]
               if area else None)
        paths = write_kartes(walking, name, out, area_ids=ids, pdf=pdf, staff=staff,
                             projection=proj)
    except InputError as exc:
        raise fail(exc) from exc
    except LookupError as exc:
        raise fail(str(exc.args[0])) from exc
    except PdfUnavailableError as exc:
        raise fail(str(exc), label=NO_PDF, code=1) from exc
    n = sum(1 for p in paths if p.suffix == ".html")
    console.print(msg_n("地域カルテ of {n} area → {out}/ ({files} files, {seconds:.1f} s)",
                        "地域カルテ of {n} areas → {out}/ ({files} files, {seconds:.1f} s)", n,
                        out=out, files=len(paths),
                        seconds=time.perf_counter() - started).text(), highlight=False)
    if proj is not None:
        for note in proj.notes:
            print_note(note)


def booklet(
    area: Annotated[str, typer.Option(
        "--area", help="The area: its name (山手, 山手小学校) or its id.")],
    layer: LayerOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output file (.html; with --pdf .pdf); default "
        "booklet_<area name>.html / .pdf (booklet_山手小学校.html).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Write PDF (Chromium).")] = False,
    staff: StaffOpt = False,
    region: RegionOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """生活便利帳: an area's resources by category with schedule, fee and phone, and a map
    (public data only unless --staff)."""
    from geo_service.outputs import readable_names, text_writer, write_outputs
    from geo_service.reports import karte_render as kr
    from geo_service.reports.karte import booklet as make_booklet

    try:
        walking = open_walking(database_url, region)
        name = layer or (walking.region.areas[0].name if walking.region.areas else "")
        area_id = walking.area_layer(name).area_id(area, column="--area")
        book = kr.booklet_with_map(walking, make_booklet(walking, name, area_id, staff=staff))
        html = kr.render_booklet(book, region=walking.name)
        [stem] = readable_names("booklet_", [(book["name"], area_id)])
        target = out or Path(f"{stem}.{'pdf' if pdf else 'html'}")
        with ExitStack() as stack:
            if pdf:
                printer = stack.enter_context(kr.PdfPrinter())
                write_outputs(target.parent, {target.name: printer.writer(lambda: html)})
            else:
                write_outputs(target.parent, {target.name: text_writer(html)})
    except InputError as exc:
        raise fail(exc) from exc
    except LookupError as exc:
        raise fail(str(exc.args[0])) from exc
    except kr.PdfUnavailableError as exc:
        raise fail(str(exc), label=NO_PDF, code=1) from exc
    n = sum(len(g["resources"]) for g in book["groups"])
    console.print(msg_n("生活便利帳 {name}: {n} resource → {target}",
                        "生活便利帳 {name}: {n} resources → {target}", n, name=book["name"],
                        target=target).text(), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``karte`` and ``booklet`` to the main ``geo-service`` app."""
    app.command("karte")(karte)
    app.command("booklet")(booklet)
