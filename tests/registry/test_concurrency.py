"""Concurrent writers on one resource: no change is lost, and stale versions are refused.

Each round, two threads change a different field of the same resource at the same moment
(released together by a barrier); after the round both changes must be there. Without the
row lock (PostgreSQL ``SELECT … FOR UPDATE``, SQLite ``BEGIN IMMEDIATE``) both threads read
the same old resource and the second write drops the first one's field.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import Response

from geo_service._errors import DuplicateIdError
from geo_service.api import views
from geo_service.registry.auth import PermissionDeniedError
from geo_service.registry.resources import ResourceFields
from geo_service.registry.store import NotFoundError, PreconditionFailedError, User
from geo_service.registry.store.testing import BACKENDS, fresh_store
from tests.registry.test_store import district_layer
from tests.utils.stores import backend_store

pytestmark = pytest.mark.slow  # the fast default leaves it out (README, Tests)

ROUNDS = 1000


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return backend_store(request.param, tmp_path)


def _salon(store):
    return store.add(ResourceFields(name="立岩サロン", category="通いの場・サロン",
                                    lon=130.705, lat=33.605))


def test_simultaneous_updates_of_different_fields_lose_nothing(store):
    rid = _salon(store).id
    start, done = threading.Barrier(3), threading.Barrier(3)
    errors: list[BaseException] = []

    def writer(field: str) -> None:
        for i in range(ROUNDS):
            start.wait()
            try:
                store.update(rid, {field: f"{field} {i}"}, user=field)
            except BaseException as e:  # reported by the main thread
                errors.append(e)
            done.wait()

    threads = [threading.Thread(target=writer, args=(f,)) for f in ("notes", "staff_notes")]
    for t in threads:
        t.start()
    lost = []
    for i in range(ROUNDS):
        start.wait()
        done.wait()
        got = store.get(rid)
        if (got.notes, got.staff_notes) != (f"notes {i}", f"staff_notes {i}"):
            lost.append((i, got.notes, got.staff_notes))
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert not lost, f"{len(lost)} of {ROUNDS} rounds lost a change, e.g. {lost[:3]}"
    assert store.get(rid).version == 1 + 2 * ROUNDS
    assert len(store.history(rid)) == 1 + 2 * ROUNDS


def test_every_write_gives_a_new_version(store):
    r = _salon(store)
    assert r.version == store.get(r.id).version == 1
    assert store.update(r.id, {"notes": "x"}).version == 2
    assert store.delete(r.id).version == 3
    assert store.undo(r.id).version == store.get(r.id).version == 4
    assert store.list().items[0].version == store.get_many([r.id])[0].version == 4


@pytest.mark.parametrize("write", [
    lambda store, rid, expected: store.update(rid, {"notes": "late"},
                                              expected_versions=expected),
    lambda store, rid, expected: store.delete(rid, expected_versions=expected),
    lambda store, rid, expected: store.undo(rid, expected_versions=expected),
], ids=["update", "delete", "undo"])
def test_a_stale_expected_version_writes_nothing(store, write):
    rid = _salon(store).id
    store.update(rid, {"notes": "first"})  # version 2
    with pytest.raises(PreconditionFailedError) as e:
        write(store, rid, {1})
    assert e.value.current == 2
    assert store.get(rid).notes == "first" and store.get(rid).version == 2
    assert len(store.history(rid)) == 2
    assert write(store, rid, {1, 2}).version == 3


class _AreasThatWaitForAMove(tuple[str, ...]):
    """A coordinator's areas that, when the permission check first reads them, let
    ``move`` (an admin moving the resource, in another thread) run for up to a second.

    This holds the check at its decisive moment, so the race is played out the same way
    every time: checked outside the write transaction, the move commits meanwhile and
    the coordinator's edit then lands in the other area; checked inside it, the move
    waits for the row lock and comes after the edit."""

    move: threading.Thread

    def __contains__(self, area: object) -> bool:
        if not self.move.is_alive() and self.move.ident is None:
            self.move.start()
            self.move.join(timeout=1)
        return super().__contains__(area)


@pytest.mark.parametrize("edit", [
    lambda store, rid, user: views.update_resource(store, rid, {"notes": "川西の編集"}, user,
                                                   Response(), if_match=None),
    lambda store, rid, user: views.delete_resource(store, rid, user, Response(),
                                                   if_match=None),
], ids=["update", "delete"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_coordinator_cannot_edit_while_an_admin_moves_the_resource_away(tmp_path, edit,
                                                                         backend):
    """The area permission check runs inside the locked write transaction (issue 16,
    item 10): a coordinator of A never changes a resource while it is in B."""
    layer = district_layer()
    store = backend_store(backend, tmp_path)
    store.use_region({layer.name: layer}, (130.6, 33.5, 130.8, 33.7), 1.2,
                     area_layer=layer.name)
    rid = _salon(store).id  # in A
    assert store.get(rid).area == "A"
    moved: list[str] = []

    def move() -> None:  # into B
        try:
            moved.append(store.update(rid, {"lon": 130.715}, user="admin").area or "")
        except NotFoundError:
            moved.append("deleted first")

    areas = _AreasThatWaitForAMove(("A",))
    areas.move = threading.Thread(target=move)
    sato = User("sato", "coordinator", areas)
    try:
        edit(store, rid, sato)
    except PermissionDeniedError:
        refused = True  # the move came first
    else:
        refused = False
    areas.move.join()
    assert moved in (["B"], ["deleted first"])
    mine = [e for e in store.history(rid) if e.username == "sato"]
    assert len(mine) == (0 if refused else 1)
    for entry in mine:  # it landed while the resource was in A
        assert entry.before is not None and entry.after is not None
        assert (entry.before["area"], entry.after["area"]) == ("A", "A"), entry


def test_an_import_update_applies_to_an_edit_made_while_its_rows_were_checked(store):
    """An import computes its changes before it takes the write lock; one whose resource
    is edited meanwhile is computed again from the edited version: no edit is lost."""
    rid = _salon(store).id
    calls = []

    def change(before):
        calls.append(before.version)
        if len(calls) == 1:  # someone edits the resource while the import is checked
            store.update(rid, {"description": "同時の編集"}, user="other")
        return before.model_copy(update={"notes": "取り込みの備考"})

    added, updated = store.import_many([], [(rid, change)], user="import")
    assert calls == [1, 2]
    after = store.get(rid)
    assert after.version == 3 == updated[0].version
    assert after.description == "同時の編集" and after.notes == "取り込みの備考"
    assert [h.action for h in store.history(rid)][-1] == "import-update"


def test_an_import_with_a_taken_id_writes_nothing(store):
    taken = _salon(store).id
    new = [ResourceFields(name=f"サロン{i}", category="通いの場・サロン", lon=130.705,
                          lat=33.605) for i in range(300)]
    with pytest.raises(DuplicateIdError, match=taken):
        store.import_many([*new, store.get(taken)], [], user="import")
    assert store.count() == 1


def test_edits_during_a_large_update_import_wait_less_than_the_busy_timeout(tmp_path):
    """The yearly update round re-imports thousands of resources: its changes too are
    computed and staged before it takes SQLite's write lock, so an edit meanwhile waits
    less than a short busy timeout instead of failing with "database is locked"."""
    store = fresh_store("sqlite", tmp_path, busy_seconds=1.0)
    items = [ResourceFields(name=f"サロン{i}", category="通いの場・サロン", lon=130.705,
                            lat=33.605) for i in range(4001)]
    first, *rest = store.add_many(items, user="setup")
    changes = [(r.id, lambda before: before.model_copy(update={"notes": "更新"}))
               for r in rest]
    done = threading.Event()

    def update_round():
        store.import_many([], changes, user="import")
        done.set()

    worker = threading.Thread(target=update_round)
    worker.start()
    edits = 0
    while not done.is_set():
        store.update(first.id, {"description": f"編集 {edits}"}, user="other")
        edits += 1
        time.sleep(0.02)
    worker.join()
    assert edits >= 3
    assert store.get(first.id).version == 1 + edits
    assert store.get(rest[-1].id).notes == "更新" and store.get(rest[-1].id).version == 2


def test_an_import_adds_and_updates_in_one_go(store):
    """New rows and changes of stored ones, each with its history, in one transaction."""
    stored = [_salon(store) for _ in range(3)]
    new = [ResourceFields(name=f"新サロン{i}", category="通いの場・サロン", lon=130.705,
                          lat=33.605) for i in range(3)]
    changes = [(r.id, lambda before: before.model_copy(update={"notes": "更新"}))
               for r in stored]
    added, updated = store.import_many(new, changes, user="import")
    assert store.count() == 6
    assert sorted(store.get(r.id).name for r in added) == ["新サロン0", "新サロン1", "新サロン2"]
    assert all(store.get(r.id).notes == "更新" and store.get(r.id).version == 2
               for r in stored)
    assert [h.action for h in store.history(stored[0].id)] == ["create", "import-update"]
    assert [h.action for h in store.history(added[0].id)] == ["import"]
