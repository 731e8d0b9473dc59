"""WSGI entry point, for people who must run under a WSGI server (`gunicorn imageserver.wsgi`).

`python server.py` does not use it: it runs the ASGI application (`asgi.py`) under granian.
What this entry point loses is described in `wsgi_fastpath.py` and the README: without a raw
request target from the server, names with an encoded separator are refused, not served.
"""

from __future__ import annotations

from imageserver.app import create_application
from imageserver.config import Config

application = create_application(Config.from_env())
