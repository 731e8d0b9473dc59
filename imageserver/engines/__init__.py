"""Server engines: the ASGI app granian runs, the Flask bridge, the WSGI entry."""
