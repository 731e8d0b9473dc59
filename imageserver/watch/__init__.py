"""Live folders: a directory loaded with `"watch": true` follows its folder.

See docs/API.md#live-folders.

`leader` elects one watcher per server among the workers, `watcher` runs it, `tree` turns
inotify events into index changes, `sync` writes them to the state database in batches, and
`names` says which temporary names of common writers are waited out.
"""
