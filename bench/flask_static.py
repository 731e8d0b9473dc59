"""The reference "obvious implementation": Flask's `send_from_directory` under gunicorn.

Started by the benchmark as `gunicorn 'bench.flask_static:create_app()'` with the folder in
`BENCH_STATIC_DIR`; nothing else (no index, no cache), as a first version would be written.
"""

from __future__ import annotations

import os

from flask import Flask
from flask import Response
from flask import send_from_directory

DIRECTORY_ENV = "BENCH_STATIC_DIR"


def create_app(directory: str | None = None) -> Flask:
    """Build an app serving every file of `directory` (default: `$BENCH_STATIC_DIR`) at `/`.

    :raise KeyError: no directory given and `BENCH_STATIC_DIR` is not set.
    """
    root = directory or os.environ[DIRECTORY_ENV]
    app = Flask(__name__)

    @app.get("/<path:name>")
    def serve(name: str) -> Response:
        return send_from_directory(root, name)

    return app
