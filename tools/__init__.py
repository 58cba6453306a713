"""Generators of committed files; each has a test that fails when its output is stale."""
