"""The benchmarks under ``bench/``, loaded as modules by the tests that run them at a small size."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.support import REPO_ROOT


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a fresh module ``bench_<name>``, registered in ``sys.modules`` before
    it runs: its dataclasses look their module up while they are defined."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO_ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
