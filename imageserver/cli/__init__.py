"""Every command-line entry: serve, load, publish, status, the imageserver command."""
