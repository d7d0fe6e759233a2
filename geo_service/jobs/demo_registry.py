"""A small synthetic registry for the demo region (``geo-service serve`` with nothing set).

Everything here is invented, like the demo town itself: the resources are the demo's food
stores and gathering places, plus a city-wide meal delivery, a watch service for one
school district, a mobile-sales route over the hill and one staff-only entry.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from geo_service._errors import InputError
from geo_service.engine.region import Region
from geo_service.layers import load_resource_layer, load_vocabulary
from geo_service.registry.resources import (
    Contact,
    Fee,
    ResourceFields,
    Schedule,
    ServiceArea,
    Stop,
    Weekday,
)
from geo_service.registry.store import ResourceStore
from geo_service.service.walking import serve_region

_SOURCE = "合成デモデータ (synthetic demo data)"
#: what the demo's gathering places offer, dealt out in turn (invented, like the town)
_GATHERING_DETAILS = (
    dict(description="お茶を飲みながらおしゃべり。季節の行事もあります",
         schedule=Schedule(weekdays=["wed"], start="10:00", end="11:30"),
         fee=Fee(kind="free"), how_to_apply="申し込み不要。直接お越しください",
         contact=Contact(tel="000-000-1001"),
         last_verified=date(2026, 10, 1)),
    dict(description="いきいき百歳体操（おもりを使った筋力体操）と脳トレ",
         schedule=Schedule(weekdays=["tue"], frequency="第1・第3", start="13:30",
                           end="15:00"),
         fee=Fee(kind="paid", amount_yen=100, text="お茶代100円"),
         how_to_apply="初回は地域包括支援センターへ電話", contact=Contact(tel="000-000-1002")),
    dict(description="歌と体操、昼食会（月1回）",
         schedule=Schedule(weekdays=["mon", "thu"], start="10:00", end="11:00"),
         fee=Fee(kind="free"), how_to_apply="自治会長へ",
         contact=Contact(tel="000-000-1003"),
         last_verified=date(2026, 6, 15)),
)

#: each gathering place's address, in the 町 of the 小学校区 it stands in (川西: 本町,
#: 川東: 東町, 山手: 山手 — where each district's school stands, geo_service.jobs.demo)
_ADDRESSES = {
    "ふれあいサロン川べり": "坂の町本町1-2",
    "いきいき百歳体操 本町公民館": "坂の町本町3-4",
    "オレンジカフェ さかみち": "坂の町東町2-7",
    "山手ふれあいサロン": "坂の町山手1-5",
    "高台いきいき体操": "坂の町山手3-4",
}


def seed_demo_registry(store: ResourceStore, region: Region) -> int:
    """Fill ``store`` with the demo registry for ``region``; return how many were added.

    The store is bound to the region first (:func:`~geo_service.service.walking.serve_region`), so
    every located resource gets its 小学校区 as its responsible area.
    """
    serve_region(store, region)
    items: list[ResourceFields] = []
    gathering = 0
    for key, gdf in region.resources.items():
        pts = gdf.to_crs(4326)
        # a category the layer counts is the registry category that the layer details
        # (food_stores → 食料品店); the others (a mobile sales stop) keep their own
        # registry category, as in the engine's indicators
        detailed = [c.id for c in load_vocabulary().categories if c.layer == key]
        counted = set(load_resource_layer(key).included_ids) if detailed else set()
        for _, row in pts.iterrows():
            category = (detailed[0] if row["category"] in counted
                        else _registry_category(key, row["category"]))
            if category is None:
                continue
            details: dict = {"last_verified": date(2025, 4, 1)}
            if key == "gathering_places":
                details |= _GATHERING_DETAILS[gathering % len(_GATHERING_DETAILS)]
                details["address"] = _ADDRESSES.get(str(row["name"]))
                gathering += 1
            items.append(ResourceFields(
                name=str(row["name"]), category=category,
                lon=round(row.geometry.x, 7), lat=round(row.geometry.y, 7),
                source=_SOURCE, **details))
    layer = region.areas[0] if region.areas else None
    items.append(ResourceFields(
        name="まごころ配食サービス", kana="マゴコロハイショク", category="配食",
        description="昼食・夕食のお弁当を届け、安否も確認します", operator="坂の町社会福祉協議会",
        operator_type="社協", service_area=ServiceArea(kind="municipality", text="市内全域"),
        schedule=Schedule(weekdays=["mon", "tue", "wed", "thu", "fri"], start="11:00",
                          end="13:00"),
        fee=Fee(kind="paid", amount_yen=500, text="1食500円"),
        contact=Contact(tel="000-000-0001"), source=_SOURCE))
    if layer is not None:
        last = layer.areas.iloc[-1]
        items.append(ResourceFields(
            name="見守り訪問", category="見守り", source=_SOURCE,
            service_area=ServiceArea(kind="areas", layer=layer.name,
                                     area_ids=[str(last["area_id"])], text=f"{last['name']}区"),
            fee=Fee(kind="free"), description="一人暮らし高齢者への声かけ訪問"))
    xy = region.net.node_xy
    hill = xy[np.argsort(xy[:, 1])[-40:]][::10][:3]  # three nodes near the top of the town
    lon, lat = region.net.to_geographic.transform(hill[:, 0], hill[:, 1])
    days: list[Weekday] = ["tue", "thu", "sat"]
    items.append(ResourceFields(
        name="移動スーパー さかみち号", category="移動販売", source=_SOURCE,
        schedule=Schedule(stops=[Stop(name=f"停留所{k + 1}", lon=round(float(a), 7),
                                      lat=round(float(b), 7), weekday=days[k], time="10:30",
                                      minutes=20)
                                 for k, (a, b) in enumerate(zip(lon, lat, strict=True))])))
    items.append(ResourceFields(
        name="職員用メモ：独居見守りリスト", category="見守り", visibility="staff",
        staff_notes="合成データ", source=_SOURCE))
    return len(store.add_many(items, user="demo", action="demo"))


def _registry_category(layer_id: str, category_id: str) -> str | None:
    """The registry category of an engine layer's category (by id, label or alias)."""
    vocab = load_vocabulary()
    names = [category_id]
    try:
        layer = load_resource_layer(layer_id)
        names += [n for c in layer.categories if c.id == category_id
                  for n in (c.label, *c.aliases)]
    except (InputError, OSError):
        pass
    for name in names:
        try:
            return vocab.category_key(name)
        except InputError:
            continue
    return None
