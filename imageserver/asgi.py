"""Old import path kept for granian command lines: `imageserver.asgi:create_asgi_application`."""

from imageserver.engines.asgi import create_asgi_application as create_asgi_application
