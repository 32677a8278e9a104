"""Fuzz targets shared by the hypothesis tests (tests/fuzz) and the atheris runner (python -m fuzz)."""
