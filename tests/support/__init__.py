"""Helpers the tests import: names, builders and drivers shared by several test modules.

Fixtures live in ``tests/conftest.py``; everything a test imports lives here, never in a
``test_*.py`` module or in a conftest (``tests/unit/test_test_layout.py`` holds them to it).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
