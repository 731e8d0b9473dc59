"""Publish a folder to S3-compatible object storage (docs/PUBLISH.md).

`spec` holds what one publish is asked to do (its target is parsed by
`settings/publish_target.py`), `objects` turns images (or their variants) into the objects
to store, `manifest` remembers what was uploaded, `s3` wraps boto3, `presign` makes the
URLs, `publisher` runs one publish, `request` holds the API's request body and job shape,
and `jobs` / `runner` hold the API's background jobs; `cli/publish.py` is the `--publish`
side of `load_folder_v2.py`. Importing this package loads no boto3.
"""
