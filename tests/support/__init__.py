"""Helpers shared by test modules (importable because ``tests/`` holds the conftest)."""
