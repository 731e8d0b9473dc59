"""Image variants for model APIs: resize, convert, cap the bytes, cache on disk.

`params` (query parameters and their bounds), `presets` (the one table), `geometry` (sizes),
`transform` (the Pillow pipeline), `cache` (the bounded disk cache), `service` (keys and the
glue) and `datauri`. Nothing in this package imports Flask; `web/routes/variants.py` does.
"""
