"""The shopping-difficulty map (買い物環境マップ) as a folium HTML page.

Built from layer definitions (``layers/difficulty.toml`` for classes and colours, the
resource layer for store categories): a choropleth of the share of people 65+ beyond
the walking threshold per area layer (red = difficult … green = easy), store markers by
category, optional demand points, area boundaries with names, tooltips with each area's
indicators, a Japanese title and legend, and a layer control.

Every text that comes from users' files (area and store names, ids) is HTML-escaped
before it reaches the page: folium's tooltips insert values as HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element, Figure, MacroElement, Template

from geo_service.engine.basemap import BasemapLayer
from geo_service.layers import ResourceLayer

_VENDOR = Path(__file__).parent.parent / "vendor" / "leaflet"
_TOOLTIP_FIELDS = (
    ("name", "名称"), ("area_id", "ID"), ("pop_65plus_txt", "65歳以上人口"),
    ("beyond_txt", "徒歩{t}m超の65歳以上"), ("straight_txt", "直線{t}m超（農水省方式）"),
    ("median_txt", "最寄り店舗まで（中央値）"), ("p90_txt", "同 90パーセンタイル"),
    ("stores_txt", "区域内の店舗数"),
)


def class_index(share: np.ndarray, breaks: list[float]) -> np.ndarray:
    """Class of each share (0 … len(breaks)); −1 for NaN (no one aged 65+)."""
    share = np.asarray(share, dtype=float)
    idx = np.searchsorted(np.asarray(breaks), share, side="right")
    return np.where(np.isnan(share), -1, idx)


def difficulty_map(
    areas: gpd.GeoDataFrame,
    stores: gpd.GeoDataFrame,
    layer: ResourceLayer,
    style: dict[str, Any],
    *,
    threshold_m: float,
    points: gpd.GeoDataFrame | None = None,
    extra_resources: Sequence[tuple[ResourceLayer, gpd.GeoDataFrame]] = (),
    subtitle: str = "",
    basemap: BasemapLayer | None = None,
    tiles: bool = True,
    region_name: str = "",
    attributions: Sequence[str] = (),
) -> folium.Map:
    """Build the folium map.

    Parameters
    ----------
    areas
        Area indicator table (``difficulty.area_indicators``), any CRS.
    stores
        Stores with ``store_id``, ``name``, ``category`` (all known categories; the ones
        the layer leaves out are drawn greyed in their own hidden layer).
    layer, style
        The resource layer definition and the map style (``layers.load_map_style``).
    points
        Per-point indicators; drawn (hidden by default) when not too many.
    extra_resources
        Further resource layers to show as markers (e.g. 通いの場).
    subtitle
        Shown under the title (e.g. "合成デモデータ" for the demo).
    basemap
        The region's own map (its streets, area outlines, rivers and railways, e.g.
        :meth:`Basemap.embedded <geo_service.engine.basemap.Basemap.embedded>`), drawn
        under everything: the map is never a grey box, even where tiles cannot load.
    tiles
        Whether to add the OpenStreetMap background (off for the synthetic demo, which
        would otherwise be drawn over a real town).
    region_name
        The region's name (飯塚市), put before the map's title.
    attributions
        The attribution texts of the region's sources (出典 …), shown under the legend
        (not repeated in the map's attribution line: two lines of it ran under the legend).
    """
    m_style, p_style = style["map"], style.get("points", {})
    areas = areas.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = areas.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None,
                      control_scale=False, prefer_canvas=True)  # metric scale: _Controls
    if tiles:
        folium.TileLayer("OpenStreetMap", name="地図（OpenStreetMap）").add_to(fmap)
    add_basemap(fmap, basemap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    t = f"{threshold_m:g}"
    for i, (layer_name, group) in enumerate(areas.groupby("layer", sort=False)):
        _area_layer(group, str(layer_name), m_style, t, show=i == 0).add_to(fmap)
    if points is not None and 0 < len(points) <= int(p_style.get("max_points", 20000)):
        _points_layer(points.to_crs("EPSG:4326"), p_style, t).add_to(fmap)
    store_layers(stores.to_crs("EPSG:4326"), layer, fmap)
    for extra_layer, extra in extra_resources:
        store_layers(extra.to_crs("EPSG:4326"), extra_layer, fmap)
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    _Controls(control).add_to(fmap)
    inline_leaflet(fmap)
    title = m_style["title"].format(threshold=t)
    Legend(title=f"{region_name}　{title}" if region_name else title, subtitle=subtitle,
           attributions=list(attributions),
            legend_title=m_style["legend_title"].format(threshold=t),
            colors=m_style["colors"], labels=m_style["labels"],
            no_data=(m_style["no_data_color"], m_style["no_data_label"])).add_to(fmap)
    return fmap


#: the region's map as the pages draw it (static/js/basemap.js): streets grey, water blue,
#: railways dark dashed, outlines violet dashed
BASEMAP_STYLES = {
    "water": {"color": "#7fb2e5", "weight": 1.5, "fillColor": "#b9d8f5", "fillOpacity": 0.9},
    "outline": {"color": "#9c8fb8", "weight": 1.5, "dashArray": "6 4", "fill": False},
    "street": {"color": "#a3a3a3", "weight": 1.2, "fill": False},
    "rail": {"color": "#444444", "weight": 2, "dashArray": "7 5", "fill": False},
}
#: the most vertices of the region's map a folium page embeds (a few hundred kB)
EMBED_MAX_VERTICES = 40_000


def add_basemap(fmap: folium.Map, basemap: BasemapLayer | None) -> None:
    """Draw the region's own map (``basemap``) on ``fmap`` as one GeoJSON layer, each
    feature with its kind's style and class (``gs-basemap-street`` …)."""
    if basemap is None or len(basemap.geoms) == 0:
        return
    folium.GeoJson(
        basemap.geojson(), name="地域の簡易地図（道路・川・鉄道）",
        style_function=lambda f: {**BASEMAP_STYLES[f["properties"]["kind"]],
                                  "className": f"gs-basemap-{f['properties']['kind']}"},
    ).add_to(fmap)


def fmt_people(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:,.0f}人"


def fmt_share(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x * 100:.1f}%"


def fmt_m(x: float) -> str:
    return "到達不可" if not math.isfinite(x) else f"{x:,.0f} m"


def _area_layer(group: gpd.GeoDataFrame, layer_name: str, m_style: dict[str, Any], t: str,
                *, show: bool) -> folium.FeatureGroup:
    classes = class_index(group["beyond_share"].to_numpy(), m_style["breaks"])
    colors = np.where(classes >= 0, np.array(m_style["colors"], dtype=object)[
        np.maximum(classes, 0)], m_style["no_data_color"])
    view = gpd.GeoDataFrame({
        "name": group["name"].astype(str).map(html.escape),
        "area_id": group["area_id"].astype(str).map(html.escape),
        "pop_65plus_txt": group["pop_65plus"].map(fmt_people),
        "beyond_txt": [f"{fmt_people(b)}（{fmt_share(s)}）" for b, s in
                       zip(group["beyond_65plus"], group["beyond_share"], strict=True)],
        "straight_txt": [f"{fmt_people(b)}（{fmt_share(s)}）" for b, s in
                         zip(group["beyond_65plus_straight"], group["beyond_share_straight"],
                             strict=True)],
        "median_txt": group["median_m"].map(fmt_m),
        "p90_txt": group["p90_m"].map(fmt_m),
        "stores_txt": group["stores_in_area"].map(lambda n: f"{int(n)}店"),
        "fill": colors,
    }, geometry=group.geometry.to_numpy(), crs=group.crs)
    feature_group = folium.FeatureGroup(name=f"{html.escape(layer_name)}（徒歩{t}m超の割合）",
                                        show=show)
    opacity = float(m_style.get("fill_opacity", 0.6))
    edge = m_style.get("boundary_color", "#333333")
    folium.GeoJson(
        view.to_json(),
        name=html.escape(layer_name),
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": edge,
                                  "weight": 1.2, "fillOpacity": opacity},
        highlight_function=lambda f: {"weight": 3, "fillOpacity": min(1.0, opacity + 0.2)},
        tooltip=folium.GeoJsonTooltip(
            fields=[f for f, _ in _TOOLTIP_FIELDS],
            aliases=[html.escape(a.format(t=t)) for _, a in _TOOLTIP_FIELDS]),
    ).add_to(feature_group)
    if len(view) > int(m_style.get("max_labels", 40)):
        return feature_group  # names stay in the tooltips; labels would hide the map
    labels = view.geometry.representative_point()
    for label, point in zip(view["name"], labels, strict=True):
        folium.Marker(
            [point.y, point.x],
            icon=folium.DivIcon(html=f'<div class="gs-area-label">{label}</div>',
                                icon_size=(0, 0)),
        ).add_to(feature_group)
    return feature_group


def _points_layer(points: gpd.GeoDataFrame, p_style: dict[str, Any],
                  t: str) -> folium.FeatureGroup:
    reachable = points["reachable"].to_numpy(bool)
    color = np.where(~reachable, p_style.get("unreachable_color", "#000000"),
                     np.where(points["beyond"].to_numpy(bool), p_style.get("far_color", "red"),
                              p_style.get("near_color", "green")))
    view = gpd.GeoDataFrame({
        "point_id": points["point_id"].astype(str).map(html.escape),
        "pop": points["pop_65plus"].map(lambda x: f"{x:.1f}人"),
        "dist": points["network_m"].map(fmt_m),
        "color": color,
    }, geometry=points.geometry.to_numpy(), crs=points.crs)
    group = folium.FeatureGroup(name=f"居住地点（徒歩{t}m超=赤）", show=False)
    folium.GeoJson(
        view.to_json(),
        marker=folium.CircleMarker(radius=2, weight=0, fill=True, fill_opacity=0.8),
        style_function=lambda f: {"fillColor": f["properties"]["color"]},
        tooltip=folium.GeoJsonTooltip(fields=["point_id", "pop", "dist"],
                                      aliases=["地点", "65歳以上", "最寄り店舗まで徒歩"]),
    ).add_to(group)
    return group


def store_layers(stores: gpd.GeoDataFrame, layer: ResourceLayer, fmap: folium.Map) -> None:
    for cat in layer.categories:
        subset = stores[stores["category"] == cat.id]
        if subset.empty:
            continue
        note = "" if cat.include else "（集計対象外）"
        view = gpd.GeoDataFrame({
            "name": subset["name"].astype(str).map(html.escape),
            "store_id": subset["store_id"].astype(str).map(html.escape),
            "label": html.escape(cat.label + note),
        }, geometry=subset.geometry.to_numpy(), crs=subset.crs)
        group = folium.FeatureGroup(name=f"{html.escape(cat.label)}{note}（{len(subset)}）",
                                    show=cat.include)
        folium.GeoJson(
            view.to_json(),
            marker=folium.CircleMarker(radius=6, weight=2, color="#ffffff", fill=True,
                                       fill_color=cat.color if cat.include else "#9e9e9e",
                                       fill_opacity=0.95),
            tooltip=folium.GeoJsonTooltip(fields=["label", "name", "store_id"],
                                          aliases=["種別", "名称", "ID"]),
        ).add_to(group)
        group.add_to(fmap)


def inline_leaflet(fmap: folium.Map) -> None:
    """Embed the vendored Leaflet 1.9.4 (BSD-2) so the page works offline and from file://.

    The map uses plain Leaflet only (GeoJSON, circle markers, div icons, layer control),
    so folium's CDN links to jQuery, Bootstrap and awesome-markers are dropped as well.
    """
    js = (_VENDOR / "leaflet.js").read_text(encoding="utf-8")
    css = (_VENDOR / "leaflet.css").read_text(encoding="utf-8")
    fmap.default_js, fmap.default_css = [], []
    root = fmap.get_root()
    assert isinstance(root, Figure)  # a folium Map's root is always a branca Figure
    header = root.header
    header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js", index=0)


class _Controls(MacroElement):
    """A metric scale bar (m/km; folium's ``control_scale`` adds feet and miles too) and,
    on a narrow screen (a phone), the layer control collapsed to its button so that it
    does not cover the title (it opens on a tap and closes on a tap on the map)."""

    _template = Template("""
{% macro script(this, kwargs) %}
L.control.scale({metric: true, imperial: false, position: "bottomright"})
    .addTo({{ this._parent.get_name() }});
(function () {
  var map = {{ this._parent.get_name() }}, control = {{ this.control.get_name() }};
  var narrow = window.matchMedia("(max-width: 700px)");
  var toggle = control.getContainer().querySelector(".leaflet-control-layers-toggle");
  if (toggle) {
    toggle.title = "表示する項目 (layers)";
    toggle.setAttribute("aria-label", toggle.title);
  }
  function fit() { if (narrow.matches) { control.collapse(); } else { control.expand(); } }
  map.on("click", function () { if (narrow.matches) { control.collapse(); } });
  if (narrow.addEventListener) { narrow.addEventListener("change", fit); }
  fit();
})();
{% endmacro %}
""")

    def __init__(self, control: folium.LayerControl) -> None:
        super().__init__()
        self._name = "Controls"
        self.control = control


class Legend(MacroElement):
    """Title box and class legend, rendered from escaped strings through a template."""

    _template = Template("""
{% macro header(this, kwargs) %}
<style>
  .gs-box {position: fixed; z-index: 9999; background: rgba(255,255,255,0.93);
           border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,0.4);
           font-family: "Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic", sans-serif;}
  .gs-title {top: 10px; left: 50px; padding: 8px 14px; max-width: 60%;}
  .leaflet-control-layers:not(.leaflet-control-layers-expanded) .leaflet-control-layers-toggle {
      background-image: none !important; display: flex !important;
      align-items: center; justify-content: center; text-decoration: none; color: #222;}
  .leaflet-control-layers-toggle::after {content: "\\25A4"; font-size: 22px; line-height: 1;}
  @media (max-width: 700px) {
    .leaflet-top.leaflet-right {z-index: 10000;}  /* an opened layer list covers the title */
    .gs-title {box-sizing: border-box; max-width: calc(100% - 116px); padding: 6px 10px;}
    .gs-title h1 {font-size: 14px;}
    .gs-legend {font-size: 11px; padding: 6px 8px;}
  }
  .gs-title h1 {font-size: 16px; margin: 0;}
  .gs-title p {font-size: 12px; margin: 4px 0 0; color: #b71c1c; font-weight: bold;}
  .gs-legend {bottom: 24px; left: 10px; padding: 8px 12px; font-size: 12px;}
  .gs-legend h2 {font-size: 13px; margin: 0 0 6px;}
  .gs-legend .gs-sources {font-size: 10px; color: #555; margin-top: 6px; max-width: 260px;}
  .gs-legend i {display: inline-block; width: 18px; height: 12px; margin-right: 6px;
                vertical-align: middle; opacity: 0.8; border: 1px solid #555;}
  .gs-area-label {font-size: 12px; font-weight: bold; white-space: nowrap;
                  transform: translate(-50%, -50%); text-shadow: 0 0 3px #fff, 0 0 3px #fff;}
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<div class="gs-box gs-title"><h1>{{ this.title }}</h1>
{% if this.subtitle %}<p>{{ this.subtitle }}</p>{% endif %}</div>
<div class="gs-box gs-legend"><h2>{{ this.legend_title }}</h2>
{% for color, label in this.items %}<div><i style="background:{{ color }}"></i>{{ label }}</div>
{% endfor %}{% if this.attributions %}
<div class="gs-sources">{{ this.attributions }}</div>{% endif %}</div>
{% endmacro %}
""")

    def __init__(self, *, title: str, subtitle: str, legend_title: str, colors: list[str],
                 labels: list[str], no_data: tuple[str, str],
                 attributions: Sequence[str] = ()) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = html.escape(title)
        self.attributions = html.escape(" / ".join(attributions))
        self.subtitle = html.escape(subtitle)
        self.legend_title = html.escape(legend_title)
        self.items = [(html.escape(c), html.escape(label)) for c, label in
                      zip([*reversed(colors), no_data[0]], [*reversed(labels), no_data[1]],
                          strict=True)]
