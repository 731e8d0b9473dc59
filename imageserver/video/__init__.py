"""Video in (#23): frames extracted with PyAV into a cache folder that loads like any folder.

`extract` chooses and writes the frames, `videoio` opens and probes videos (PyAV is imported
only inside functions, so a server that never sees a video never loads it), `framecache`
names the cache folders and publishes them atomically. Nothing here imports Flask.
"""
