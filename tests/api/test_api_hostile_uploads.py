"""No upload can take the service down (issue 16, item 4).

Each hostile file sent to ``POST /resources/import?dry_run=true`` gets a 413 naming the
size limit it passes (refused by what it declares, not by the reader's time or memory
limits), while the server's memory stays put and ``/health`` answers, also while the
upload's request is held in progress. No test here is timed: how soon (each refusal within
2 s, ``/health`` p95 under 50 ms meanwhile) is measured by
``benchmarks/bench_hostile_uploads.py``. Before: a cell at XFD1048576 took the server past
6 GB in 5 s, the zip bomb 412 s of CPU and stalled ``/health`` for 4.4 s.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from geo_service import isolated
from geo_service.api import views
from geo_service.registry.store.testing import fresh_store
from tests.utils.clients import admin_client
from tests.utils.hostile import lone_cell, zip_bomb

RSS_GROWTH = 100 * 2**20  # the server's resident memory grows by less than this
HOLD_SECONDS = 30  # a held upload gives up waiting after this (only when /health cannot answer)


@pytest.fixture(scope="module")
def files():
    isolated.warm_up()  # as the service's start-up does, in the background
    return {"XFD1048576": lone_cell("XFD1048576"), "Z300000": lone_cell("Z300000"),
            "XFD1048576, range not declared": lone_cell("XFD1048576", declared=False),
            "zip bomb, 1 M rows × 10 cells": zip_bomb()}


@pytest.fixture
def client(tmp_path, monkeypatch):
    return admin_client(fresh_store("sqlite", tmp_path), tmp_path, monkeypatch)


def rss() -> int:
    """This process's resident memory (the server's: TestClient runs it here), bytes."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status
                    if line.startswith("VmRSS"))


class Hold:
    """Holds each import request, once its file has been read (really, in a process of its
    own), until :attr:`release` is set: meanwhile the request is demonstrably in progress.
    Were the import handled on the event loop, no other request could be answered while
    it is held; it would give up waiting (``released == [False]``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read, self.release = threading.Event(), threading.Event()
        self.released: list[bool] = []
        run_isolated = views.run_isolated

        def read_then_hold(*args, **kwargs):
            try:
                return run_isolated(*args, **kwargs)
            finally:
                self.read.set()
                self.released.append(self.release.wait(timeout=HOLD_SECONDS))

        monkeypatch.setattr(views, "run_isolated", read_then_hold)


def upload_watched(client: TestClient, hold: Hold, data: bytes, **headers: str):
    """Upload ``data`` as a dry run, asking ``/health`` again and again while its file is
    read and once more while its request is held: (answer, RSS growth, /health statuses,
    whether the upload was still in progress when the last /health answered)."""
    before, answer = rss(), {}
    with client:  # one event loop for every request, as the service runs
        worker = threading.Thread(target=lambda: answer.update(r=client.post(
            "/resources/import", params={"dry_run": True},
            files={"file": ("list.xlsx", data)}, headers=headers)))
        worker.start()
        peak, statuses = before, []
        while not hold.read.is_set() and worker.is_alive():
            statuses.append(client.get("/health").status_code)
            peak = max(peak, rss())
            time.sleep(0.01)
        assert hold.read.wait(timeout=HOLD_SECONDS)
        statuses.append(client.get("/health").status_code)
        in_progress = worker.is_alive() and "r" not in answer
        peak = max(peak, rss())
        hold.release.set()
        worker.join()
    return answer["r"], peak - before, statuses, in_progress


@pytest.mark.parametrize("name", ["XFD1048576", "Z300000", "XFD1048576, range not declared",
                                  "zip bomb, 1 M rows × 10 cells"])
def test_a_hostile_file_is_refused_without_harm(client, files, name, monkeypatch):
    hold = Hold(monkeypatch)
    r, growth, statuses, in_progress = upload_watched(client, hold, files[name])
    assert r.status_code == 413, r.text[:300]
    message = r.json()["detail"]["message"]
    assert "上限" in message and "GEO_SERVICE_UPLOAD_MAX_" in message, message
    assert growth < RSS_GROWTH, growth / 2**20
    assert statuses and set(statuses) == {200}, statuses
    assert in_progress and hold.released == [True]  # /health answered during the upload


def test_the_refusal_names_the_limit_in_english_when_asked(client, files):
    r = client.post("/resources/import", params={"dry_run": True},
                    files={"file": ("list.xlsx", files["Z300000"])},
                    headers={"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"})
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert detail["reason"] == ("the sheet's declared range lies beyond the limit of 100,000 "
                                "data rows and 200 columns (GEO_SERVICE_UPLOAD_MAX_ROWS, "
                                "GEO_SERVICE_UPLOAD_MAX_COLUMNS)")
    assert detail["value"] == "A1:Z300000"


def test_the_limits_are_the_services_settings(tmp_path, monkeypatch, files):
    """``GEO_SERVICE_UPLOAD_*`` set the limits: a small cell limit refuses a small file."""
    monkeypatch.setenv("GEO_SERVICE_UPLOAD_MAX_CELLS", "10")
    client = admin_client(fresh_store("sqlite", tmp_path), tmp_path, monkeypatch)

    def csv(rows: int) -> bytes:
        return ("名称,種別\n" + "".join(f"サロン{i},サロン\n" for i in range(rows))).encode()

    r = client.post("/resources/import", params={"dry_run": True},
                    files={"file": ("list.csv", csv(6))})
    assert r.status_code == 413
    assert "GEO_SERVICE_UPLOAD_MAX_CELLS" in r.json()["detail"]["message"]
    r = client.post("/resources/import", params={"dry_run": True},
                    files={"file": ("list.csv", csv(5))})  # 5 rows × 2 columns
    assert r.status_code == 200, r.text


def test_a_file_over_the_upload_size_names_that_limit_in_either_language(tmp_path, monkeypatch):
    client = admin_client(fresh_store("sqlite", tmp_path), tmp_path, monkeypatch,
                          max_upload_bytes=1_000)
    big = ("名称,種別\n" + "サロン,サロン\n" * 100).encode()
    r = client.post("/resources/import", files={"file": ("list.csv", big)})
    assert r.status_code == 413
    assert "上限 1,000 バイト" in r.json()["detail"]["message"]
    r = client.post("/resources/import", files={"file": ("list.csv", big)},
                    headers={"Accept-Language": "en"})
    assert r.json()["detail"]["reason"] == ("upload larger than the limit of 1,000 bytes "
                                            "(GEO_SERVICE_MAX_UPLOAD_BYTES)")
