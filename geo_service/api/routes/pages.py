"""The web pages (``static/``) and what they read besides the API: the UI configuration.

Pages: ``/`` residents (近くの通いの場), ``/handout`` a printable page, ``/staff``
coordinators (login), ``/council`` councils and planners. Their HTML, CSS and JavaScript
live in the top-level ``static/`` folder (installed as ``geo_service.static``), the
vendored libraries in ``geo_service/vendor/``; both are served as files, except that each
page's ``<head>``, the same on every page but for its title, stylesheet, ES module and
Leaflet plugins, is written once in ``static/_head.html`` and filled in here
(:func:`render_page`, Jinja), with the modules the page's module imports to preload
(:func:`page_modules`). Category colours
and glyphs, class breaks and labels reach the pages only through ``GET /ui/config``, read
from the layer definitions (``layers/*.toml``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from geo_service import __version__
from geo_service.api.deps import State
from geo_service.api.schemas.pages import (
    CategoryStyle,
    ChoroplethStyle,
    LayerStyle,
    RegionInfo,
    SourceInfo,
    UIConfig,
)
from geo_service.layers import (
    FOOD_STORE_LAYER,
    load_map_style,
    load_resource_layer,
    load_vocabulary,
)

router = APIRouter()

STATIC_DIR = Path(str(files("geo_service.static")))
VENDOR_DIR = Path(str(files("geo_service") / "vendor"))
PAGES = {"/": "resident.html", "/handout": "handout.html", "/staff": "staff.html",
         "/council": "council.html", "/planner": "planner.html"}
#: the resource layers shown on the pages besides the registry's vocabulary
MAP_LAYERS = (FOOD_STORE_LAYER, "gathering_places")


#: an import of one of the pages' modules, one line each: ``import … from "./x.js";``
IMPORT = re.compile(r'^import [^;]+ from "\./([\w-]+\.js)";$', re.M)


def page_modules(page: str) -> list[str]:
    """The modules ``static/js/<page>.js`` imports, directly or through others (file
    names, sorted): the page's head preloads them."""
    found: set[str] = set()
    todo = [f"{page}.js"]
    while todo:
        source = (STATIC_DIR / "js" / todo.pop()).read_text(encoding="utf-8")
        for name in IMPORT.findall(source):
            if name not in found:
                found.add(name)
                todo.append(name)
    return sorted(found)


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(STATIC_DIR), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.globals["page_modules"] = page_modules
    return env


def render_page(file_name: str, *, region: str = "", attributions: Sequence[str] = ()
                ) -> str:
    """The page ``file_name`` of ``static/`` as sent: its ``<head>`` filled in from
    ``static/_head.html`` (re-read when a file changes, as Jinja checks their times); the
    served region's name (飯塚市) before its title and above its heading, and the
    attributions its sources require in a footer (escaped)."""
    page = _templates().get_template(file_name).render()
    if region:
        name = html.escape(region)
        page = page.replace("<title>", f"<title>{name} — ", 1)
        page = page.replace("<h1", f'<p class="gs-region-name" id="region-name">{name}</p>\n'
                                   "<h1", 1)
    if attributions:
        footer = html.escape(" / ".join(attributions))
        page = page.replace("</body>", f'<footer class="gs-sources" id="sources">'
                                       f'<span data-t="sources.title">データの出典</span>: '
                                       f"{footer}</footer>\n</body>", 1)
    return page


def _page(file_name: str) -> Any:
    def page(state: State) -> HTMLResponse:
        walking = state.walking
        text = render_page(file_name, region=walking.name if walking else "",
                           attributions=walking.region.attributions if walking else ())
        return HTMLResponse(text, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    page.__name__ = f"page_{file_name.removesuffix('.html')}"
    page.__doc__ = f"The page {file_name}."
    return page


for _path, _file in PAGES.items():
    router.add_api_route(_path, _page(_file), methods=["GET"], include_in_schema=False)


def _styles(layer_name: str) -> list[CategoryStyle]:
    layer = load_vocabulary() if layer_name == "resource_categories" else \
        load_resource_layer(layer_name)
    return [CategoryStyle(id=c.id, label=c.label, label_en=c.label_en or c.label,
                          color=c.color, icon=c.icon or c.label[:1], kind=c.kind, food=c.food)
            for c in layer.categories]


def _choropleth() -> ChoroplethStyle:
    m = load_map_style()["map"]
    return ChoroplethStyle(
        breaks=m["breaks"], colors=m["colors"], labels=m["labels"],
        labels_en=m.get("labels_en", m["labels"]), legend_title=m["legend_title"],
        legend_title_en=m.get("legend_title_en", m["legend_title"]),
        no_data_color=m["no_data_color"], no_data_label=m["no_data_label"],
        no_data_label_en=m.get("no_data_label_en", m["no_data_label"]))


@router.get("/ui/config", response_model=UIConfig, tags=["pages"])
def ui_config(state: State) -> UIConfig:
    """The pages' configuration: category colours and glyphs, the choropleth's classes,
    background maps, the served region (null without one) and the API's limits."""
    from geo_service.planning.gaps import needs_present

    walking = state.walking
    region = None
    if walking is not None:
        about = walking.region.output_metadata()
        region = RegionInfo(name=walking.name, bounds=walking.bounds,
                            streets=walking.net.bounds_lonlat(),
                            threshold_m=walking.threshold_m,
                            walking_speed_m_per_min=walking.net.walking_speed_mps * 60,
                            area_layers=walking.area_layers(),
                            municipality_code=about["municipality_code"],
                            synthetic=about["synthetic"], attributions=about["attributions"],
                            sources=[SourceInfo(**s) for s in about["sources"]],
                            needs=needs_present(walking, staff=False))
    s = state.settings
    return UIConfig(
        version=__version__, categories=_styles("resource_categories"),
        layers=[LayerStyle(id=name, label=load_resource_layer(name).label,
                           categories=_styles(name)) for name in MAP_LAYERS],
        difficulty=_choropleth(), basemaps=list(s.basemaps), geocoder=bool(s.geocoder_url),
        region=region, nearby_max_minutes=s.nearby_max_minutes,
        reach_minutes=list(s.reach_minutes))
