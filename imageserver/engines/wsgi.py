"""WSGI entry point, for a WSGI server (`gunicorn imageserver.wsgi:application`).

`python server.py` does not use it: it runs the ASGI application (`engines/asgi.py`) under granian.
What this entry point loses is described in `wsgi_fastpath.py` and SECURITY.md: without a raw
request target from the server (wsgiref), an encoded `%2F` arrives decoded and acts as a
separator between index names; with one (gunicorn's RAW_URI) such a name is a 404.
"""

from __future__ import annotations

from imageserver.engines.app import create_app
from imageserver.engines.wsgi_fastpath import ImageFastPath
from imageserver.engines.wsgi_fastpath import WSGIApp
from imageserver.hotpath.responder import ImageResponder
from imageserver.settings.config import Config
from imageserver.state.timers import Clock
from imageserver.web.context import EXTENSION_KEY
from imageserver.web.context import Services


def create_application(
    config: Config | None = None, clock: Clock | None = None, start_sweeper: bool = True
) -> WSGIApp:
    """Build the WSGI callable a WSGI server runs: the image fast path, then Flask.

    `python server.py` runs the ASGI callable instead (`engines.asgi.create_asgi_application`).
    Parameters as for `engines.app.create_app`.
    """
    config = config or Config.from_env()
    app = create_app(config, clock, start_sweeper)
    svc: Services = app.extensions[EXTENSION_KEY]
    return ImageFastPath(app, ImageResponder(config, svc.registry, svc.clock, svc.variants))


application = create_application(Config.from_env())
