"""Logins resist guessing: equal timing, throttling, hashing off the request threads,
tokens that die with the password, and no weak passwords (issue 8, item 9)."""

from __future__ import annotations

import asyncio
import ipaddress
import statistics
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from geo_service._errors import InputError
from geo_service.api import create_app
from geo_service.api.deps import forwarded_client
from geo_service.cli.registry import UVICORN_PROXY_OPTIONS
from geo_service.config import ServiceSettings
from geo_service.registry.auth import (
    LoginThrottle,
    TooManyLoginsError,
    check_password,
)
from geo_service.registry.store import open_store
from geo_service.registry.store.testing import BACKENDS, fresh_store
from tests.utils.clients import ADMIN, SECRET_KEY, add_user, bearer
from tests.utils.stores import backend_store

pytestmark = pytest.mark.usefixtures("fast_hashes")


def make_app(tmp_path, **settings):
    store = fresh_store("sqlite", tmp_path)
    add_user(store, *ADMIN, role="admin")
    add_user(store, "sato", "sato-pass-1", areas=["A"])
    add_user(store, "kato", "kato-pass-1", areas=["B"])
    return create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                      secret_key=SECRET_KEY, **settings), store=store)


def post_login(client, user, password):
    return client.post("/auth/token", data={"username": user, "password": password})


def test_unknown_and_known_users_take_the_same_time(tmp_path, monkeypatch):
    # at cost 9 a bcrypt check takes ~30 ms; before, an unknown user answered at cost 4 and
    # a deactivated one without a check (ratios ~0.15)
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 9)
    client = TestClient(make_app(tmp_path, login_max_failures=100,
                                 login_address_max_failures=100))
    client.app.state.geo.store.update_user("kato", active=False)
    users = ("sato", "nobody", "kato")  # known, unknown, deactivated
    times: dict[str, list[float]] = {user: [] for user in users}
    for round_ in range(10):  # interleaved, so that the machine's load hits all alike
        for user in users:
            start = time.perf_counter()
            assert post_login(client, user, "wrong-password-1").status_code == 401
            if round_:  # the first round warms up (the dummy hash is made on first use)
                times[user].append(time.perf_counter() - start)
    known, unknown, inactive = (statistics.median(times[user]) for user in users)
    assert 0.5 < unknown / known < 2, (known, unknown)
    assert 0.5 < inactive / known < 2, (known, inactive)


def test_failed_logins_are_throttled_per_account(tmp_path):
    client = TestClient(make_app(tmp_path, login_max_failures=5))
    for _ in range(5):
        assert post_login(client, "sato", "wrong-password-1").status_code == 401
    r = post_login(client, "sato", "sato-pass-1")  # even the right password waits
    assert r.status_code == 429, r.text
    assert 0 < int(r.headers["Retry-After"]) <= 900
    assert "ログインの失敗が続いたため" in r.json()["detail"]
    # unknown accounts are throttled alike (a 429 tells nothing about existence)
    for _ in range(5):
        assert post_login(client, "nobody", "wrong-password-1").status_code == 401
    assert post_login(client, "nobody", "wrong-password-1").status_code == 429
    # another account is unaffected
    bearer(client, "kato", "kato-pass-1")


def test_a_successful_login_resets_the_account_count(tmp_path):
    client = TestClient(make_app(tmp_path, login_max_failures=3))
    for _ in range(2):
        assert post_login(client, "sato", "wrong-password-1").status_code == 401
    bearer(client, "sato", "sato-pass-1")
    for _ in range(3):
        assert post_login(client, "sato", "wrong-password-1").status_code == 401
    assert post_login(client, "sato", "wrong-password-1").status_code == 429


def test_failed_logins_are_throttled_per_address(tmp_path):
    app = make_app(tmp_path, login_max_failures=100, login_address_max_failures=6)
    client = TestClient(app)
    for i in range(6):  # spraying one guess over many accounts
        assert post_login(client, f"user{i}", "wrong-password-1").status_code == 401
    r = post_login(client, "sato", "sato-pass-1")
    assert r.status_code == 429 and "Retry-After" in r.headers
    other = TestClient(app, client=("192.0.2.7", 50000))  # another address logs in
    bearer(other, "sato", "sato-pass-1")


def test_password_hashing_does_not_hold_the_request_threads(tmp_path, monkeypatch):
    """Six concurrent logins (bcrypt) do not make a read wait for the thread pool."""
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 10)  # ~60 ms a check
    app = make_app(tmp_path, threads=2, login_max_failures=100,
                   login_address_max_failures=100)

    async def scenario():
        async with app.router.lifespan_context(app):  # sizes the thread pool (2)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                async def login(i):
                    await c.post("/auth/token", data={"username": f"u{i}",
                                                      "password": "wrong-password-1"})

                async def read():
                    await asyncio.sleep(0.01)  # the logins are queued first
                    start = time.perf_counter()
                    r = await c.get("/resources/unverified")  # a sync route: thread pool
                    assert r.status_code == 401
                    return time.perf_counter() - start

                start = time.perf_counter()
                results = await asyncio.gather(*(login(i) for i in range(6)), read())
                return results[-1], time.perf_counter() - start

    read_s, all_s = asyncio.run(scenario())
    # before: the read waited for the logins ahead of it (>= 2/3 of the whole batch)
    assert read_s < all_s / 3, (read_s, all_s)


def test_tokens_issued_before_a_password_change_stop_working(tmp_path):
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, *ADMIN)
    old = bearer(client, "sato", "sato-pass-1")
    assert client.get("/auth/me", headers=old).status_code == 200
    r = client.patch("/users/sato", json={"password": "a-new-sato-pass-2"}, headers=admin)
    assert r.status_code == 200, r.text
    r = client.get("/auth/me", headers=old)
    assert r.status_code == 401 and "パスワードが変更された" in r.json()["detail"]
    assert post_login(client, "sato", "sato-pass-1").status_code == 401
    new = bearer(client, "sato", "a-new-sato-pass-2")
    assert client.get("/auth/me", headers=new).json()["username"] == "sato"
    # other changes (areas) keep the token
    client.patch("/users/sato", json={"areas": ["A", "C"]}, headers=admin)
    assert client.get("/auth/me", headers=new).status_code == 200


@pytest.mark.parametrize("password,message", [
    ("sato-pass", "at least 10 characters"),
    ("password123", "too common"),
    ("Qwertyuiop", "too common"),
    ("iloveyou2024", "too common"),
    ("aaaaaaaaaaaa", "too few different characters"),
    ("長い" * 20, "72 bytes"),
])
def test_weak_passwords_are_refused_with_the_reason(password, message):
    with pytest.raises(ValueError, match=message):
        check_password(password)


def test_the_password_policy_reads_in_japanese_and_english():
    with pytest.raises(InputError) as e:
        check_password("sato-pass")
    assert e.value.text("ja") == "列「password」：パスワードは 10 文字以上にしてください"
    assert e.value.text("en") == "column 'password': password must have at least 10 characters"


def test_the_users_api_refuses_weak_passwords_without_echoing_them(tmp_path):
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, *ADMIN)
    body = {"username": "ito", "password": "password123", "role": "coordinator"}
    r = client.post("/users", json=body, headers=admin)
    assert r.status_code == 422 and "よく使われる" in r.text and "password123" not in r.text
    assert r.json()["detail"]["field"] == "password"
    r = client.post("/users", json=body | {"password": "short"}, headers=admin)
    assert r.status_code == 422 and "10 文字以上" in r.text and "short" not in r.text
    r = client.patch("/users/sato", json={"password": "1234567890"}, headers=admin)
    assert r.status_code == 422 and "よく使われる" in r.text
    bearer(client, "sato", "sato-pass-1")  # unchanged


def test_delays_grow_and_failures_are_forgotten(tmp_path):
    """After the free failures each attempt waits twice as long as the one before (up to
    the maximum); a quiet window forgets them (clock given, real store)."""
    now = [1000.0]
    throttle = LoginThrottle(fresh_store("sqlite", tmp_path), secret="k", per_account=2,
                             per_address=100, window_s=3600, first_delay_s=10,
                             max_delay_s=40, clock=lambda: now[0])
    throttle.begin("sato", "a")
    throttle.begin("sato", "a")
    for expected in (10, 20, 40, 40):  # then doubling, capped
        with pytest.raises(TooManyLoginsError) as refused:
            throttle.begin("sato", "a")
        assert refused.value.retry_after == expected
        now[0] += expected
        throttle.begin("sato", "a")
    now[0] += 3601  # an hour without failures: forgotten
    throttle.begin("sato", "a")
    throttle.begin("sato", "a")
    with pytest.raises(TooManyLoginsError):
        throttle.begin("SATO", "a")  # one account, whatever the case
    throttle.begin("sato", "b")  # the same account from elsewhere


def test_nobody_can_lock_an_account_out_from_elsewhere(tmp_path):
    """Issue 16, item 11: before, 5 wrong passwords from anywhere made the right one 429."""
    app = make_app(tmp_path)
    attacker = TestClient(app, client=("198.51.100.9", 40000))
    for _ in range(12):
        assert post_login(attacker, "sato", "wrong-password-1").status_code in (401, 429)
    assert post_login(attacker, "sato", "sato-pass-1").status_code == 429
    bearer(TestClient(app, client=("192.0.2.7", 50000)), "sato", "sato-pass-1")


def test_colleagues_at_a_sprayed_address_still_log_in(tmp_path):
    """A spray over many names throttles its address, except for accounts that have
    logged in from there before."""
    app = make_app(tmp_path, login_max_failures=100, login_address_max_failures=6)
    office = TestClient(app, client=("192.0.2.20", 50000))
    bearer(office, "sato", "sato-pass-1")
    for i in range(6):
        assert post_login(office, f"user{i}", "wrong-password-1").status_code == 401
    assert post_login(office, "user9", "wrong-password-1").status_code == 429
    assert post_login(office, "kato", "kato-pass-1").status_code == 429  # never logged in here
    bearer(office, "sato", "sato-pass-1")


def test_worker_processes_share_one_count(tmp_path):
    """Two apps on one registry (two worker processes) do not double the budget."""
    first = make_app(tmp_path, login_max_failures=4)
    store = open_store(str(first.state.geo.store.engine.url))
    second = create_app(first.state.geo.settings, store=store)
    clients = [TestClient(first), TestClient(second)]
    for i in range(4):
        assert post_login(clients[i % 2], "sato", "wrong-password-1").status_code == 401
    assert [post_login(c, "sato", "wrong-password-1").status_code for c in clients] == [429] * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_simultaneous_attempts_get_no_more_than_the_budget(tmp_path, backend):
    """Eight threads over two stores (two processes' connections) try at one moment:
    exactly the free attempts get through."""
    first = backend_store(backend, tmp_path)
    stores = [first, open_store(str(first.engine.url.render_as_string(hide_password=False)))]
    throttles = [LoginThrottle(s, secret="k", per_account=5, per_address=100, window_s=3600,
                               first_delay_s=10, max_delay_s=900, clock=lambda: 1000.0)
                 for s in stores]
    start = threading.Barrier(8)
    admitted: list[int] = []

    def attempt(i: int) -> None:
        start.wait()
        for _ in range(3):
            try:
                throttles[i % 2].begin("sato", "198.51.100.9")
            except TooManyLoginsError:
                continue
            admitted.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5


@pytest.mark.parametrize("peer,forwarded,client", [
    ("127.0.0.1", ["203.0.113.5"], "127.0.0.1"),  # loopback is not trusted unless named
    ("10.0.0.5", ["203.0.113.5"], "203.0.113.5"),  # the trusted proxy's entry
    ("10.0.0.5", ["1.2.3.4, 203.0.113.5"], "203.0.113.5"),  # not what the client wrote
    ("10.0.0.5", ["1.2.3.4", "203.0.113.5, 10.0.0.6"], "203.0.113.5"),  # two proxies
    ("10.0.0.5", [], "10.0.0.5"),
    ("10.0.0.5", ["not-an-address"], "10.0.0.5"),
    ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),
])
def test_forwarded_addresses_are_believed_only_from_named_proxies(peer, forwarded, client):
    trusted = [ipaddress.ip_network("10.0.0.0/29")]
    assert forwarded_client(peer, forwarded, trusted) == client


def _spray(client, names=30, forwarded=True):
    """Statuses of one wrong password tried on many names, each with another
    ``X-Forwarded-For`` address."""
    return [client.post("/auth/token", data={"username": f"u{i}", "password": "wrong-pass-1"},
                        headers={"X-Forwarded-For": f"203.0.113.{i}"} if forwarded else {}
                        ).status_code for i in range(names)]


def test_a_spray_through_x_forwarded_for_is_throttled(tmp_path):
    """Issue 16, item 12: served as ``geo-service serve`` serves (uvicorn, its proxy
    options), a spray from loopback with a new X-Forwarded-For each time is throttled."""
    app = make_app(tmp_path, login_address_max_failures=20)
    config = uvicorn.Config(app, **UVICORN_PROXY_OPTIONS)
    config.load()  # wraps the app as uvicorn serves it

    async def spray():
        transport = httpx.ASGITransport(app=config.loaded_app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return [(await c.post("/auth/token", data={"username": f"u{i}",
                                                       "password": "wrong-pass-1"},
                                  headers={"X-Forwarded-For": f"203.0.113.{i}"})).status_code
                    for i in range(30)]

    assert asyncio.run(spray()) == [401] * 20 + [429] * 10


def test_a_named_proxy_forwards_each_clients_address(tmp_path):
    app = make_app(tmp_path, login_address_max_failures=3, trusted_proxies=["10.0.0.5"])
    proxy = TestClient(app, client=("10.0.0.5", 5000))
    assert _spray(proxy, names=8) == [401] * 8  # eight clients, one attempt each
    assert _spray(TestClient(app, client=("10.0.0.6", 5000)), names=8) == [401] * 3 + [429] * 5


@pytest.mark.parametrize("name,status,reason", [
    ("bad\u0001name", 422, "制御文字"),
    ("coordA ", 422, "前後に空白"),
    (" coordA", 422, "前後に空白"),
    ("zero\u200bwidth", 422, "制御文字"),
    ("ß" * 60, 422, "1〜100文字"),  # its key (case-folded: ss…) would not fit
    ("COORDA", 409, "すでにあります"),
    ("ｃｏｏｒｄａ", 409, "すでにあります"),  # full width: NFKC
])
def test_user_names_are_normalised_and_unique_whatever_the_case(tmp_path, name, status,
                                                                 reason):
    """Issue 16, item 13: these were all accepted beside ``coordA``."""
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, *ADMIN)
    body = {"username": "coordA", "password": "coord-pass-1", "role": "coordinator"}
    assert client.post("/users", json=body, headers=admin).status_code == 201
    r = client.post("/users", json=body | {"username": name}, headers=admin)
    assert r.status_code == status and reason in r.text, r.text
    assert r.json()["detail"]["field"] == "username"
    assert [u["username"] for u in client.get("/users", headers=admin).json()] == [
        "admin", "coordA", "kato", "sato"]


def test_a_user_logs_in_and_is_managed_by_any_spelling_of_their_name(tmp_path):
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, *ADMIN)
    for spelling in ("SATO", "ｓａｔｏ", " sato "):
        token = bearer(client, spelling, "sato-pass-1")
        assert client.get("/auth/me", headers=token).json()["username"] == "sato"
    r = client.patch("/users/Sato", json={"areas": ["B"]}, headers=admin)
    assert r.status_code == 200 and r.json()["username"] == "sato"


def test_reactivating_a_user_does_not_revive_their_old_tokens(tmp_path):
    """Issue 16, item 13: a token issued before a deactivation worked again after the
    user was reactivated."""
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, *ADMIN)
    old = bearer(client, "sato", "sato-pass-1")
    for active in (False, True):
        r = client.patch("/users/sato", json={"active": active}, headers=admin)
        assert r.status_code == 200, r.text
    r = client.get("/auth/me", headers=old)
    assert r.status_code == 401 and "無効化されました" in r.json()["detail"]
    new = bearer(client, "sato", "sato-pass-1")
    assert client.get("/auth/me", headers=new).status_code == 200
    client.patch("/users/sato", json={"active": True}, headers=admin)  # already active
    assert client.get("/auth/me", headers=new).status_code == 200
