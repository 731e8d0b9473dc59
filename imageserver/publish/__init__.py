"""Publish a folder to S3-compatible object storage (docs/PUBLISH.md).

`target` parses `s3://bucket/prefix`, `objects` turns images (or their variants) into the
objects to store, `manifest` remembers what was uploaded, `s3` wraps boto3, `publisher`
runs one publish, `cli` is the `--publish` side of `load_folder_v2.py`, and `jobs` /
`runner` hold the API's background jobs. Importing this package loads no boto3.
"""
