"""Old path kept for the shell scripts: `python -m imageserver.settings_query KEY...`."""

from imageserver.settings.query import main as main

if __name__ == "__main__":
    raise SystemExit(main())
