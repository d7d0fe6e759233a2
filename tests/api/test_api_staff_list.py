"""The staff list searched, filtered, sorted and paged by the server (issue 19, item 4).

Twelve hand-made resources 資源00 … 資源11 (カナ シゲン00 …), so that every page, order and
filter below is known by hand:

- area A for the even ones, B for the odd ones;
- category by i % 3: 0 通いの場・サロン (salon), 1 認知症カフェ, 2 食料品店;
- staff-only: 04 and 07; 03's address (東京都千代田区) is staff-only;
- last verified: never for 00 and 05, 2020-01-01 for 01 and 02, today for the rest.

On SQLite and PostGIS (``GEO_SERVICE_TEST_PG_URL``).
"""

from __future__ import annotations

from datetime import date

import pytest

from geo_service.registry.resources import ResourceFields
from tests.utils.clients import ADMIN, add_user, api_client, bearer
from tests.utils.stores import backend_store

CATEGORY = ["salon", "dementia_cafe", "food_store"]
VERIFIED = {0: None, 5: None, 1: date(2020, 1, 1), 2: date(2020, 1, 1)}


pytestmark = pytest.mark.usefixtures("fast_hashes")


@pytest.fixture(params=["sqlite", "postgis"])
def client(request, tmp_path):
    store = backend_store(request.param, tmp_path)
    add_user(store, *ADMIN, role="admin")
    add_user(store, "sato", "sato-pass-1", areas=["A"])
    for i in [7, 3, 11, 0, 5, 9, 1, 4, 10, 2, 8, 6]:  # not in order: the server sorts
        store.add(ResourceFields(
            name=f"資源{i:02d}", kana=f"シゲン{i:02d}", category=CATEGORY[i % 3],
            area="A" if i % 2 == 0 else "B", visibility="staff" if i in (4, 7) else "public",
            address="東京都千代田区" if i == 3 else f"福岡県飯塚市立岩{i}",
            staff_fields=["address"] if i == 3 else [],
            last_verified=VERIFIED.get(i, date.today())))
    return api_client(store, tmp_path)


def numbers(client, headers=None, **params) -> tuple[list[int], int]:
    """The page's resources as their numbers (資源07 → 7), and the total."""
    r = client.get("/resources", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    body = r.json()
    return [int(f["properties"]["name"][2:]) for f in body["features"]], body["total"]


def every_page(client, headers, limit, **params) -> list[list[int]]:
    pages, offset = [], 0
    while True:
        page, total = numbers(client, headers, limit=limit, offset=offset, **params)
        assert total == sum(map(len, pages)) + len(page) or len(page) == limit
        if not page:
            return pages
        pages.append(page)
        offset += limit


def test_pages_in_kana_order(client):
    admin = bearer(client, *ADMIN)
    assert every_page(client, admin, 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert numbers(client, admin, limit=5, offset=5) == ([5, 6, 7, 8, 9], 12)
    assert numbers(client, admin, limit=5, offset=10, order="desc") == ([1, 0], 12)


def test_sorted_by_category_verification_area_and_update(client):
    admin = bearer(client, *ADMIN)
    by_category = [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]  # the vocabulary's order
    assert sum(every_page(client, admin, 5, sort="category"), []) == by_category
    assert sum(every_page(client, admin, 5, sort="category", order="desc"), []) == \
        by_category[::-1]
    # never verified first, then the oldest
    by_verified = [0, 5, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    assert sum(every_page(client, admin, 4, sort="last_verified"), []) == by_verified
    assert sum(every_page(client, admin, 4, sort="last_verified", order="desc"), []) == \
        by_verified[::-1]
    assert numbers(client, admin, sort="area", limit=12)[0] == [0, 2, 4, 6, 8, 10,
                                                               1, 3, 5, 7, 9, 11]
    # updated_at: the order they were added in
    assert numbers(client, admin, sort="updated_at", limit=3)[0] == [7, 3, 11]


def test_filters_for_staff(client):
    admin = bearer(client, *ADMIN)
    assert numbers(client, admin, unverified_months=12) == ([0, 1, 2, 5], 4)
    assert numbers(client, admin, visibility="staff") == ([4, 7], 2)
    assert numbers(client, admin, visibility="public", category="salon") == ([0, 3, 6, 9], 4)
    assert numbers(client, admin, area="B", sort="category", limit=2) == ([3, 9], 6)
    # the keyword: カナ given half-width, an address, a category's label
    assert numbers(client, admin, q="ｼｹﾞﾝ03") == ([3], 1)
    assert numbers(client, admin, q="千代田") == ([3], 1)
    assert numbers(client, admin, q="飯塚市立岩1") == ([1, 10, 11], 3)
    assert numbers(client, admin, q="カフェ") == ([1, 4, 7, 10], 4)
    assert numbers(client, admin, q="カフェ", unverified_months=12) == ([1], 1)


def test_the_public_never_filters_by_what_only_staff_see(client):
    # no staff-only resource, no search in a staff-only (or any) address
    assert numbers(client, q="カフェ") == ([1, 10], 2)
    assert numbers(client, q="千代田") == ([], 0)
    assert numbers(client, q="飯塚市") == ([], 0)
    assert numbers(client, visibility="staff") == ([0, 1, 2, 3, 5, 6, 8, 9, 10, 11], 10)
    assert numbers(client, unverified_months=12)[1] == 10
    assert numbers(client, mine="true")[1] == 10
    assert numbers(client, sort="last_verified", limit=2)[0] == [0, 5]


def test_a_coordinators_own_areas_on_every_page(client):
    """sato works in area A: with mine=true every page holds A's resources only, and
    all of them (including the staff-only 04); without it, everyone's."""
    sato = bearer(client, "sato", "sato-pass-1")
    pages = every_page(client, sato, 2, mine="true")
    assert pages == [[0, 2], [4, 6], [8, 10]]
    for page in pages:
        for i in page:
            r = client.get(f"/resources/{_id(client, sato, i)}", headers=sato).json()
            assert r["properties"]["area"] == "A"
    assert every_page(client, sato, 4, mine="true", sort="category", order="desc") == [
        [8, 2, 10, 4], [6, 0]]
    assert numbers(client, sato, limit=1)[1] == 12


def _id(client, headers, i):
    body = client.get("/resources", params={"q": f"シゲン{i:02d}"}, headers=headers).json()
    return body["features"][0]["properties"]["id"]


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_migration_fills_in_the_staff_search_text(backend, tmp_path):
    """Registries made before 0009_staff_list: the staff's keyword search finds their
    addresses and operators once migrated (the public's still does not)."""
    from alembic import command
    from alembic.config import Config

    from geo_service.registry.store import MIGRATIONS_DIR, ResourceFilter, migrate
    from tests.utils.stores import backend_store

    store = backend_store(backend, tmp_path)
    store.add(ResourceFields(name="サロン", category="salon", address="飯塚市立岩５",
                             operator="ＮＰＯ法人ひまわり"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008_access")
    migrate(store.engine)

    def found(text: str, staff: bool) -> int:
        return len(store.all(ResourceFilter(keyword=text, include_staff=staff)))

    assert (found("立岩5", True), found("npo法人", True), found("立岩5", False)) == (1, 1, 0)
    assert found("ひまわり", True) == 1 and found("ひまわり", False) == 0
