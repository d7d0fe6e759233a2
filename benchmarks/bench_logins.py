"""Logins under guessing: timing of unknown vs known users, and other requests' latency
while clients guess passwords (issue 8, item 9).

Starts the API as deployed (uvicorn, one worker, ``GEO_SERVICE_THREADS=2``, bcrypt cost
12, throttling raised out of reach so that the guessers keep hashing), then:

1. 15 wrong-password logins each for a known and an unknown user name, alternating:
   median and spread of the answer time;
2. sequential ``GET /health`` and ``GET /resources`` (a route run in the thread pool),
   200 each idle, then 60 each while ``--guessers`` clients post wrong passwords as fast
   as they are answered.

Usage::

    python benchmarks/bench_logins.py [--guessers 6]

Runs against whatever ``geo_service`` Python imports (``PYTHONPATH`` selects a checkout),
so the code before and after a change can be compared with the same script.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

PASSWORD = "bench-pass-12345"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"p50 {statistics.median(ms):6.1f} ms, p95 {q[18]:6.1f} ms"


def reads(client: httpx.Client, path: str, n: int = 200) -> list[float]:
    return [timed(lambda: client.get(path).raise_for_status()) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guessers", type=int, default=6)
    args = parser.parse_args()

    from geo_service.registry.auth import hash_password
    from geo_service.registry.store import open_store

    tmp = tempfile.mkdtemp(prefix="bench_logins-")
    store = open_store(f"sqlite:///{tmp}/registry.sqlite3")
    store.add_user("sato", hash_password(PASSWORD), role="admin")  # cost 12, as deployed
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "GEO_SERVICE_DATA_DIR": tmp, "GEO_SERVICE_SECRET_KEY": "b" * 40,
           "GEO_SERVICE_THREADS": "2", "GEO_SERVICE_LOGIN_MAX_FAILURES": "1000000",
           "GEO_SERVICE_LOGIN_ADDRESS_MAX_FAILURES": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "geo_service.api.main:app_from_env",
         "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
        env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(100):
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)

            def login(user: str) -> None:
                r = client.post("/auth/token", data={"username": user,
                                                     "password": "wrong-password-9"})
                assert r.status_code == 401, r.text

            login("sato"), login("nobody")  # warm-up
            known, unknown = [], []
            for _ in range(15):
                known.append(timed(lambda: login("sato")))
                unknown.append(timed(lambda: login("nobody")))
            print(f"login, known user:   {percentiles(known)}")
            print(f"login, unknown user: {percentiles(unknown)}")

            for path in ("/health", "/resources"):
                print(f"{path} idle:{' ' * (12 - len(path))}{percentiles(reads(client, path))}")

            stop = threading.Event()
            guesses = [0]

            def guess() -> None:
                with httpx.Client(base_url=base, timeout=60) as c:
                    while not stop.is_set():
                        c.post("/auth/token", data={"username": "sato",
                                                    "password": "wrong-password-9"})
                        guesses[0] += 1

            threads = [threading.Thread(target=guess) for _ in range(args.guessers)]
            for t in threads:
                t.start()
            time.sleep(1)
            start, before = time.perf_counter(), guesses[0]
            for path in ("/health", "/resources"):
                ms = reads(client, path, 60)
                print(f"{path} with {args.guessers} guessers: {percentiles(ms)}")
            rate = (guesses[0] - before) / (time.perf_counter() - start)
            stop.set()
            for t in threads:
                t.join()
            print(f"guesses answered: {rate:.1f}/s")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
