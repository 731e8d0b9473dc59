"""The HTTP blueprints: the control API, the directories API and the image routes."""
