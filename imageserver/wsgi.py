"""WSGI entry point for servers started from outside (`granian imageserver.wsgi:application`).

`python server.py` does not use it: it builds the same application inside gunicorn's master.
"""

from __future__ import annotations

from imageserver.app import create_application
from imageserver.config import Config

application = create_application(Config.from_env())
