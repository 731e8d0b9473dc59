"""What an encoded `%2F` means under the WSGI entry point (SECURITY.md, "The WSGI entry point").

With a raw request target from the server (gunicorn's `RAW_URI`, uWSGI's `REQUEST_URI`) it is
a plain character, so `sub%2Fframe.jpg` names no indexed image: 404, as under granian. Under a
server that passes no raw target (wsgiref) the path arrives decoded, `%2F` has already become
`/`, and the image `sub/frame.jpg` is served: confinement still holds, only indexed names
answer. The docstrings of `engines/wsgi.py` and `engines/wsgi_fastpath.py` say the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.test import run_wsgi_app

from imageserver.engines.wsgi import create_application
from imageserver.settings.config import Config
from tests.support.images import make_frames
from tests.support.wsgi_server import wsgiref_server


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    folder = tmp_path / "rec"
    make_frames(folder / "sub", 1)
    return folder


def test_a_raw_target_keeps_an_encoded_separator_a_404(tmp_path: Path, nested: Path) -> None:
    config = Config.from_env({"IMAGE_SERVER_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    app = create_application(config, start_sweeper=False)
    loaded = _call(app, "POST", "/load-directory", json={"path": str(nested), "recursive": True})
    dir_id = loaded[2]["id"] if isinstance(loaded[2], dict) else None
    assert loaded[0].startswith("200"), loaded
    plain = _call(app, "GET", f"/d/{dir_id}/sub/frame_000000.jpg")
    assert plain[0].startswith("200")
    encoded = f"/d/{dir_id}/sub%2Fframe_000000.jpg"
    answer = _call(app, "GET", encoded, raw_uri=encoded)
    assert answer[0].startswith("404"), answer[0]


def test_without_a_raw_target_wsgiref_serves_it_as_a_separator(
    tmp_path: Path, nested: Path
) -> None:
    with wsgiref_server(tmp_path / "state") as base:
        body = {"path": str(nested), "recursive": True}
        dir_id = requests.post(f"{base}/load-directory", json=body, timeout=10).json()["id"]
        answer = requests.get(f"{base}/d/{dir_id}/sub%2Fframe_000000.jpg", timeout=10)
        assert answer.status_code == 200
        assert answer.content == (nested / "sub" / "frame_000000.jpg").read_bytes()
        outside = requests.get(f"{base}/d/{dir_id}/..%2F..%2Fetc%2Fpasswd", timeout=10)
        assert outside.status_code == 404


def _call(app, method: str, path: str, json: dict | None = None, raw_uri: str | None = None):
    builder = EnvironBuilder(path=path.replace("%2F", "/"), method=method, json=json)
    environ = builder.get_environ()
    environ.pop("RAW_URI", None)
    environ.pop("REQUEST_URI", None)
    if raw_uri is not None:
        environ["RAW_URI"] = raw_uri
    body_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    data = b"".join(body_iter)
    parsed = None
    if headers.get("Content-Type", "").startswith("application/json"):
        import json as json_module

        parsed = json_module.loads(data)
    return status, headers, parsed
