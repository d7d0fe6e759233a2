"""The difference map of a what-if scenario (folium, offline, Japanese labels).

Per area layer, a choropleth of the change in the share of people 65+ beyond the walking
threshold (percentage points, green = better, red = worse) with before/after tooltips —
with service changes (配食・宅配 withdrawn or given another area), of the share beyond it
and covered by no alternative, since the walks themselves do not change;
the demand points whose status changed (新たに徒歩圏外 / 新たに徒歩圏内); the closed stores
and the new ones; the stores open after the change by category. Built with the map code
of :mod:`geo_service.reports.maps` (embedded Leaflet, the title and legend box, store markers,
the region's own map of streets, outlines, rivers and railways under everything), so it
looks like the 買い物環境マップ and works from ``file://`` and without tiles. Every text
from users' files is HTML-escaped.

The classes, colours and labels are percentage points of change, read from the
``[difference]`` table of the map style (``layers/difficulty.toml``,
:func:`geo_service.layers.load_difference_style`; another file with ``style=``).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np

from geo_service.engine.basemap import Basemap
from geo_service.layers import load_difference_style
from geo_service.outputs import area_table, csv_writer, text_writer, write_outputs
from geo_service.planning.scenarios import ScenarioResult
from geo_service.reports.maps import (
    EMBED_MAX_VERTICES,
    Legend,
    add_basemap,
    class_index,
    fmt_m,
    fmt_people,
    fmt_share,
    inline_leaflet,
    store_layers,
)


def _point_colors(style: dict[str, Any]) -> dict[str, str]:
    return {"新たに徒歩圏外": str(style.get("out_color", "#d73027")),
            "新たに徒歩圏内": str(style.get("in_color", "#1a9850"))}


def difference_map(result: ScenarioResult, *, tiles: bool | None = None,
                   max_points: int = 20000, style: str | Path | None = None) -> folium.Map:
    """The folium map of ``result`` (see the module docstring).

    ``tiles`` adds the OpenStreetMap background (default: not for a synthetic region);
    ``style`` is a map-style file (or name in ``layers/``) whose ``[difference]`` table
    gives the classes (default ``difficulty``).
    """
    classes_ = load_difference_style(style if style is not None else "difficulty")
    after, layer = result.after, result.after.layer
    t = f"{after.threshold_m:g}"
    areas = result.before.areas.to_crs("EPSG:4326")
    diff = result.area_difference()
    minx, miny, maxx, maxy = areas.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None,
                      control_scale=True, prefer_canvas=True)
    if tiles is None:
        tiles = not result.before.region.synthetic
    if tiles:
        folium.TileLayer("OpenStreetMap", name="地図（OpenStreetMap）").add_to(fmap)
    region = result.before.region
    add_basemap(fmap, Basemap.of_region(region.net, region.areas, region.basemap_extras)
                .embedded(EMBED_MAX_VERTICES))
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    gap = result.alternatives is not None
    if gap:  # the walks do not change; who is left without an alternative does
        with np.errstate(invalid="ignore", divide="ignore"):
            change = 100 * (diff["gap_65plus_after"] / diff["pop_65plus_after"]
                            - diff["gap_65plus_before"] / diff["pop_65plus_before"]
                            ).to_numpy(dtype=float)
        change = np.where(np.isfinite(change), change, np.nan)
    else:
        change = diff["beyond_share_change_pt"].to_numpy(dtype=float)
    classes = class_index(change, classes_["breaks"])
    colors = np.where(classes >= 0, np.array(classes_["colors"], dtype=object)[
        np.maximum(classes, 0)], classes_["no_data_color"])
    view = gpd.GeoDataFrame({
        "layer": diff["layer"].astype(str).to_numpy(),
        "name": diff["name"].astype(str).map(html.escape).to_numpy(),
        "pop": [f"{fmt_people(b)} → {fmt_people(a)}" for b, a in
                zip(diff["pop_65plus_before"], diff["pop_65plus_after"], strict=True)],
        "before": [f"{fmt_people(n)}（{fmt_share(s)}）" for n, s in
                   zip(diff["beyond_65plus_before"], diff["beyond_share_before"], strict=True)],
        "after": [f"{fmt_people(n)}（{fmt_share(s)}）" for n, s in
                  zip(diff["beyond_65plus_after"], diff["beyond_share_after"], strict=True)],
        "change": ["—" if not math.isfinite(c) else f"{c:+.1f}ポイント" for c in change],
        "fill": colors,
    }, geometry=areas.geometry.to_numpy(), crs="EPSG:4326")
    fields = ["name", "pop", "before", "after", "change"]
    aliases = ["名称", "65歳以上人口（前→後）", f"徒歩{t}m超（変更前）", f"徒歩{t}m超（変更後）",
               "変化"]
    if result.bus is not None:  # bus routes cut or added: who has neither
        view["nobus"] = [f"{fmt_people(b)} → {fmt_people(a)}" for b, a in
                         zip(diff["beyond_no_bus_65plus_before"],
                             diff["beyond_no_bus_65plus_after"], strict=True)]
        fields.append("nobus")
        aliases.append(f"徒歩{t}m超かつバス停なし（前→後）")
    if gap:
        view["gap"] = [f"{fmt_people(b)} → {fmt_people(a)}" for b, a in
                       zip(diff["gap_65plus_before"], diff["gap_65plus_after"], strict=True)]
        fields.append("gap")
        aliases.append(f"徒歩{t}m超かつ代替手段なし（前→後）")
    for i, (layer_name, group) in enumerate(view.groupby("layer", sort=False)):
        fg = folium.FeatureGroup(name=f"{html.escape(str(layer_name))}（割合の変化）",
                                 show=i == 0)
        folium.GeoJson(
            group.drop(columns="layer").to_json(),
            style_function=lambda f: {
                "fillColor": f["properties"]["fill"],
                "color": str(classes_.get("boundary_color", "#333333")), "weight": 1.2,
                "fillOpacity": float(classes_.get("fill_opacity", 0.65))},
            highlight_function=lambda f: {"weight": 3},
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
        ).add_to(fg)
        fg.add_to(fmap)
    _changed_points(result, fmap, t, max_points, _point_colors(classes_))
    store_layers(after.stores.to_crs("EPSG:4326"), layer, fmap)
    for frame, label, color in ((result.closed, "閉店する店舗",
                                 str(classes_.get("closed_color", "#616161"))),
                                (result.added, "新設する店舗・移動販売",
                                 str(classes_.get("added_color", "#6a1b9a")))):
        if len(frame) == 0:
            continue
        marks = gpd.GeoDataFrame({
            "what": label, "name": frame["name"].astype(str).map(html.escape).to_numpy(),
            "store_id": frame["store_id"].astype(str).map(html.escape).to_numpy()},
            geometry=frame.geometry.to_crs("EPSG:4326").to_numpy(), crs="EPSG:4326")
        fg = folium.FeatureGroup(name=f"{label}（{len(frame)}）")
        folium.GeoJson(
            marks.to_json(),
            marker=folium.CircleMarker(radius=9, weight=3, color=color, fill=True,
                                       fill_color="#ffffff", fill_opacity=0.9),
            tooltip=folium.GeoJsonTooltip(fields=["what", "name", "store_id"],
                                          aliases=["変更", "名称", "ID"]),
        ).add_to(fg)
        fg.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    inline_leaflet(fmap)
    subtitle = "合成デモデータ（実在の町ではありません）" if result.before.region.synthetic else ""
    what = f"徒歩{t}m超" + ("かつ代替手段（配食・宅配・移動販売など）なし" if gap else "")
    region = result.before.region
    Legend(title=f"{region.label}　シナリオ「{result.scenario.name}」— {what}の65歳以上の"
            "割合の変化",
            subtitle=subtitle, attributions=region.attributions,
            legend_title=str(classes_.get("legend_title", "割合の変化（ポイント）")),
            colors=list(classes_["colors"]), labels=list(classes_["labels"]),
            no_data=(classes_["no_data_color"], classes_["no_data_label"])).add_to(fmap)
    return fmap


def _changed_points(result: ScenarioResult, fmap: folium.Map, t: str, max_points: int,
                    point_colors: dict[str, str]) -> None:
    pdiff = result.point_difference()
    moved = pdiff["status"].isin(list(point_colors)).to_numpy()
    if not moved.any() or moved.sum() > max_points:
        return
    rows = np.flatnonzero(moved)
    pts = result.before.points.iloc[rows].to_crs("EPSG:4326")
    sub = pdiff.iloc[rows]

    view = gpd.GeoDataFrame({
        "status": sub["status"].to_numpy(),
        "point_id": sub["point_id"].astype(str).map(html.escape).to_numpy(),
        "walk": [f"{fmt_m(b)} → {fmt_m(a)}" for b, a in
                 zip(sub["network_m_before"].fillna(np.inf),
                     sub["network_m_after"].fillna(np.inf), strict=True)],
        "pop": sub["pop_65plus_after"].map(lambda x: f"{x:.1f}人").to_numpy(),
        "color": sub["status"].map(point_colors).to_numpy(),
    }, geometry=pts.geometry.to_numpy(), crs="EPSG:4326")
    fg = folium.FeatureGroup(name=f"徒歩{t}m圏を出入りする居住地点（赤=圏外に、緑=圏内に）")
    folium.GeoJson(
        view.to_json(),
        marker=folium.CircleMarker(radius=3, weight=0, fill=True, fill_opacity=0.9),
        style_function=lambda f: {"fillColor": f["properties"]["color"]},
        tooltip=folium.GeoJsonTooltip(fields=["status", "point_id", "walk", "pop"],
                                      aliases=["変化", "地点", "最寄り店舗まで徒歩（前→後）",
                                               "65歳以上"]),
    ).add_to(fg)
    fg.add_to(fmap)


def write_scenario(result: ScenarioResult, out_dir: str | Path, *,
                   tiles: bool | None = None) -> list[Path]:
    """Write a scenario's files into ``out_dir`` atomically; return their paths.

    ``difference_areas.csv`` (per area before, after, change), ``difference_points.csv``
    (per demand point), ``difference_map.html``, ``after_areas.csv`` (the indicators after
    the change, the columns of ``areas.csv``), ``scenario.json`` (the changes) and
    ``summary.json`` (headline numbers before and after, what was recomputed, notes).
    """
    areas = result.area_difference()
    region = result.before.region
    summary = {**region.output_metadata(), **result.summary()}
    return write_outputs(out_dir, {
        "difference_areas.csv": csv_writer(areas.round(4)),
        "difference_points.csv": csv_writer(result.point_difference().round(2)),
        "difference_map.html": text_writer(
            difference_map(result, tiles=tiles).get_root().render()),
        "after_areas.csv": csv_writer(area_table(result.after.areas)),
        "scenario.json": text_writer(json.dumps(result.scenario.to_dict(), ensure_ascii=False,
                                                indent=2)),
        "summary.json": text_writer(json.dumps(_finite(summary), ensure_ascii=False,
                                               indent=2, default=str)),
    })


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
