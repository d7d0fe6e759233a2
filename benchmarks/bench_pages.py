"""How fast the web pages load: transferred bytes and time to the first useful paint.

The service runs as deployed (uvicorn on loopback) on the demo region and registry. Each
page is opened in a fresh browser context (empty cache) in Debian's chromium at phone size
(360 × 800), twice per condition:

- **loopback**: no throttling — what the server and the page's own work cost;
- **phone**: Chrome DevTools' "Fast 3G"-like line (1.6 Mbit/s down, 750 kbit/s up, 150 ms
  round trip) and a 4× slower CPU, which is how a resident's older phone on a mobile line
  sees it.

Per page: bytes transferred (compressed, as on the wire, all requests), number of
requests, first contentful paint (the browser's ``first-contentful-paint``) and the first
useful paint — the page's ``gs-ready`` mark, set by :js:`ready()` (``static/js/common.js``)
once its main content is on screen (the residents' list sorted by walking time, the
choropleth, the login form, the handout's list and QR code). Requests that are not to
loopback (background tiles) are aborted, as on a closed network.

Usage::

    python benchmarks/bench_pages.py [--repeats 3]

Results: printed and written to ``benchmarks/results/bench_pages-<time>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from _common import import_geo_service, machine, save_result, serve_api, table

import_geo_service()

CHROMIUM = "/usr/bin/chromium"
PHONE = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
         "uploadThroughput": 750_000 / 8}


def _pages(base: str) -> dict[str, str]:
    """The pages to load, with a real place and area of the demo for the handout."""
    import httpx

    place = httpx.get(f"{base}/resources", params={"category": "salon", "limit": 1}).json()
    place_id = place["features"][0]["id"]
    return {"resident": "/?lat=33.80&lon=130.78", "handout": f"/handout?place={place_id}",
            "staff (login)": "/staff", "council": "/council"}


def _load(browser, url: str, *, phone: bool) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 360, "height": 800})
    context.route("**/*", lambda route: route.continue_()
                  if urlsplit(route.request.url).hostname == "127.0.0.1" else route.abort())
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if phone:
        cdp.send("Network.emulateNetworkConditions", PHONE)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    sizes: dict[str, float] = {}
    cdp.on("Network.loadingFinished",
           lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=120_000)
    timing = page.evaluate("""() => ({
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
        ready: performance.getEntriesByName('gs-ready')[0].startTime})""")
    page.wait_for_load_state("networkidle")
    context.close()
    return {"bytes": sum(sizes.values()), "requests": len(sizes), "fcp_ms": timing["fcp"],
            "ready_ms": timing["ready"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from geo_service.cli.registry import prepare_demo
    from geo_service.config import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GEO_SERVICE_DATA_DIR": tmp}
        os.environ["GEO_SERVICE_DATA_DIR"] = tmp
        region_dir = prepare_demo(ServiceSettings(data_dir=Path(tmp)))
        env["GEO_SERVICE_REGION_DIR"] = str(region_dir)
        rows, results = [], {}
        with serve_api(env, port=8765) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for name, path in _pages(base).items():
                for phone in (False, True):
                    runs = [_load(browser, base + path, phone=phone)
                            for _ in range(args.repeats)]
                    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    condition = "phone" if phone else "loopback"
                    results[f"{name} / {condition}"] = {"runs": runs, "median": med}
                    rows.append([name, condition, f"{med['bytes'] / 1024:.0f}",
                                 f"{med['requests']:.0f}", f"{med['fcp_ms']:.0f}",
                                 f"{med['ready_ms']:.0f}"])
            browser.close()
    print(table(rows, ["page", "condition", "KiB on the wire", "requests", "FCP ms",
                       "useful paint ms"]))
    print(save_result("bench_pages", {"machine": machine(), "repeats": args.repeats,
                                      "phone": PHONE, "cpu_slowdown": 4, "pages": results}))


if __name__ == "__main__":
    main()
