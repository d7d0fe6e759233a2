"""Reading a table within limits (issue 16, item 4): hostile files are refused before they
are expanded, naming the limit; the reader process has its own time and memory limits."""

from __future__ import annotations

import io
import os
import pickle
import time

import openpyxl
import pytest

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.isolated import IsolatedLimitError, run_isolated
from geo_service.registry.imports import read_resource_table
from geo_service.table_limits import (
    ReadLimits,
    TableLimitError,
    check_workbook,
    column_number,
)
from tests.utils.hostile import HEADER, lone_cell, row, workbook, zip_bomb


@pytest.fixture(scope="module")
def bomb():
    return zip_bomb()


def refused(data: bytes, name: str = "list.xlsx", **limits) -> TableLimitError:
    start = time.perf_counter()
    with pytest.raises(TableLimitError) as caught:
        read_resource_table(data=data, filename=name, limits=ReadLimits(**limits))
    assert time.perf_counter() - start < 2  # refused before anything is expanded (issue: 2 s)
    return caught.value


@pytest.mark.parametrize("ref", ["XFD1048576", "Z300000", "HZ2"])
@pytest.mark.parametrize("declared", [True, False])
def test_a_cell_beyond_the_rows_or_columns_is_refused_naming_the_limits(ref, declared):
    e = refused(lone_cell(ref, declared=declared))
    assert e.limits == ("rows", "columns")
    assert "上限（データ 100,000 行・200 列）の外にあります" in e.reason_ja
    assert "GEO_SERVICE_UPLOAD_MAX_ROWS, GEO_SERVICE_UPLOAD_MAX_COLUMNS" in e.reason_ja
    assert "beyond the limit of 100,000 data rows and 200 columns" in str(e)
    assert "GEO_SERVICE_UPLOAD_MAX_ROWS, GEO_SERVICE_UPLOAD_MAX_COLUMNS" in str(e)


def test_a_zip_bomb_is_refused_by_its_uncompressed_size(bomb):
    assert len(bomb) < 2_500_000
    e = refused(bomb)
    assert e.limits == ("expanded_bytes",) and e.value > 300_000_000
    assert "展開後の大きさ" in e.reason_ja and "100,000,000 バイト" in e.reason_ja


def test_a_bomb_within_the_size_limit_is_refused_by_its_cells(bomb):
    """Declared sizes aside, the sheet is counted as it streams: no more than the limit
    of cells is ever looked at."""
    e = refused(bomb, expanded_bytes=10**10, cells=50_000)
    assert e.limits == ("cells",) and "50,000" in str(e)


def test_the_range_that_holds_data_counts_its_empty_cells():
    # 2 filled cells, but A1:T3000 spans 60,000 cells that a reader would build
    e = refused(workbook([HEADER, row(3000, [("T3000", "x")])]), cells=50_000)
    assert e.limits == ("cells",)


def test_too_many_zip_parts_are_refused():
    assert refused(workbook([HEADER]), zip_entries=4).limits == ("zip_entries",)


def test_document_type_declarations_are_refused():
    data = workbook([HEADER], doctype='<!DOCTYPE x [<!ENTITY a "aaaa">]>')
    with pytest.raises(InputError, match="document type declarations"):
        check_workbook(data)


def test_a_workbook_within_the_limits_is_read_as_before():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["名称", "種別", "緯度", "経度"])
    for i in range(50):
        sheet.append([f"サロン{i}", "サロン", 33.65, 130.69])
    buffer = io.BytesIO()
    book.save(buffer)
    assert check_workbook(buffer.getvalue()) == (51, 4)
    table = read_resource_table(data=buffer.getvalue(), filename="list.xlsx",
                                limits=ReadLimits(rows=50, columns=4, cells=204))
    assert table.frame.shape == (50, 4)
    assert table.frame.iloc[49].tolist() == ["サロン49", "サロン", "33.65", "130.69"]


def test_cell_references_are_read_as_spreadsheets_number_columns():
    assert [column_number(c) for c in ("A", "Z", "AA", "XFD")] == [1, 26, 27, 16384]


def test_a_csv_with_too_many_columns_is_refused():
    e = refused(("名称" + ",x" * 300 + "\n").encode(), "list.csv")
    assert e.limits == ("columns",) and "301" in str(e)


def test_a_csv_with_too_many_rows_is_refused_and_one_at_the_limit_is_read():
    text = "名称,種別\n" + "".join(f"サロン{i},サロン\n" for i in range(101))
    assert refused(text.encode(), "list.csv", rows=100).limits == ("rows",)
    assert refused(text.encode(), "list.csv", cells=200).limits == ("cells",)
    table = read_resource_table(data=text.encode(), filename="list.csv",
                                limits=ReadLimits(rows=101, cells=202))
    assert len(table.frame) == 101


def test_limit_errors_survive_the_trip_from_the_reader_process():
    reason = msg("more rows than the limit of {n:,}", n=1000)
    e = pickle.loads(pickle.dumps(TableLimitError(("rows",), reason, file="a.csv", value=3)))
    assert (e.limits, e.file, e.value, e.reason, e.reason_ja) == (
        ("rows",), "a.csv", 3, "more rows than the limit of 1,000 (GEO_SERVICE_UPLOAD_MAX_ROWS)",
        "行数が上限 1,000 行を超えています（設定 GEO_SERVICE_UPLOAD_MAX_ROWS）")


def _address_space() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status
                    if line.startswith("VmSize"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_the_reader_process_runs_out_of_memory_alone():
    base = run_isolated(_address_space, memory_bytes=2**40, seconds=60)
    with pytest.raises(IsolatedLimitError, match="GEO_SERVICE_UPLOAD_MEMORY_BYTES"):
        run_isolated(bytearray, 300_000_000, memory_bytes=base + 100_000_000, seconds=60)
    assert run_isolated(len, bytearray(10), memory_bytes=base + 100_000_000, seconds=60) == 10


def test_the_reader_process_is_stopped_at_its_time_limit():
    start = time.perf_counter()
    with pytest.raises(IsolatedLimitError, match="limit of 0.5 s") as caught:
        run_isolated(time.sleep, 30, memory_bytes=2**40, seconds=0.5)
    assert "制限時間 0.5 秒" in caught.value.reason_ja
    assert time.perf_counter() - start < 3


def test_errors_of_the_reader_process_are_raised_as_they_were():
    with pytest.raises(TableLimitError) as caught:
        run_isolated(read_resource_table, data=lone_cell("Z300000"), filename="z.xlsx",
                     memory_bytes=2**40, seconds=60)
    assert caught.value.limits == ("rows", "columns") and caught.value.file == "z.xlsx"


@pytest.mark.parametrize("data", [
    b"not a zip file",
    workbook([HEADER]).replace(b"worksheets/sheet1.xml", b"worksheets/sheet9.xml", 1),
])
def test_a_broken_workbook_is_a_422_input_error_not_a_crash(data):
    with pytest.raises(InputError, match="cannot read as an Excel workbook") as err:
        read_resource_table(data=data, filename="broken.xlsx")
    assert err.value.text("ja").startswith("broken.xlsx：Excel ブックとして読めません: ")


class _UnpicklableError(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


def _raise_unpicklable() -> None:
    raise _UnpicklableError("this", "that")


def test_an_error_that_does_not_unpickle_comes_back_named():
    """An exception whose arguments are not its ``__init__``'s pickles but does not
    unpickle: it comes back as a RuntimeError naming it, not as the pipe's TypeError."""
    with pytest.raises(RuntimeError, match="_UnpicklableError: this and that"):
        run_isolated(_raise_unpicklable, memory_bytes=None, seconds=60)


def test_a_process_without_a_memory_limit_that_dies_is_not_out_of_memory():
    """Without a memory limit (an import's writer), a process that dies without an answer
    is an error naming its exit code, not "needs more memory than the limit"."""
    with pytest.raises(RuntimeError, match="exit code 3"):
        run_isolated(os._exit, 3, memory_bytes=None, seconds=60)


def test_the_registrys_errors_come_back_from_a_process():
    """The errors an import's writer may raise pickle and unpickle with what they carry."""
    from geo_service.registry.auth import TooManyLoginsError
    from geo_service.registry.store import NotFoundError, PreconditionFailedError, StoreSpec

    for error, kept in ((NotFoundError("resource", "r1"), ("what", "key")),
                        (PreconditionFailedError("r1", 3, {1, 2}),
                         ("resource_id", "current", "expected")),
                        (TooManyLoginsError(12.2), ("retry_after",))):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert [getattr(back, k) for k in kept] == [getattr(error, k) for k in kept]
    spec = StoreSpec("postgresql+psycopg://geo:s3cret@db/registry", 5.0, {}, None, None, None)
    assert "s3cret" not in repr(spec)  # a traceback's locals never show the password
