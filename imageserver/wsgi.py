"""Old import path kept for WSGI servers: `gunicorn imageserver.wsgi:application`."""

from imageserver.engines.wsgi import application as application
