"""`load_folder_v2.py`: load a folder into the image server and write its stable URLs as JSON.

Layers, HTTPie style: `cli.load.main` is the error boundary that turns failures into an
`ExitStatus`; `run.run` does the work without error handling; `client` talks HTTP to the
server (one aiohttp session per run); `verify` HEADs the URLs; `output` writes the JSON file
atomically; `launcher` starts a local server when none answers. The loader talks to the
server only over HTTP and never imports the server's routes.
"""
