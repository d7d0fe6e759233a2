"""The 地域カルテ: one area's numbers, as a plain data structure (rendered by
:mod:`geo_service.reports.karte_render`).

Every number comes from the core functions the API answers with, so that a karte equals
the API for the same area by construction:

- population, people 65+ beyond walking range of a food store on the network and in a
  straight line, distances, stores in and near the area: :meth:`WalkingService.difficulty`
  (``GET /difficulty/{layer}``);
- per category: the resources located in the area, the services covering it and the share
  of its people 65+ they reach, the share within walking range:
  :func:`~geo_service.service.service_coverage.area_profiles` (``GET /profiles/{layer}``);
- the alternatives that cover the people beyond range (配食, 宅配, 移動販売 stops) and the
  gap left, for food stores and for gathering places (通いの場・サロン, at its own
  ``walk_threshold_m``): :func:`~geo_service.planning.gaps.find_gaps` (``geo-service gaps``);
- a future year: :func:`~geo_service.planning.projection.project_demand` through the same
  difficulty indicators.

The layer-wide numbers are computed once for all areas (:func:`layer_kartes`), which is
what makes a batch of 150 areas quick. Resources are shown as the public sees them
(:func:`~geo_service.registry.visibility.public_view`) unless ``staff``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geo_service.i18n import msg
from geo_service.layers import FOOD_STORE_CATEGORY, load_vocabulary
from geo_service.registry.resources import WEEKDAYS, Resource
from geo_service.registry.visibility import public_view
from geo_service.reports.wording import fee_words, schedule_words, weekday_label
from geo_service.settings import japan_date

if TYPE_CHECKING:
    import pandas as pd

    from geo_service.planning.projection import Projection
    from geo_service.service.walking import WalkingService

#: the gathering-place need of the karte (通いの場・サロン, 800 m in layers/)
GATHERING_NEED = "salon"
FOOD_NEED = FOOD_STORE_CATEGORY


# ---------------------------------------------------------------------------- words

def format_schedule(schedule: dict[str, Any] | None) -> str:
    """A schedule in Japanese words as the pages write it
    (:func:`~geo_service.reports.wording.schedule_words`), then its mobile-sales stops by
    weekday and time: 「毎週水曜 10:00〜11:30」, 「水曜 10:00 山手停留所、木曜 …」."""
    if not schedule:
        return ""
    stops = sorted(schedule.get("stops") or [],
                   key=lambda s: (WEEKDAYS.index(s["weekday"]) if s.get("weekday") in WEEKDAYS
                                  else 9, s.get("time") or ""))
    stop_text = "、".join(
        " ".join(p for p in (weekday_label(s.get("weekday")), s.get("time"), s.get("name")) if p)
        for s in stops)
    return "・".join(p for p in (schedule_words(schedule), stop_text) if p)


def format_fee(fee: dict[str, Any] | None) -> str:
    """A fee in Japanese words as the pages write it
    (:func:`~geo_service.reports.wording.fee_words`); 「—」 when unknown."""
    return fee_words(fee) or "—"


# ---------------------------------------------------------------------------- the layer

@dataclass
class KarteLayer:
    """The layer-wide numbers every karte of a layer is cut from (computed once)."""

    layer: str
    area_ids: list[str]
    names: list[str]
    difficulty: pd.DataFrame  # by area_id: GET /difficulty/{layer}'s properties
    stores_source: str
    n_stores: int
    profiles: dict[str, dict[str, Any]]  # by area_id: GET /profiles/{layer}'s areas
    gaps: dict[str, Any]  # need → GapResult
    projection: pd.DataFrame | None
    projection_info: dict[str, Any] | None
    sources: list[dict[str, str]]
    threshold_m: float
    staff: bool


def _none_if_nan(x: Any) -> Any:
    if isinstance(x, float | np.floating) and not math.isfinite(float(x)):
        return None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


def data_sources(walking: WalkingService, *, staff: bool = False) -> list[dict[str, str]]:
    """What the numbers are made from, with dates: the region (its name and, per input it
    records, the file, its publisher and edition — generated data flagged —; a region saved
    before sources were recorded: its network and boundary files, and when it was saved),
    and the registry (resources and its last change)."""
    region = walking.region
    out: list[dict[str, str]] = []
    folder = Path(region.areas[0].source) if region.areas else None
    built = ""
    if folder is not None and (folder / "region.json").exists():
        path = folder / "region.json"
        built = japan_date(datetime.fromtimestamp(path.stat().st_mtime, UTC)).isoformat()
    name = region.label
    code = f"（市区町村コード {region.municipality_code}）" if region.municipality_code else ""
    out.append({"what": "地域データ", "source": name + code + ("（合成デモ）" if region.synthetic
                                                           and "デモ" not in name else ""),
                "date": built})
    for s in region.sources:
        out.append({"what": s.role, "source": "".join(
            (s.file, f"（{s.publisher}）" if s.publisher else "",
             "【生成データ・実在しません】" if s.synthetic else "")), "date": s.edition or built})
    if not region.sources and region.net.source:  # a region saved before sources were kept
        out.append({"what": "道路網", "source": Path(region.net.source).name, "date": built})
    for layer in region.areas if not region.sources else ():
        if layer.source and folder is not None and Path(layer.source) != folder:
            out.append({"what": f"区域 {layer.name}", "source": Path(layer.source).name,
                        "date": built})
    for note in region.notes[:5]:
        out.append({"what": "注記", "source": note, "date": ""})
    _, last = walking.store.state_token()  # the latest change (also a deletion)
    try:
        last_day = japan_date(datetime.fromisoformat(last)).isoformat()
    except ValueError:
        last_day = ""
    out.append({"what": "地域資源台帳",
                "source": f"公開 {walking.store.count(include_staff=False)}件"
                          + (f"（職員用を含め {walking.store.count()}件）" if staff else ""),
                "date": last_day})
    return out


def layer_kartes(walking: WalkingService, layer: str, *, area_ids: Sequence[str] | None = None,
                 staff: bool = False, projection: Projection | None = None
                 ) -> list[dict[str, Any]]:
    """The kartes of the areas of ``layer`` (all, or ``area_ids`` in that order)."""
    data = karte_layer(walking, layer, staff=staff, projection=projection)
    ids = list(area_ids) if area_ids is not None else data.area_ids
    unknown = [a for a in ids if a not in data.profiles]
    if unknown:
        raise LookupError(msg("no area {area!r} in layer {layer!r}", area=unknown[0],
                               layer=data.layer))
    return [area_karte(walking, data, a) for a in ids]


def karte_layer(walking: WalkingService, layer: str, *, staff: bool = False,
                projection: Projection | None = None) -> KarteLayer:
    """Compute the layer-wide numbers (see the module)."""
    from geo_service.planning.gaps import find_gaps
    from geo_service.service.service_coverage import area_profiles

    area_layer = walking.area_layer(layer)
    name = area_layer.name
    table, source, n_stores = walking.difficulty(name)
    diff = table.drop(columns="geometry").set_index("area_id", drop=False)
    diff.index = diff.index.astype(str)
    profiles = {r["area_id"]: r for r in area_profiles(walking, name, staff=staff)}
    gaps = {}
    for need in (FOOD_NEED, GATHERING_NEED):
        try:
            gaps[need] = find_gaps(walking, name, need, staff=staff)
        except Exception as exc:  # a region without any such resource: no gap section
            from geo_service._errors import InputError

            if not isinstance(exc, InputError):
                raise
    proj = info = None
    if projection is not None:
        proj, info = _projected(walking, name, projection)
    areas = area_layer.areas.reset_index(drop=True)
    return KarteLayer(name, [str(a) for a in areas["area_id"]],
                      [str(n) for n in areas["name"]], diff, source, n_stores, profiles, gaps,
                      proj, info, data_sources(walking, staff=staff), walking.threshold_m, staff)


def _projected(walking: WalkingService, layer: str, projection: Projection
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The difficulty indicators per area with the projection's counts (the same
    functions as :meth:`WalkingService.difficulty`, on the projected demand)."""
    from geo_service.indicators import difficulty
    from geo_service.planning.projection import project_demand
    from geo_service.service.walking import NoFoodStoresError

    region = walking.region
    demand = project_demand(region.demand, projection)
    areas = [walking.area_layer(layer)]
    try:
        _, stores, field = walking._food_stores()
    except NoFoodStoresError:
        table = difficulty.areas_without_stores(demand, areas, threshold_m=walking.threshold_m)
    else:
        points = difficulty.point_indicators(demand, field.at(region.demand_attachment),
                                             stores, threshold_m=walking.threshold_m)
        table = difficulty.area_indicators(points, areas, stores,
                                           threshold_m=walking.threshold_m)
    table = table.drop(columns="geometry").set_index("area_id", drop=False)
    table.index = table.index.astype(str)
    return table, {"year": projection.year, "source": Path(projection.source).name,
                   "notes": [n.text("ja") for n in projection.notes]}


def _no_stores_note(stores_source: str) -> str | None:
    """Why a karte has no shopping section (the region has no food stores), else None."""
    from geo_service.service.walking import NoFoodStoresError

    return NoFoodStoresError().args[0].text("ja") if stores_source == "none" else None


def _rank(values: pd.Series, area_id: str) -> int | None:
    """1 = largest; ties share a rank; None for an area without a value."""
    v = values.get(area_id)
    if v is None or not math.isfinite(float(v)):
        return None
    return int(values.rank(ascending=False, method="min")[area_id])


def _resource_view(r: Resource, staff: bool) -> dict[str, Any] | None:
    return r.model_dump(mode="json") if staff else public_view(r)


def _resource_row(walking: WalkingService, rid: str, staff: bool) -> dict[str, Any] | None:
    view = _resource_view(walking.store.get(rid), staff)
    if view is None:
        return None
    vocab = load_vocabulary().by_id
    cat = vocab.get(view["category"])
    return {"id": view["id"], "name": view["name"], "category": view["category"],
            "category_label": cat.label if cat else view["category"],
            "schedule": format_schedule(view["schedule"]), "fee": format_fee(view["fee"]),
            "tel": view["contact"].get("tel") or "", "address": view.get("address") or "",
            "description": view.get("description") or "",
            "how_to_apply": view.get("how_to_apply") or "",
            "operator": view.get("operator") or "",
            "lon": view.get("lon"), "lat": view.get("lat"),
            "stops": [(s["lon"], s["lat"]) for s in view["schedule"]["stops"]],
            "visibility": view.get("visibility", "public"),
            "last_verified": view.get("last_verified")}


def area_karte(walking: WalkingService, data: KarteLayer, area_id: str) -> dict[str, Any]:
    """One area's karte from the layer's numbers (a plain, JSON-able dict)."""
    d = data.difficulty.loc[area_id]
    prof = data.profiles[area_id]
    total, p65 = float(d["pop_total"]), float(d["pop_65plus"])
    karte: dict[str, Any] = {
        "layer": data.layer, "area_id": area_id, "name": str(d["name"]),
        "threshold_m": data.threshold_m, "staff": data.staff,
        "population": {"pop_total": total, "pop_65plus": p65,
                       "aging_rate": p65 / total if total > 0 else None},
        "food": {key: _none_if_nan(d[key]) for key in (
            "beyond_65plus", "beyond_share", "beyond_65plus_straight",
            "beyond_share_straight", "median_m", "p90_m", "median_min", "p90_min",
            "stores_in_area", "stores_near_area")},
        "categories": prof["categories"],
    }
    karte["food"].update(threshold_m=data.threshold_m, stores_source=data.stores_source,
                         stores=data.n_stores,
                         missing=_no_stores_note(data.stores_source))
    for need, key in ((FOOD_NEED, "food_gap"), (GATHERING_NEED, "gathering")):
        g = data.gaps.get(need)
        karte[key] = _gap_section(g, area_id) if g is not None else None
    # ranks among the layer's areas (1 = the most people / the largest share beyond)
    n = len(data.area_ids)
    diff = data.difficulty
    karte["rank"] = {
        "n_areas": n,
        "beyond_share": _rank(diff["beyond_share"], area_id),
        "beyond_65plus": _rank(diff["beyond_65plus"], area_id),
        "aging_rate": _rank(diff["pop_65plus"] / diff["pop_total"].where(
            diff["pop_total"] > 0), area_id),
    }
    for key, section in (("food_gap", "food_gap"), ("gathering_gap", "gathering")):
        karte["rank"][key] = (karte[section]["rank_count"] if karte[section] is not None
                              else None)  # None: no such resource in the region
    if data.projection is not None and data.projection_info is not None:
        pr = data.projection.loc[area_id]
        ptotal, p65f = float(pr["pop_total"]), float(pr["pop_65plus"])
        karte["projection"] = {
            **data.projection_info, "pop_total": ptotal, "pop_65plus": p65f,
            "aging_rate": p65f / ptotal if ptotal > 0 else None,
            "beyond_65plus": _none_if_nan(pr["beyond_65plus"]),
            "beyond_share": _none_if_nan(pr["beyond_share"]),
            "beyond_65plus_straight": _none_if_nan(pr["beyond_65plus_straight"]),
            "beyond_share_straight": _none_if_nan(pr["beyond_share_straight"])}
    else:
        karte["projection"] = None
    karte["resources"] = _area_resources(walking, prof, data.staff)
    karte["sources"] = data.sources
    karte["attributions"] = walking.region.attributions
    return karte


def _gap_section(g: Any, area_id: str) -> dict[str, Any]:
    t = g.table.set_index("area_id")
    row = t.loc[area_id]
    return {"need": g.need, "label": g.need_label, "threshold_m": g.threshold_m,
            "pop_65plus": float(row["pop_65plus"]),
            "beyond_65plus": float(row["beyond_65plus"]),
            "beyond_share": _none_if_nan(float(row["beyond_share"])),
            "alternatives": [{"id": a.id, "label": a.label,
                              "covered_65plus": float(row[f"covered_{a.id}"]),
                              "detail": a.detail} for a in g.alternatives],
            "covered_any": float(row["covered_any"]),
            "gap_65plus": float(row["gap_65plus"]),
            "gap_share": _none_if_nan(float(row["gap_share"])),
            "rank_count": int(row["rank_count"]), "rank_share": int(row["rank_share"]),
            "notes": list(g.notes)}


def _area_resources(walking: WalkingService, prof: dict[str, Any], staff: bool
                    ) -> dict[str, list[dict[str, Any]]]:
    """The resources located in the area and the services covering it (with the share of
    the area's people 65+ each reaches), vocabulary order, each once per list."""
    located: dict[str, dict[str, Any]] = {}
    serving: dict[str, dict[str, Any]] = {}
    for cat in prof["categories"].values():
        for r in cat["located"]:
            if r["id"] not in located:
                row = _resource_row(walking, r["id"], staff)
                if row is not None:
                    located[r["id"]] = row
        for r in cat["covering"]:
            if r["id"] not in serving:
                row = _resource_row(walking, r["id"], staff)
                if row is not None:
                    serving[r["id"]] = {**row, "share_65plus": r["share_65plus"]}
    return {"located": list(located.values()), "serving": list(serving.values())}


def booklet(walking: WalkingService, layer: str, area_id: str, *, staff: bool = False
            ) -> dict[str, Any]:
    """The 生活便利帳 of an area: the resources located in it or serving it, grouped by
    category (vocabulary order), each with schedule, fee, phone and address — as the
    public sees them unless ``staff``."""
    from geo_service.service.service_coverage import area_profiles

    name = walking.area_layer(layer).name
    rows = area_profiles(walking, name, staff=staff, area_id=area_id)
    prof = next((r for r in rows if r["area_id"] == area_id), None)
    if prof is None:
        raise LookupError(msg("no area {area!r} in layer {layer!r}", area=area_id, layer=name))
    res = _area_resources(walking, prof, staff)
    every = {r["id"]: r for r in res["located"] + res["serving"]}
    vocab = load_vocabulary()
    groups = []
    for cat in vocab.categories:
        items = sorted((r for r in every.values() if r["category"] == cat.id),
                       key=lambda r: r["name"])
        if items:
            groups.append({"category": cat.id, "label": cat.label, "resources": items})
    return {"layer": name, "area_id": area_id, "name": prof["name"], "staff": staff,
            "groups": groups, "located_ids": [r["id"] for r in res["located"]],
            "sources": data_sources(walking, staff=staff),
            "attributions": walking.region.attributions}
