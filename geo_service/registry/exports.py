"""Export of resources: CSV (UTF-8 with BOM, or CP932), Excel and GeoJSON.

CSV and Excel carry the importer's Japanese headers
(:data:`~geo_service.registry.columns.HEADER_ALIASES`), so an export imports again; the
public export keeps only what the public may see.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.inputs.boundaries import AreaLayer
from geo_service.layers import load_vocabulary
from geo_service.outputs import spreadsheet_safe
from geo_service.registry.columns import HEADER_ALIASES, STAFF_FIELD_LABELS
from geo_service.registry.resources import WEEKDAY_JA, Resource
from geo_service.registry.visibility import public_view

_EXPORT_STAFF_ONLY = ("visibility", "staff_fields", "coordinator", "source", "staff_notes")


def _service_area_text(r: Mapping[str, Any], layers: Mapping[str, AreaLayer]) -> str:
    sa = r["service_area"]
    if sa.get("text"):
        return sa["text"]
    kind = sa["kind"]
    if kind == "municipality":
        return "市内全域"
    if kind == "radius":
        return f"半径{sa['radius_m']:g}m"
    if kind == "walk":
        return f"徒歩{sa['minutes']:g}分"
    if kind == "areas":
        layer = layers.get(sa.get("layer") or "")
        names = dict(zip(layer.ids, layer.names, strict=True)) if layer else {}
        return "、".join(names.get(a, a) for a in sa["area_ids"])
    return ""


def export_rows(resources: Iterable[Resource], *, public: bool = True,
                layers: Mapping[str, AreaLayer] | None = None) -> list[dict[str, Any]]:
    """Rows with the importer's Japanese headers; ``public`` applies the public view."""
    vocab = load_vocabulary()
    layers = layers or {}
    rows = []
    for res in resources:
        r = public_view(res) if public else res.model_dump(mode="json")
        if r is None:
            continue
        sched, fee, contact = r["schedule"], r["fee"], r["contact"]
        values: dict[str, Any] = {
            "id": res.id, "name": r["name"], "kana": r["kana"],
            "category": vocab.by_id[r["category"]].label,
            "description": r["description"], "operator": r["operator"],
            "operator_type": vocab.operator_types.get(r["operator_type"] or "", None),
            "address": r["address"], "lat": r["lat"], "lon": r["lon"],
            "tel": contact["tel"], "fax": contact["fax"], "email": contact["email"],
            "url": contact["url"],
            "service_area": _service_area_text(r, layers),
            "service_area_geojson": json.dumps(r["service_area"]["geometry"], ensure_ascii=False)
            if r["service_area"]["kind"] == "polygon" else None,
            "fee": fee["text"] or {"free": "無料", "paid": "有料"}.get(fee["kind"]),
            "weekdays": "・".join(WEEKDAY_JA[d] for d in sched["weekdays"]),
            "start": sched["start"], "end": sched["end"], "frequency": sched["frequency"],
            "schedule_note": sched["text"],
            "stops": json.dumps(sched["stops"], ensure_ascii=False) if sched["stops"] else None,
            "target_users": r["target_users"], "how_to_apply": r["how_to_apply"],
            "payment_methods": "、".join(r["payment_methods"]), "notes": r["notes"],
            "last_verified": r["last_verified"],
        }
        if not public:
            values |= {
                "visibility": "公開" if res.visibility == "public" else "非公開",
                "staff_fields": "、".join(STAFF_FIELD_LABELS[f] for f in res.staff_fields),
                "coordinator": res.coordinator, "area": res.area, "source": res.source,
                "staff_notes": res.staff_notes,
            }
        else:
            values["area"] = r["area"]
        rows.append({HEADER_ALIASES[k][0]: ("" if v is None else v) for k, v in values.items()})
    return rows


def resources_geojson(resources: Iterable[Resource], *, public: bool = True) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection (lon/lat); resources without a location get null
    geometry. ``public`` applies the public view."""
    features = []
    for res in resources:
        r = public_view(res) if public else res.model_dump(mode="json")
        if r is None:
            continue
        geometry = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]}
                    if r["lon"] is not None else None)
        features.append({"type": "Feature", "id": res.id, "geometry": geometry,
                         "properties": {"id": res.id, **r}})
    return {"type": "FeatureCollection", "features": features}


ExportFormat = Literal["csv", "xlsx", "geojson"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}


def export_bytes(resources: Iterable[Resource], fmt: ExportFormat, *, public: bool = True,
                 encoding: str = "utf-8-sig",
                 layers: Mapping[str, AreaLayer] | None = None,
                 region: str = "", attributions: Iterable[str] = ()) -> bytes:
    """The resources as CSV (UTF-8 with BOM, or ``cp932``), Excel or GeoJSON bytes.

    ``public`` (default) keeps only what the public may see (see
    :func:`~geo_service.registry.visibility.public_view`). CSV and Excel cells never run as formulas
    and hold no control character (:func:`~geo_service.outputs.spreadsheet_cell`; the
    importer removes the quote it adds, so an export imports as it was).

    ``region`` (its name) and ``attributions`` (the 出典 texts of the region's sources) are
    the export's metadata: a ``metadata`` member of the GeoJSON, a sheet 出典 of the
    workbook (a CSV holds the table alone, so that it imports again).
    """
    resources = list(resources)
    attributions = list(attributions)
    if fmt == "geojson":
        collection = resources_geojson(resources, public=public)
        if region or attributions:
            collection["metadata"] = {"region": region, "attributions": attributions}
        return json.dumps(collection, ensure_ascii=False, indent=1).encode("utf-8")
    headers = [HEADER_ALIASES[k][0] for k in HEADER_ALIASES
               if not public or k not in _EXPORT_STAFF_ONLY]
    frame = spreadsheet_safe(pd.DataFrame(export_rows(resources, public=public, layers=layers),
                                          columns=headers))
    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(frame.to_csv(index=False).encode(encoding, errors="strict"))
    elif fmt == "xlsx":
        with pd.ExcelWriter(buffer, engine="openpyxl") as book:
            frame.to_excel(book, index=False, sheet_name="地域資源")
            if region or attributions:
                spreadsheet_safe(pd.DataFrame({"項目": ["地域", *["出典"] * len(attributions)],
                                               "内容": [region, *attributions]})
                                 ).to_excel(book, index=False, sheet_name="出典")
    else:
        raise InputError(msg("unsupported export format (csv, xlsx or geojson)"), value=fmt)
    return buffer.getvalue()


def export_resources(resources: Iterable[Resource], path: str | Path, *,
                     public: bool = True, encoding: str = "utf-8-sig",
                     layers: Mapping[str, AreaLayer] | None = None, region: str = "",
                     attributions: Iterable[str] = ()) -> Path:
    """Write resources to ``path``; the suffix (.csv, .xlsx, .geojson) picks the format."""
    path = Path(path)
    fmt = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson"}.get(
        path.suffix.lower())
    if fmt is None:
        raise InputError(msg("unsupported export format (use .csv, .xlsx or .geojson)"),
                         file=path, value=path.suffix)
    path.write_bytes(export_bytes(resources, fmt, public=public, encoding=encoding,  # type: ignore[arg-type]
                                  layers=layers, region=region, attributions=attributions))
    return path
