"""Fixtures: real servers (`python server.py`, granian) on free ports, real images in temp dirs."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.server import ServerProcess

# Under CI a skipped test is a failed one (tests/support/parts.py).
pytest_plugins = ("tests.support.parts",)


class Api:
    """A thin requests wrapper bound to one server's base URL."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.base_url = server.base_url
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), timeout=10, **kwargs)

    def head(self, path: str, **kwargs) -> requests.Response:
        return self.session.head(self.url(path), timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url(path), timeout=30, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10, **kwargs)

    def options(self, path: str, **kwargs) -> requests.Response:
        return self.session.options(self.url(path), timeout=10, **kwargs)

    def load(self, path: Path | str, **body) -> dict:
        """Load a directory and return the JSON answer (asserting success)."""
        response = self.post("/load-directory", json={"path": str(path), **body})
        assert response.status_code == 200, response.text
        return response.json()

    def reset(self) -> None:
        """Unload everything and disable the default timeout."""
        listing = self.get("/api/directories").json()
        for directory in listing["directories"]:
            self.delete(f"/api/directories/{directory['id']}")
        self.post("/timeout/0")


def assert_detail(response: requests.Response, status: int, detail: object) -> None:
    """Assert the contract's error shape: status, JSON type, and `{"detail": detail}`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": detail}


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `python server.py` (granian, 2 workers) shared by the contract tests."""
    server = ServerProcess(tmp_path_factory.mktemp("shared-state")).start()
    yield server
    server.stop()


@pytest.fixture
def api(shared_server: ServerProcess) -> Iterator[Api]:
    """A client of the shared server, with the server's state reset before each test."""
    client = Api(shared_server)
    client.reset()
    yield client
    client.session.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start dedicated servers (own state dir, env, clock); all are stopped at teardown."""
    started: list[ServerProcess] = []

    def start(state_dir: Path | None = None, **kwargs) -> ServerProcess:
        server = ServerProcess(state_dir or tmp_path / f"state{len(started)}", **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """A folder with 5 JPEG frames, `frame_000000.jpg` .. `frame_000004.jpg`."""
    folder = tmp_path / "frames"
    make_frames(folder, 5)
    return folder


@pytest.fixture
def image_maker() -> Callable[..., Path]:
    return make_image


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    """A real S3 API (moto's server mode) on 127.0.0.1, for one test module."""
    from tests.support.s3 import MotoS3  # moto is heavy: only modules that use it pay for it

    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: Any) -> Any:
    """A boto3 S3 client of the `moto` server."""
    from tests.support.s3 import s3_client

    return s3_client(moto.endpoint)
