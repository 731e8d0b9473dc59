"""A real web page of another origin, in headless Chromium, tries to drive the server.

The attack page is served by a second loopback server on another port (another origin). Its
script tries what any site the user visits could: a `fetch` POST with `text/plain` (a
"simple" request, sent without a preflight), `navigator.sendBeacon`, an auto-submitted
`<form>` POST and a `DELETE`. The page reports when all four have settled (the beacon's
resource-timing entry, the form's frame loaded); then the server's state, read through the API,
must not have changed, its access log shows each write refused, and the console shows the
refusals. The same page from an origin listed in `IMAGE_SERVER_CORS_ORIGINS` succeeds: its
access log shows the load, the beacon's unload and the form's timeout answered 200.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import console_errors
from tests.support.browser import require_browser
from tests.support.browser import start_chromium
from tests.support.browser import wait_for
from tests.support.images import make_frames
from tests.support.waiting import wait_until

ATTACK_PAGE = """<!doctype html>
<html><head><title>attack</title></head><body>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" target="sink" enctype="text/plain" action="{target}/timeout/7">
<input name='{{"x":"' value='"}}'></form>
<script>
const target = {target_json};
const body = JSON.stringify({{path: {folder_json}}});
// A beacon gives no answer to the page; its resource-timing entry appears once it is done.
const beaconSettled = new Promise(resolve => new PerformanceObserver(list => {{
  if (list.getEntries().some(entry => entry.initiatorType === "beacon")) resolve();
}}).observe({{type: "resource", buffered: true}}));
async function attack() {{
  const results = {{}};
  try {{
    const r = await fetch(target + "/load-directory", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body}});
    results.fetch = r.type;
  }} catch (e) {{ results.fetch = "error: " + e; }}
  results.beacon = navigator.sendBeacon(target + "/unload",
    new Blob([body], {{type: "text/plain"}}));
  try {{
    const r = await fetch(target + "/api/directories/" + {victim_json}, {{method: "DELETE"}});
    results.delete = r.status;
  }} catch (e) {{ results.delete = "blocked"; }}
  const frame = document.querySelector("iframe");
  const formSettled = new Promise(
    resolve => frame.addEventListener("load", resolve, {{once: true}}));
  document.getElementById("form").submit();
  await Promise.all([beaconSettled, formSettled]);
  document.title = "done:" + JSON.stringify(results);
}}
attack();
</script></body></html>
"""


class _Page(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def attack_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second loopback HTTP server (another origin) serving the attack page's folder."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Page, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def write_attack(root: Path, target: str, folder: Path, victim: str) -> None:
    page = ATTACK_PAGE.format(
        target=target,
        target_json=json.dumps(target),
        folder_json=json.dumps(str(folder)),
        victim_json=json.dumps(victim),
    )
    (root / "attack.html").write_text(page)


def logged_writes(log: Path, count: int) -> list[tuple[str, str, int]]:
    """Wait for `count` writes in the access log; return their (method, route, status), sorted.

    A line is written just after its answer is sent, so the page may learn of it first.
    """

    def writes() -> list[tuple[str, str, int]]:
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        found = [
            (entry["method"], entry["route"], entry["status"])
            for entry in entries
            if entry["method"] not in ("GET", "HEAD", "OPTIONS")
        ]
        return sorted(found) if len(found) >= count else []

    return wait_until(writes, message=f"{count} writes in the access log")


def logging_server(server_factory: Any, log: Path, **env: str) -> Any:
    """A server that writes every request to `log` as a JSON line."""
    log_env = {"IMAGE_SERVER_ACCESS_LOG": "json", "IMAGE_SERVER_ACCESS_LOG_FILE": str(log)}
    return server_factory(env={**log_env, **env})


def server_state(base_url: str) -> dict[str, Any]:
    listing = requests.get(f"{base_url}/api/directories", timeout=10).json()
    timeout = requests.get(f"{base_url}/timeout", timeout=10).json()
    return {"ids": sorted(d["id"] for d in listing["directories"]), "timeout": timeout}


def run_attack(driver: Any, url: str) -> dict[str, Any]:
    console_errors(driver)  # drain what earlier pages left
    driver.get(url)
    title = wait_for(
        lambda: driver.title if driver.title.startswith("done:") else None, "the attack to finish"
    )
    return json.loads(title.removeprefix("done:"))


def test_a_foreign_page_changes_nothing(
    browser: Any, server_factory, attack_site: tuple[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    server = logging_server(server_factory, log)
    victim_folder, target_folder = tmp_path / "loaded", tmp_path / "private"
    make_frames(victim_folder, 2)
    make_frames(target_folder, 2)
    victim = requests.post(
        f"{server.base_url}/load-directory", json={"path": str(victim_folder)}, timeout=30
    ).json()["id"]
    before = server_state(server.base_url)
    site, root = attack_site
    write_attack(root, server.base_url, target_folder, victim)

    results = run_attack(browser, f"{site}/attack.html")

    assert server_state(server.base_url) == before  # nothing loaded, unloaded or re-timed
    assert results["delete"] == "blocked"  # its preflight got no CORS permission: never sent
    # The victim's own load, then the page's three writes, each refused.
    assert logged_writes(log, 4) == [
        ("POST", "/load-directory", 200),
        ("POST", "/load-directory", 403),
        ("POST", "/timeout/{minutes}", 403),
        ("POST", "/unload", 403),
    ]
    messages = " ".join(entry["message"] for entry in console_errors(browser))
    assert "403" in messages or "CORS" in messages, messages


def test_the_same_page_from_an_allowed_origin_succeeds(
    browser: Any, server_factory, attack_site: tuple[str, Path], tmp_path: Path
) -> None:
    site, root = attack_site
    log = tmp_path / "access.log"
    server = logging_server(server_factory, log, IMAGE_SERVER_CORS_ORIGINS=site)
    target_folder = tmp_path / "shared"
    make_frames(target_folder, 2)
    write_attack(root, server.base_url, target_folder, "nothing-loaded")

    results = run_attack(browser, f"{site}/attack.html")

    # Every write went through: the load, then the beacon's unload of it (the fetch is
    # awaited before the beacon is sent), the DELETE of an unknown id, the form's timeout.
    assert results["beacon"] is True and results["delete"] == 404
    assert logged_writes(log, 4) == [
        ("DELETE", "/api/directories/{id}", 404),
        ("POST", "/load-directory", 200),
        ("POST", "/timeout/{minutes}", 200),
        ("POST", "/unload", 200),
    ]
    state = server_state(server.base_url)
    assert state["ids"] == []  # loaded by the page, then unloaded by its beacon
    assert state["timeout"]["timeout_minutes"] == 7
