"""The 地域カルテ and the 生活便利帳 as HTML pages and PDF.

- HTML: Jinja2 templates (``geo_service/templates/``) with autoescaping on, so every
  registry string reaches the page as text; the pages are self-contained (inline CSS and
  an inline SVG map, no script, no request), so they open and print offline.
- Map: an SVG drawn here from the region's own geometry (the area and its neighbours,
  the streets, the demand points beyond walking range, the resources numbered as in the
  lists, a scale bar): no tiles, no internet.
- PDF: Chromium's print-to-PDF through Playwright (:class:`PdfPrinter`), Debian's
  ``/usr/bin/chromium`` by default (``GEO_SERVICE_CHROMIUM`` elsewhere) with the
  ``fonts-noto-cjk`` fonts; one browser serves a whole batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from markupsafe import Markup, escape

from geo_service.i18n import msg
from geo_service.reports.wording import walk_minutes
from geo_service.settings import japan_date

if TYPE_CHECKING:
    from geo_service.service.walking import WalkingService

TEMPLATES = Path(__file__).parent.parent / "templates"
CHROMIUM = "/usr/bin/chromium"
MAP_W, MAP_H = 560.0, 400.0
#: rows of the karte's resource lists, so that a karte stays one page (the rest are
#: counted; the 生活便利帳 lists them all)
MAX_LOCATED, MAX_SERVING = 14, 8


class PdfUnavailableError(RuntimeError):
    """PDF output needs Playwright and a Chromium (with the Noto CJK fonts)."""


# ---------------------------------------------------------------------------- templates

@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["walkmin"] = _walk_min
    return env


def _num(x: Any, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{float(x):,.{digits}f}"


def _walk_min(x: Any) -> str:
    """Walking minutes by the pages' rule (:func:`~geo_service.reports.wording.walk_minutes`)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return str(walk_minutes(x))


def _pct(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{float(x) * 100:.1f}%"


def render_kartes(kartes: Sequence[dict[str, Any]], *, region: str = "",
                  today: date | None = None) -> str:
    """One HTML document holding the kartes (one A4 page each, in order); each karte
    carries its map as ``karte["map_svg"]`` (:func:`area_map_svg`)."""
    return str(_environment().get_template("karte.html.j2").render(
        kartes=kartes, region=region, today=(today or japan_date()).isoformat()))


def render_booklet(book: dict[str, Any], *, region: str = "", today: date | None = None) -> str:
    """The 生活便利帳 of an area as one HTML document (``book["map_svg"]`` its map)."""
    return str(_environment().get_template("booklet.html.j2").render(
        book=book, region=region, today=(today or japan_date()).isoformat()))


# ---------------------------------------------------------------------------- the map

def _streets(walking: WalkingService) -> tuple[np.ndarray, shapely.STRtree]:
    def make() -> tuple[np.ndarray, shapely.STRtree]:
        net = walking.net
        geoms = np.asarray(net.edge_geometry, dtype=object)
        missing = np.array([g is None for g in geoms], dtype=bool)
        if missing.any():
            xy = net.node_xy
            geoms[missing] = shapely.linestrings(np.stack(
                [xy[net.edge_u[missing]], xy[net.edge_v[missing]]], axis=1))
        return geoms, shapely.STRtree(geoms)

    return walking.cached(("static", "karte_streets"), make)


def _path(geom: shapely.Geometry, tx: Callable[[np.ndarray], np.ndarray]) -> str:
    """An SVG path ``d`` for lines and polygons (rings closed with Z)."""
    parts: list[str] = []
    for g in getattr(geom, "geoms", [geom]):
        if g.is_empty:
            continue
        if g.geom_type == "Polygon":
            rings = [g.exterior, *g.interiors]
            for ring in rings:
                xy = tx(np.asarray(ring.coords))
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
        elif g.geom_type in ("LineString", "LinearRing"):
            xy = tx(np.asarray(g.coords))
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy))
        else:
            parts.append(_path(g, tx))
    return "".join(parts)


def _lines_path(lines: np.ndarray, tx: Callable[[np.ndarray], np.ndarray]) -> str:
    """An SVG path ``d`` for many line strings at once (vectorised)."""
    coords, index = shapely.get_coordinates(lines, return_index=True)
    if not len(coords):
        return ""
    xy = np.round(tx(coords), 1)
    start = np.r_[True, index[1:] != index[:-1]]
    cmd = np.where(start, "M", "L")
    text = np.char.add(np.char.add(np.char.add(cmd, xy[:, 0].astype(str)), ","),
                       xy[:, 1].astype(str))
    return "".join(text.tolist())


def _scale_bar(metres_per_px: float) -> tuple[float, str]:
    target = 120 * metres_per_px
    for step in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000):
        if step >= target * 0.5:
            return step / metres_per_px, (f"{step // 1000} km" if step >= 1000 else f"{step} m")
    return 20000 / metres_per_px, "20 km"


def area_map_svg(walking: WalkingService, layer: str, area_id: str,
                 markers: Sequence[tuple[int, float, float]] = (), *,
                 beyond: np.ndarray | None = None, stores: np.ndarray | None = None,
                 title: str = "") -> Markup:
    """A small map of an area as inline SVG (metric CRS of the region, north up).

    ``markers``: (number, lon, lat) drawn as numbered circles; ``beyond``: per demand
    point of the region, True where the person is beyond walking range (drawn red);
    ``stores``: the food stores the karte counts (x, y in the region's metric CRS),
    drawn as green squares under the numbers.
    """
    net = walking.net
    area_layer = walking.area_layer(layer)
    areas = walking.cached(("static", "karte_areas", area_layer.name),
                           lambda: area_layer.areas.to_crs(net.crs).reset_index(drop=True))
    ids = [str(a) for a in areas["area_id"]]
    geom = areas.geometry.iloc[ids.index(area_id)]
    minx, miny, maxx, maxy = geom.bounds
    w, h = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    pad = 0.08 * max(w, h) + 50
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    w, h = maxx - minx, maxy - miny
    scale = min(MAP_W / w, MAP_H / h)  # px per metre
    ox = (MAP_W - w * scale) / 2
    oy = (MAP_H - h * scale) / 2

    def tx(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, xy.shape[-1])[:, :2]
        return np.column_stack([ox + (xy[:, 0] - minx) * scale,
                                oy + (maxy - xy[:, 1]) * scale])

    view = shapely.box(minx, miny, maxx, maxy)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {MAP_W:.0f} '
           f'{MAP_H:.0f}" role="img" aria-label="{escape(title)}">',
           f'<rect width="{MAP_W:.0f}" height="{MAP_H:.0f}" fill="#fbfaf7"/>']
    # neighbouring areas, then the streets, then the area's outline on top
    near = [i for i, g in enumerate(areas.geometry) if ids[i] != area_id and g.intersects(view)]
    if near:
        d = "".join(_path(shapely.intersection(areas.geometry.iloc[i], view), tx) for i in near)
        out.append(f'<path d="{d}" fill="#eeeeee" stroke="#9e9e9e" stroke-width="0.8"/>')
    out.append(f'<path d="{_path(geom, tx)}" fill="#fff8e1" stroke="none"/>')
    geoms, tree = _streets(walking)
    hit = tree.query(view, predicate="intersects")
    if len(hit):  # whole streets: the SVG's viewport clips them
        d = _lines_path(geoms[hit], tx)
        out.append(f'<path d="{d}" fill="none" stroke="#b0b0b0" stroke-width="0.9"/>')
    out.append(f'<path d="{_path(geom, tx)}" fill="none" stroke="#d84315" '
               'stroke-width="2.2"/>')
    if beyond is not None:
        xy = shapely.get_coordinates(walking.region.demand.geometry.to_numpy())
        inside = ((xy[:, 0] >= minx) & (xy[:, 0] <= maxx) & (xy[:, 1] >= miny)
                  & (xy[:, 1] <= maxy) & (walking.region.demand["pop_65plus"].to_numpy() > 0))
        for flag, colour in ((False, "#78909c"), (True, "#e53935")):
            pick = inside & (beyond == flag)
            if pick.any():
                pts = tx(xy[pick])
                d = "".join(f"M{x:.1f},{y:.1f}h0" for x, y in pts)
                out.append(f'<path d="{d}" stroke="{colour}" stroke-width="3.2" '
                           'stroke-linecap="round" opacity="0.75"/>')
    if stores is not None and len(stores):
        sxy = tx(np.asarray(stores, dtype=float))
        for x, y in sxy:
            if 0 <= x <= MAP_W and 0 <= y <= MAP_H:
                out.append(f'<rect class="store" x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" '
                           'width="9" height="9" fill="#2e7d32" stroke="#fff" '
                           'stroke-width="1.2"/>')
    if markers:
        ll = np.array([(lon, lat) for _, lon, lat in markers], dtype=float)
        mx, my = net.from_geographic.transform(ll[:, 0], ll[:, 1])
        pts = tx(np.column_stack([mx, my]))
        for (num, _, _), (x, y) in zip(markers, pts, strict=True):
            if not (0 <= x <= MAP_W and 0 <= y <= MAP_H):
                continue
            out.append(f'<g class="marker"><circle cx="{x:.1f}" cy="{y:.1f}" r="8" '
                       'fill="#1565c0" stroke="#fff" stroke-width="1.5"/>'
                       f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" '
                       f'font-size="10" fill="#fff">{int(num)}</text></g>')
    bar_px, label = _scale_bar(1 / scale)
    y0 = MAP_H - 14
    out.append(f'<g class="scale"><rect x="8" y="{y0 - 12:.0f}" width="{bar_px + 50:.0f}" '
               'height="22" fill="#fff" opacity="0.8"/>'
               f'<path d="M12,{y0}h{bar_px:.1f}" stroke="#222" stroke-width="2.5"/>'
               f'<text x="{bar_px + 16:.1f}" y="{y0 + 4}" font-size="11">{label}</text></g>')
    out.append(f'<text x="{MAP_W - 16:.0f}" y="22" font-size="14" text-anchor="middle" '
               'font-weight="bold">N</text>'
               f'<path d="M{MAP_W - 16:.0f},26l-5,12h10z" fill="#222"/>')
    out.append("</svg>")
    return Markup("".join(out))


def number_resources(rows: Sequence[dict[str, Any]]) -> list[tuple[int, float, float]]:
    """Give each located resource a number (``row["number"]``, 1 …) and return the map's
    markers (number, lon, lat): its location and a mobile-sales route's stops."""
    markers = []
    n = 0
    for row in rows:
        points = ([(row["lon"], row["lat"])] if row.get("lon") is not None else []) + [
            tuple(p) for p in row.get("stops") or []]
        if not points:
            row["number"] = None
            continue
        n += 1
        row["number"] = n
        markers += [(n, float(lon), float(lat)) for lon, lat in points]
    return markers


# ---------------------------------------------------------------------------- PDF

class PdfPrinter:
    """Chromium's print-to-PDF through Playwright; one browser for many documents::

        with PdfPrinter() as printer:
            printer.print(html, path)

    Every request a page would make is aborted (the documents are self-contained).
    """

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or os.environ.get("GEO_SERVICE_CHROMIUM") or CHROMIUM
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None

    def __enter__(self) -> PdfPrinter:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise PdfUnavailableError(msg("PDF output needs Playwright: pip install "
                                      "'geo-service[pdf]' (and apt-get install chromium "
                                      "fonts-noto-cjk)")) from exc
        if not Path(self.executable).exists():
            raise PdfUnavailableError(msg("PDF output needs Chromium at {path} (apt-get install "
                                      "chromium fonts-noto-cjk, or set GEO_SERVICE_CHROMIUM "
                                      "to its path)", path=self.executable))
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable,
                args=["--no-sandbox", "--disable-dev-shm-usage"])
            self._page = self._browser.new_page()
            self._page.route("**/*", lambda route: route.abort())
        except Exception as exc:
            self._pw.stop()
            raise PdfUnavailableError(msg("Chromium at {path} did not start: {error}",
                                          path=self.executable, error=exc)) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._pw is not None:
            self._pw.stop()

    def print(self, html: str, path: str | Path) -> None:
        """Print ``html`` to a PDF file (A4, the page's own @page size and margins)."""
        self._page.set_content(html, wait_until="load")
        self._page.pdf(path=str(path), prefer_css_page_size=True, print_background=True)

    def pdf_bytes(self, html: str) -> bytes:
        """``html`` printed to PDF, in memory."""
        self._page.set_content(html, wait_until="load")
        return bytes(self._page.pdf(prefer_css_page_size=True, print_background=True))

    def writer(self, html: Callable[[], str]) -> Callable[[Path], None]:
        """A writer for :func:`geo_service.outputs.write_outputs` (rendered when run)."""
        return lambda path: self.print(html(), path)


def split_pages(data: bytes) -> list[bytes] | None:
    """A PDF's pages as one-page PDFs (pikepdf, i.e. qpdf), or None without pikepdf."""
    try:
        import pikepdf
    except ImportError:
        return None
    import io

    out = []
    with pikepdf.open(io.BytesIO(data)) as src:
        for page in src.pages:
            one = pikepdf.new()
            one.pages.append(page)
            buf = io.BytesIO()
            one.save(buf)
            out.append(buf.getvalue())
    return out


class BatchPdf:
    """The PDFs of a batch: the combined document printed once (Chromium's fixed cost per
    print, about a second, dominates a one-page document) and cut into one file per
    document when every document took exactly one page; otherwise (or without pikepdf)
    each document is printed on its own."""

    def __init__(self, printer: PdfPrinter, documents: Sequence[Callable[[], str]],
                 combined: Callable[[], str]) -> None:
        self.printer = printer
        self.documents = documents
        self.combined = combined
        self._data: bytes | None = None
        self._pages: list[bytes] | None = None

    def data(self) -> bytes:
        """The combined PDF (printed once)."""
        if self._data is None:
            self._data = self.printer.pdf_bytes(self.combined())
            pages = split_pages(self._data)
            if pages is not None and len(pages) == len(self.documents):
                self._pages = pages
        return self._data

    def write_combined(self, path: Path) -> None:
        path.write_bytes(self.data())

    def writer(self, i: int) -> Callable[[Path], None]:
        """Writer of document ``i``'s PDF."""
        def write(path: Path) -> None:
            self.data()
            if self._pages is not None:
                path.write_bytes(self._pages[i])
            else:
                self.printer.print(self.documents[i](), path)
        return write


# ---------------------------------------------------------------------------- assembling

def food_beyond(walking: WalkingService) -> np.ndarray:
    """Per demand point: beyond walking range of a food store on the network (the
    difficulty indicators' ``beyond``), kept per registry state."""
    def make() -> np.ndarray:
        _, _, field = walking._food_stores()
        at = field.at(walking.region.demand_attachment)
        return np.asarray(~at.reachable | (at.distance_m > walking.threshold_m))

    return walking.cached(("karte_food_beyond",), make)


def food_store_xy(walking: WalkingService) -> np.ndarray | None:
    """The food stores the difficulty indicators count (the registry's, else the
    region's), x and y in the region's metric CRS; None when there are none."""
    def make() -> np.ndarray | None:
        try:
            _, stores, _ = walking._food_stores()
        except LookupError:
            return None
        return np.asarray(shapely.get_coordinates(stores.geometry.to_numpy()))

    return walking.cached(("karte_food_stores",), make)


def with_map(walking: WalkingService, karte: dict[str, Any]) -> dict[str, Any]:
    """The karte with its resources numbered and its map (``map_svg``); the lists are
    cut to :data:`MAX_LOCATED` and :data:`MAX_SERVING` rows (``more_located``,
    ``more_serving`` count the rest)."""
    located, serving = karte["resources"]["located"], karte["resources"]["serving"]
    karte = {**karte, "resources": {"located": located[:MAX_LOCATED],
                                    "serving": serving[:MAX_SERVING],
                                    "more_located": max(0, len(located) - MAX_LOCATED),
                                    "more_serving": max(0, len(serving) - MAX_SERVING)}}
    markers = number_resources(karte["resources"]["located"])
    try:
        beyond: np.ndarray | None = food_beyond(walking)
    except LookupError:
        beyond = None
    svg = area_map_svg(walking, karte["layer"], karte["area_id"], markers, beyond=beyond,
                       stores=food_store_xy(walking), title=f"{karte['name']}の地図")
    return {**karte, "map_svg": svg}


def booklet_with_map(walking: WalkingService, book: dict[str, Any]) -> dict[str, Any]:
    """The booklet with its located resources numbered and its map."""
    located = set(book["located_ids"])
    rows = [r for g in book["groups"] for r in g["resources"] if r["id"] in located]
    markers = number_resources(rows)
    for g in book["groups"]:
        for r in g["resources"]:
            r.setdefault("number", None)
    svg = area_map_svg(walking, book["layer"], book["area_id"], markers,
                       title=f"{book['name']}の地図")
    return {**book, "map_svg": svg}


def karte_page(walking: WalkingService, layer: str, area_id: str, *,
               staff: bool = False) -> str:
    """The 地域カルテ of one area as an HTML page (``GET /karte/{layer}/{area_id}``); the
    layer-wide numbers are computed once per registry state. Raises :class:`LookupError`
    for an unknown area."""
    from geo_service.reports.karte import area_karte, karte_layer

    name = walking.area_layer(layer).name
    data = walking.cached(("karte", name, staff),
                          lambda: karte_layer(walking, name, staff=staff))
    if area_id not in data.profiles:
        raise LookupError(msg("no area {area!r} in layer {layer!r}", area=area_id, layer=name))
    return render_kartes([with_map(walking, area_karte(walking, data, area_id))],
                         region=walking.name)


def booklet_page(walking: WalkingService, layer: str, area_id: str, *,
                 staff: bool = False) -> str:
    """The 生活便利帳 of one area as an HTML page (``GET /booklet/{layer}/{area_id}``)."""
    from geo_service.reports.karte import booklet

    return render_booklet(booklet_with_map(walking, booklet(walking, layer, area_id,
                                                            staff=staff)),
                          region=walking.name)
