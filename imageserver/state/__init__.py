"""Shared state in SQLite: the store, the registry of loaded directories, timers."""
