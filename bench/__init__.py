"""Benchmarks: `python -m bench` (see issue 7); nothing here runs in the test suite."""
