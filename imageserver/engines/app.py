"""The whole Flask app: the control API (`web/`) with the gallery's pages (`gallery/`) on it.

The composition root. The gallery is built on the web layer (its views use web's services,
errors, payloads and sign-in session), so the app that holds both is put together here,
above both: nothing in `web/` knows that a gallery exists. Every engine (`asgi.py`,
`wsgi.py`) and `imageserver serve --dev` build their Flask app with `create_app`.
"""

from __future__ import annotations

from flask import Flask

from imageserver.gallery import views as gallery
from imageserver.settings.config import Config
from imageserver.state.timers import Clock
from imageserver.web.app import create_api_app


def create_app(
    config: Config | None = None, clock: Clock | None = None, start_sweeper: bool = True
) -> Flask:
    """Build the Flask app the server runs: the control API, then the gallery's blueprint.

    Parameters and errors as for `web.app.create_api_app`.
    """
    app = create_api_app(config, clock, start_sweeper)
    app.register_blueprint(gallery.bp)
    return app
