"""Plain helpers shared by the test suites (importable as `helpers`: pyproject.toml puts
tests/ on the pytest pythonpath)."""
