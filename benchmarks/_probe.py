"""Load and probe an HTTP server on loopback from asyncio on raw sockets (no geo_service
import: a light process of its own, so that the prober's own pauses — its garbage
collector, a fork of a large process — are never counted as the server's).

As a program it probes at a constant rate until its standard input closes, then prints
what it saw as JSON::

    python benchmarks/_probe.py '{"port": 8797, "rate": 30, "bounds": [w, s, e, n]}'
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable

SLOW_MS = 200  # probes slower than this are listed with their time (s from the start)


def stats(ms: list[float]) -> dict:
    """p50/p95/p99/max (ms) and the number of requests."""
    a = sorted(ms)

    def pct(p: float) -> float:  # linear interpolation, as numpy.percentile
        k = (len(a) - 1) * p / 100
        lo = int(k)
        return a[lo] + (a[min(lo + 1, len(a) - 1)] - a[lo]) * (k - lo)

    return {"requests": len(a), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "max_ms": a[-1]}


def requests(bounds: list[float], seed: int = 1) -> dict[str, Callable[[], str]]:
    """The probed paths: ``/nearby`` and ``/reach`` at random places in ``bounds``, and
    ``/health``."""
    rng = random.Random(seed)
    w, s, e, n = bounds

    def point() -> str:
        return f"lat={rng.uniform(s, n):.6f}&lon={rng.uniform(w, e):.6f}"

    return {"nearby": lambda: f"/nearby?{point()}&minutes=15",
            "reach": lambda: f"/reach?{point()}", "health": lambda: "/health"}


class Connection:
    """A keep-alive HTTP/1.1 connection on loopback, opened again when the server closed
    it (a closed connection counts as an error answer)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> bytes:
        """GET ``path``: the status line (``b""`` when the connection was closed)."""
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            return head.split(b"\r\n", 1)[0]
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            self.streams = None
            return b""

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def closed_loop(port: int, make: Callable[[], str], seconds: float,
                      clients: int) -> dict:
    """``clients`` connections, each sending its next request when the answer arrives."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        conn = Connection(port)
        while time.perf_counter() < end:
            t = time.perf_counter()
            status = await conn.get(make())
            latencies.append((time.perf_counter() - t) * 1000)
            errors += not status.endswith(b"200 OK")
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return stats(latencies) | {"errors": errors, "rps": len(latencies) / seconds}


async def open_loop(port: int, makes: dict[str, Callable[[], str]], rate: float,
                    until: Callable[[], bool], clients: int = 8) -> dict:
    """Requests of each kind in turn every ``1/rate`` s until ``until()`` holds; latency
    from the scheduled time (a held-back request counts its wait); the slow ones listed
    with their time from the start."""
    start = time.perf_counter() + 0.05
    due = (start + k / rate for k in itertools.count())
    kinds = itertools.cycle(makes)
    out: dict[str, list[float]] = {k: [] for k in makes}
    errors: Counter[str] = Counter()
    slow: list[tuple[float, str, int]] = []

    async def connection() -> None:
        conn = Connection(port)
        while not until():
            at, kind = next(due), next(kinds)
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            status = await conn.get(makes[kind]())
            out[kind].append((time.perf_counter() - at) * 1000)
            if out[kind][-1] > SLOW_MS:
                slow.append((round(at - start, 2), kind, round(out[kind][-1])))
            errors[kind] += not status.endswith(b"200 OK")
        conn.close()

    await asyncio.gather(*(connection() for _ in range(clients)))
    return {k: stats(v) | {"errors": errors[k]} for k, v in out.items() if v} | {
        "slow": sorted(slow)}


async def _probe_until_stdin_closes(args: dict) -> dict:
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def wait_eof() -> None:
        await reader.read()
        closed.set()

    waiter = asyncio.create_task(wait_eof())
    out = await open_loop(args["port"], requests(args["bounds"]), args["rate"], closed.is_set)
    await waiter
    return out


if __name__ == "__main__":
    gc.disable()  # a collection in the prober would look like a stall of the server
    print(json.dumps(asyncio.run(_probe_until_stdin_closes(json.loads(sys.argv[1])))))
