"""Video in (#23): frames extracted with PyAV into a cache folder that loads like any folder.

`extract` chooses and writes the frames (`decoding`, `sampling` and `keyframes` decode only
what fps sampling needs, `writer` encodes on threads, `growing` follows a file still being
written), `videoio` opens and probes videos (PyAV is imported only inside functions, so a
server that never sees a video never loads it), `framecache` names the cache folders and
publishes them atomically. Nothing here imports Flask.
"""
