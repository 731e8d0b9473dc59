"""Settings: the one table of IMAGE_SERVER_* settings, parsing, places, version."""
