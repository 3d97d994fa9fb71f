"""Helpers shared by the test suites (no fixtures here; see the conftest files)."""
