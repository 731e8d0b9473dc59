"""Observability (issue 14, docs/API.md#get-metrics): /metrics, /readyz and the JSON access log.

Every test runs the real server (`python server.py`, granian, 2 workers) and talks to it over
fresh connections, so requests land on both workers; the scraped counts must add up exactly.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from imageserver.observability.metrics import DURATION_BUCKETS
from imageserver.observability.observer import client_address
from imageserver.web.routes.labels import route_template
from tests.conftest import Api
from tests.conftest import assert_detail
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
FLUSH_DEADLINE_SECONDS = 5


def fresh_get(server: ServerProcess, path: str, **kwargs) -> requests.Response:
    """One request on a connection of its own, so any worker may take it."""
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.get(server.url(path), headers=headers, timeout=10, **kwargs)


def scrape(server: ServerProcess, token: str | None = None) -> dict[tuple, float]:
    """Return every sample of `/metrics` as {(name, sorted labels): value}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = fresh_get(server, "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, labels, value = SAMPLE.match(line).groups()
            samples[(name, tuple(sorted(LABEL.findall(labels or ""))))] = float(value)
    return samples


def request_counts(samples: dict[tuple, float]) -> Counter:
    counts = Counter()
    for (name, labels), value in samples.items():
        if name == "imageserver_http_requests_total":
            label = dict(labels)
            counts[(label["route"], label["method"], label["status"])] = int(value)
    return counts


def scrape_until(server, expected: Counter, token: str | None = None) -> dict[tuple, float]:
    """Scrape until the request counters include `expected` (workers flush within 0.25 s)."""
    seen: dict[tuple, int] = {}

    def flushed() -> dict[tuple, float] | None:
        samples = scrape(server, token)
        counts = request_counts(samples)
        seen.update({key: counts[key] for key in expected})
        return samples if seen == dict(expected) else None

    return wait_until(
        flushed,
        timeout=FLUSH_DEADLINE_SECONDS,
        message=lambda: f"request counters {dict(expected)}, last scraped {seen}",
    )


@pytest.fixture
def observed(server_factory, tmp_path) -> Callable[..., tuple[ServerProcess, Api]]:
    def start(**env: str) -> tuple[ServerProcess, Api]:
        log = tmp_path / "access.log"
        settings = {
            "IMAGE_SERVER_ACCESS_LOG": "json",
            "IMAGE_SERVER_ACCESS_LOG_FILE": str(log),
            **env,
        }
        server = server_factory(workers=2, env=settings)
        return server, Api(server)

    return start


def test_counters_equal_a_known_sequence_across_both_workers(observed, frames):
    server, api = observed()
    dir_id = api.load(frames)["id"]
    for i in range(20):
        assert fresh_get(server, f"/d/{dir_id}/frame_00000{i % 5}.jpg").status_code == 200
    for _ in range(6):
        assert fresh_get(server, "/images/frame_000001.jpg").status_code == 200
        assert fresh_get(server, f"/d/{dir_id}/missing.jpg").status_code == 404
    for _ in range(4):
        assert fresh_get(server, "/no/such/route").status_code == 404
        head = requests.head(server.url("/images/frame_000002.jpg"), timeout=10)
        assert head.status_code == 200
    expected = Counter(
        {
            ("/load-directory", "POST", "200"): 1,
            ("/d/{id}/{name}", "GET", "200"): 20,
            ("/images/{name}", "GET", "200"): 6,
            ("/d/{id}/{name}", "GET", "404"): 6,
            ("unmatched", "GET", "404"): 4,
            ("/images/{name}", "HEAD", "200"): 4,
        }
    )
    samples = scrape_until(server, expected)
    assert {k: v for k, v in request_counts(samples).items() if k in expected} == expected
    # Both workers counted some of them: each keeps its own file in the run's directory.
    (metrics_dir,) = server.state_dir.glob("metrics-*")
    assert len({path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}) == 2
    sizes = {
        f"frame_00000{i}.jpg": (frames / f"frame_00000{i}.jpg").stat().st_size for i in range(5)
    }
    stable_bytes = 4 * sum(sizes.values())  # 20 GETs over 5 frames
    not_found = len(fresh_get(server, f"/d/{dir_id}/missing.jpg").content)
    bytes_out = samples[("imageserver_http_response_bytes_total", (("route", "/d/{id}/{name}"),))]
    assert bytes_out == stable_bytes + 6 * not_found
    assert samples[("imageserver_directories_loaded", ())] == 1
    assert samples[("imageserver_images_indexed", ())] == 5


def test_histogram_buckets_add_up_to_the_count(observed, frames):
    server, api = observed()
    dir_id = api.load(frames)["id"]
    for i in range(12):
        fresh_get(server, f"/d/{dir_id}/frame_00000{i % 5}.jpg")
    samples = scrape_until(server, Counter({("/d/{id}/{name}", "GET", "200"): 12}))
    route = (("route", "/d/{id}/{name}"),)
    buckets = []
    for bound in [*DURATION_BUCKETS, float("inf")]:
        le = "+Inf" if bound == float("inf") else repr(float(bound))
        key = (
            "imageserver_http_request_duration_seconds_bucket",
            tuple(sorted((*route, ("le", le)))),
        )
        buckets.append(samples[key])
    assert buckets == sorted(buckets), "cumulative buckets never decrease"
    count = samples[("imageserver_http_request_duration_seconds_count", route)]
    assert buckets[-1] == count == 12
    assert 0 < samples[("imageserver_http_request_duration_seconds_sum", route)] < 12 * 2.5


def test_variant_cache_hits_and_misses_are_counted(observed, frames):
    server, api = observed()
    dir_id = api.load(frames)["id"]
    first = fresh_get(server, f"/d/{dir_id}/frame_000000.jpg?preset=thumb")
    assert first.headers["X-Variant-Cache"] == "miss"
    for _ in range(3):
        assert fresh_get(server, f"/d/{dir_id}/frame_000000.jpg?preset=thumb").status_code == 200
    samples = scrape_until(server, Counter({("/d/{id}/{name}", "GET", "200"): 4}))
    assert samples[("imageserver_variant_cache_requests_total", (("result", "miss"),))] == 1
    assert samples[("imageserver_variant_cache_requests_total", (("result", "hit"),))] == 3


def test_a_restart_starts_clean_and_leaves_no_metric_files(observed, server_factory, frames):
    server, api = observed()
    api.load(frames)
    fresh_get(server, "/images/frame_000000.jpg")
    scrape_until(server, Counter({("/images/{name}", "GET", "200"): 1}))
    metric_dirs = list(server.state_dir.glob("metrics-*"))
    assert len(metric_dirs) == 1 and any(metric_dirs[0].iterdir())
    api.session.close()
    server.stop()
    assert not list(server.state_dir.glob("metrics-*")), "the run's metric files are removed"

    again = server_factory(state_dir=server.state_dir, workers=2)
    counts = request_counts(scrape(again))
    assert counts[("/images/{name}", "GET", "200")] == 0
    assert scrape(again)[("imageserver_directories_loaded", ())] == 1  # the state survived


def test_no_raw_path_id_token_or_signature_in_labels_or_log_lines(observed, frames, tmp_path):
    server, api = observed(IMAGE_SERVER_TOKEN="t0ken-secret", IMAGE_SERVER_SIGNING_KEY="k")
    api.session.headers["Authorization"] = "Bearer t0ken-secret"
    dir_id = api.load(frames)["id"]
    listing = api.get(f"/api/directories/{dir_id}/images").json()
    signed = listing["images"][0]["url"].split("/", 3)[3]
    assert "sig=" in signed
    assert fresh_get(server, f"/{signed}").status_code == 200
    assert fresh_get(server, f"/d/{dir_id}/frame_000000.jpg?sig=forged&exp=1").status_code == 403
    assert fresh_get(server, "/metrics").status_code == 401  # the control API's rule
    scrape_until(server, Counter({("/d/{id}/{name}", "GET", "200"): 1}), token="t0ken-secret")
    text = fresh_get(server, "/metrics", headers={"Authorization": "Bearer t0ken-secret"}).text
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) >= 6
    for secret in (dir_id, "frame_000000", "sig", "forged", "t0ken-secret", str(frames)):
        assert secret not in text, secret
    for line in lines:
        entry = json.loads(line)
        assert "t0ken-secret" not in line and "sig=" not in line and "forged" not in line
        assert "?" not in entry["route"] and "frame_" not in entry["route"]


def test_access_log_has_one_json_line_per_request_with_its_fields(observed, frames, tmp_path):
    server, api = observed(IMAGE_SERVER_TRUSTED_PROXIES="1")
    dir_id = api.load(frames)["id"]
    fresh_get(
        server,
        f"/d/{dir_id}/frame_000001.jpg",
        headers={"User-Agent": "pipeline/1.0", "X-Forwarded-For": "203.0.113.9, 198.51.100.7"},
    )
    fresh_get(server, "/images/nothing.jpg", headers={"User-Agent": "pipeline/1.0"})
    log = tmp_path / "access.log"

    def entries() -> list[dict]:
        # The fixture's start-up polls of /healthz are logged too; leave them out.
        lines = log.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["route"] != "/healthz"]

    logged = wait_until(
        lambda: len(found := entries()) >= 3 and found,
        timeout=FLUSH_DEADLINE_SECONDS,
        interval=0.02,
        message="three access log lines",
    )
    load, image, missing = logged[:3]
    assert (load["method"], load["route"], load["status"]) == ("POST", "/load-directory", 200)
    assert image["route"] == "/d/{id}/{name}" and image["dir_id"] == dir_id
    assert image["status"] == 200
    assert image["bytes"] == (frames / "frame_000001.jpg").stat().st_size
    assert image["client"] == "198.51.100.7"  # one trusted hop: the right-most address
    assert image["user_agent"] == "pipeline/1.0"
    assert image["duration_ms"] >= 0 and re.match(r"\d{4}-\d\d-\d\dT", image["time"])
    assert (missing["route"], missing["status"], missing["client"]) == (
        "/images/{name}",
        404,
        "127.0.0.1",
    )


def test_readyz_is_503_while_the_state_directory_is_not_writable(server_factory):
    # A server of its own: one worker with one request thread, so the thread that answers
    # /readyz below keeps the database connection it opened on the first call (a new one
    # could not open the database while its folder is gone, and would say so instead).
    server = server_factory(workers=1, threads=1)
    api = Api(server)
    assert api.get("/readyz").json() == {"status": "ready"}
    with unwritable(server.state_dir):
        response = api.get("/readyz")
        assert response.status_code == 503
        assert "not writable" in response.json()["detail"]
        assert api.get("/healthz").status_code == 200  # liveness is not readiness
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    api.session.close()


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make a directory refuse new files, for root too, then put it back.

    The directory is moved aside (open files and the mapped counter stay valid) and a regular
    file takes its name: creating a file under it fails with ENOTDIR, which no capability or
    permission bit bypasses.
    """
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    try:
        path.write_text("the state directory is moved aside\n")
        yield
    finally:
        path.unlink(missing_ok=True)
        aside.rename(path)


def test_metrics_can_be_switched_off(server_factory):
    server = server_factory(workers=1, env={"IMAGE_SERVER_METRICS": "false"})
    assert_detail(fresh_get(server, "/metrics"), 404, "Metrics are disabled (IMAGE_SERVER_METRICS)")
    assert not list(server.state_dir.glob("metrics-*"))


def test_every_metric_the_dashboard_queries_exists(observed, frames):
    server, api = observed()
    dir_id = api.load(frames)["id"]
    fresh_get(server, f"/d/{dir_id}/frame_000000.jpg?preset=thumb")
    fresh_get(server, f"/d/{dir_id}/frame_000000.jpg")
    scrape_until(server, Counter({("/d/{id}/{name}", "GET", "200"): 2}))
    exposed = {name for name, _ in scrape(server)}
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"imageserver_[a-z_]+", target["expr"]))
    assert queried, "the dashboard queries something"
    assert queried <= exposed, queried - exposed
    scrape_config = (DEPLOY / "prometheus.yml").read_text()
    assert "metrics_path: /metrics" in scrape_config


@pytest.mark.parametrize(
    ("rule", "template"),
    [
        ("/d/<dir_id>/<anypath:name>", "/d/{id}/{name}"),
        ("/api/directories/<dir_id>/images", "/api/directories/{id}/images"),
        ("/timeout/<minutes>", "/timeout/{minutes}"),
        ("/healthz", "/healthz"),
    ],
)
def test_route_templates_name_flask_rules_as_the_contract_does(rule, template):
    assert route_template(rule) == template


@pytest.mark.parametrize(
    ("peer", "forwarded", "hops", "client"),
    [
        ("127.0.0.1", None, 0, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.9", 0, "127.0.0.1"),  # no trust: the header is ignored
        ("127.0.0.1", "203.0.113.9", 1, "203.0.113.9"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),  # the left one is forgeable
        ("127.0.0.1", "6.6.6.6, 203.0.113.9", 2, "6.6.6.6"),
        ("127.0.0.1", "203.0.113.9", 2, "127.0.0.1"),  # fewer hops than trusted
    ],
)
def test_client_address_follows_the_trusted_proxy_count(peer, forwarded, hops, client):
    assert client_address(peer, forwarded, hops) == client


def test_a_fresh_state_dir_makes_the_metrics_dir_beside_the_database(tmp_path):
    # Stale directories of killed runs are removed at start (their pid is gone).
    from imageserver.observability import metrics

    stale = tmp_path / "metrics-999999999"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"x")
    path = metrics.prepare_multiprocess_dir(str(tmp_path))
    try:
        assert not stale.exists()
        assert Path(path).is_dir() and Path(path).name.startswith("metrics-")
    finally:
        metrics.remove_multiprocess_dir(path)
    assert not Path(path).exists()
