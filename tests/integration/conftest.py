"""Integration fixtures: `store_dsn` and `store` live in tests/conftest.py (the fault tier uses them too)."""
