"""Confinement of paths, URL signatures and bearer tokens."""
