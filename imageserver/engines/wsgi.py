"""WSGI entry point, for a WSGI server (`gunicorn imageserver.wsgi:application`).

`python server.py` does not use it: it runs the ASGI application (`asgi.py`) under granian.
What this entry point loses is described in `wsgi_fastpath.py` and the README: without a raw
request target from the server, names with an encoded separator are refused, not served.
"""

from __future__ import annotations

from imageserver.settings.config import Config
from imageserver.web.app import create_application

application = create_application(Config.from_env())
