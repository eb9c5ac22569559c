"""Benchmarks: commands that measure and print figures (never asserted in tests)."""
