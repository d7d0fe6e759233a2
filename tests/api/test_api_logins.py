"""Logins resist guessing: equal timing, throttling, hashing off the request threads,
tokens that die with the password, and no weak passwords (issue 8, item 9)."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.auth import LoginThrottle, TooManyLoginsError, check_password, hash_password
from geo_service.config import ServiceSettings
from geo_service.store.testing import fresh_store


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch):
    monkeypatch.setattr("geo_service.auth.BCRYPT_ROUNDS", 4)


def make_app(tmp_path, **settings):
    store = fresh_store("sqlite", tmp_path)
    store.add_user("admin", hash_password("admin-pass-1"), role="admin")
    store.add_user("sato", hash_password("sato-pass-1"), role="coordinator", areas=["A"])
    store.add_user("kato", hash_password("kato-pass-1"), role="coordinator", areas=["B"])
    return create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                      secret_key="k" * 40, **settings), store=store)


def post_login(client, user, password):
    return client.post("/auth/token", data={"username": user, "password": password})


def bearer(client, user, password):
    r = post_login(client, user, password)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_unknown_and_known_users_take_the_same_time(tmp_path, monkeypatch):
    # at cost 9 a bcrypt check takes ~30 ms; before, an unknown user answered at cost 4 and
    # a deactivated one without a check (ratios ~0.15)
    monkeypatch.setattr("geo_service.auth.BCRYPT_ROUNDS", 9)
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
    assert "too many failed logins" in r.json()["detail"]
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
    monkeypatch.setattr("geo_service.auth.BCRYPT_ROUNDS", 10)  # ~60 ms a check
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
    admin = bearer(client, "admin", "admin-pass-1")
    old = bearer(client, "sato", "sato-pass-1")
    assert client.get("/auth/me", headers=old).status_code == 200
    r = client.patch("/users/sato", json={"password": "a-new-sato-pass-2"}, headers=admin)
    assert r.status_code == 200, r.text
    r = client.get("/auth/me", headers=old)
    assert r.status_code == 401 and "password" in r.json()["detail"]
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


def test_the_users_api_refuses_weak_passwords_without_echoing_them(tmp_path):
    client = TestClient(make_app(tmp_path))
    admin = bearer(client, "admin", "admin-pass-1")
    body = {"username": "ito", "password": "password123", "role": "coordinator"}
    r = client.post("/users", json=body, headers=admin)
    assert r.status_code == 422 and "too common" in r.text and "password123" not in r.text
    assert r.json()["detail"]["field"] == "password"
    r = client.post("/users", json=body | {"password": "short"}, headers=admin)
    assert r.status_code == 422 and "at least 10" in r.text and "short" not in r.text
    r = client.patch("/users/sato", json={"password": "1234567890"}, headers=admin)
    assert r.status_code == 422 and "too common" in r.text
    bearer(client, "sato", "sato-pass-1")  # unchanged


def test_the_throttle_forgets_attempts_that_leave_the_window():
    now = [1000.0]
    throttle = LoginThrottle(per_account=2, per_address=10, window_s=60, clock=lambda: now[0])
    throttle.begin("sato", "a")
    now[0] += 20
    throttle.begin("sato", "a")
    with pytest.raises(TooManyLoginsError) as refused:
        throttle.begin("sato", "b")
    assert refused.value.retry_after == 40  # when the first attempt leaves the window
    now[0] += 40
    throttle.begin("sato", "b")  # one attempt left in the window: allowed again
