"""Upload inboxes (#25): files sent over HTTP become images with stable URLs.

`names.py` checks inbox and file names, `spool.py` streams a body into a temporary file,
`validate.py` proves it is one whole image and nothing more, and `inbox.py` moves the
checked files into the inbox all at once and re-indexes it. No Flask here: the blueprint is
`imageserver/web/routes/uploads.py`.
"""
