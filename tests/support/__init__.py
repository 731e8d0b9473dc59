"""Helpers shared by the tests: a real server process, image makers, a movable clock."""
