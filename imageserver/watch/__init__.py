"""Live folders (CONTRACT D.4): a directory loaded with `"watch": true` follows its folder.

`leader` elects one watcher per server among the workers, `watcher` runs it, `tree` turns
inotify events into index changes, `sync` writes them to the state database in batches, and
`names` says which temporary names of common writers are waited out.
"""
