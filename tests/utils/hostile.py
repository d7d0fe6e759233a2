"""Hostile spreadsheets, written part by part with :mod:`zipfile` (no spreadsheet library,
which would refuse to write them or take as long as the reader to do so)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
        '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        f'{_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} xmlns:r="{_R}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        f'{_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def workbook(rows: Iterable[str], *, dimension: str | None = None, doctype: str = "") -> bytes:
    """An .xlsx whose one sheet holds ``rows`` (each a ``<row>…</row>`` element, streamed
    into the compressed part, never held whole), after ``doctype`` if given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
                        f'<worksheet {_NS}>'.encode())
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            for row in rows:
                sheet.write(row.encode())
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def row(number: int, cells: Iterable[tuple[str, str]]) -> str:
    """A ``<row>`` of inline-string cells, given as (reference, text)."""
    inner = "".join(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
                    for ref, text in cells)
    return f'<row r="{number}">{inner}</row>'


HEADER = row(1, [("A1", "名称"), ("B1", "種別")])


def lone_cell(ref: str, *, declared: bool = True) -> bytes:
    """A header and one cell at ``ref`` (e.g. XFD1048576), the range declared or not."""
    number = int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return workbook([HEADER, row(number, [(ref, "x")])],
                    dimension=f"A1:{ref}" if declared else None)


def zip_bomb(rows: int = 1_000_000, columns: int = 10) -> bytes:
    """``rows`` × ``columns`` cells of one text, with neither cell references nor a
    declared range: 350 MB of sheet XML in a few hundred kilobytes."""
    cells = '<c t="inlineStr"><is><t>サロン</t></is></c>' * columns
    block = f"<row>{cells}</row>" * 10_000
    return workbook(block for _ in range(rows // 10_000))
