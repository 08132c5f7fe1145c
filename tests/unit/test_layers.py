"""The layout keeps its promise: domain/ is pure, and no step imports another step."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "layers" / "common" / "studio_core"
FORBIDDEN_IN_DOMAIN = ("boto3", "botocore", "requests", "urllib3", "studio_core.aws", "studio_core.steps")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_in_domain_imports_aws_http_or_the_steps() -> None:
    # Given every module of domain/
    modules = sorted((CORE / "domain").glob("*.py"))
    assert len(modules) > 5

    # Then none imports boto3, botocore, requests, aws/ or steps/ (directly)
    for module in modules:
        bad = {
            n
            for n in imported_modules(module)
            if n.split(".")[0] in FORBIDDEN_IN_DOMAIN or n.startswith(FORBIDDEN_IN_DOMAIN)
        }
        assert not bad, f"{module.name} imports {sorted(bad)}"


def test_importing_all_of_domain_loads_no_aws_or_http_library() -> None:
    # When every domain module is imported in a fresh interpreter (so indirect imports count too)
    names = " ".join(
        f"studio_core.domain.{p.stem}" for p in (CORE / "domain").glob("*.py") if p.stem != "__init__"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {names.split()!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted(m for m in ('boto3', 'botocore', 'requests', 'urllib3') if m in sys.modules)))"
    )
    command = [sys.executable, "-c", code]
    loaded = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603

    # Then none of them was loaded on the way
    assert loaded.strip() == ""


def test_no_step_imports_another_step() -> None:
    steps = CORE / "steps"
    for module in steps.rglob("*.py"):
        own = module.relative_to(steps).parts[0].removesuffix(".py")
        for name in imported_modules(module):
            if name.startswith("studio_core.steps."):
                other = name.split(".")[2]
                assert other == own, f"{module.relative_to(CORE)} imports the step {name}"
