"""Cold start with and without the layer's bytecode: every handler imported as Lambda imports it
from the deployed layer, which is read-only, so Python cannot keep what it compiles.

The layer is built by its own recipe (``layers/common/Makefile``, what ``sam build`` runs) for this
host instead of Lambda's arm64 (``WHEELS=``, this interpreter as ``PYTHON313``): the requirements'
wheels, ``studio_core`` and their hash-based bytecode. The layer as lambda-builders' python3.13
method built it before is the same tree without the bytecode (it unpacks wheels, which carry
none). Each handler (``bench/coldstart.py``'s functions and environment) is imported in a fresh
interpreter with its code directory, then the layer, first on ``sys.path`` (as ``/var/task`` and
``/opt/python`` on Lambda; boto3 comes from the project's environment, as from the runtime) and
``PYTHONDONTWRITEBYTECODE=1`` (``/opt`` is read-only). Both layers and ``import boto3`` are measured
``REPEATS`` times, interleaved; the figure is each one's fastest run (cumulative ``-X importtime``).

Last line: ``layer_bytecode: worst_without_ms=<n> worst_with_ms=<n> ...``. Run:
``.venv/bin/python bench/layer_bytecode.py`` (builds the layer from the package index: about
3 minutes).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coldstart import LAMBDA_ENV, ROOT, import_once, template_functions

RESULTS = Path(__file__).with_name("results") / "layer_bytecode.json"
REPEATS = 7


def build_layer(target: Path) -> Path:
    """The layer built by its Makefile for this host, with its bytecode; returns its python/ dir."""
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "make",
            "-s",
            "-f",
            str(ROOT / "layers" / "common" / "Makefile"),
            "build-CommonLayer",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON313={sys.executable}",
            "WHEELS=",
        ],
        check=True,
    )
    return target / "python"


def without_bytecode(layer: Path, target: Path) -> Path:
    """A copy of the layer with no ``__pycache__``: what the deployed layer held before."""
    shutil.copytree(layer, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def main() -> int:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="layer-bytecode-"))
    layers = {"with": build_layer(scratch / "built")}
    layers["without"] = without_bytecode(layers["with"], scratch / "plain")
    functions = template_functions()
    for name in functions:  # function code without caches: Lambda's /var/task has none either
        shutil.copytree(
            ROOT / "functions" / name,
            scratch / "functions" / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    read_only = {"PYTHONDONTWRITEBYTECODE": "1"}
    subjects: dict[str, tuple[str, list[Path], dict[str, str]]] = {
        "boto3": ("boto3", [scratch], {**LAMBDA_ENV, **read_only})
    }
    for name, function in sorted(functions.items()):
        code = scratch / "functions" / name
        for kind, layer in layers.items():
            env = {**function["env"], **read_only, "LAMBDA_TASK_ROOT": str(code)}
            subjects[f"{name}@{kind}"] = ("app", [code, layer], env)
    timings: dict[str, list[float]] = {name: [] for name in subjects}
    for repeat in range(REPEATS):
        for name, (module, path, env) in list(subjects.items())[:: 1 if repeat % 2 == 0 else -1]:
            timings[name].append(import_once(module, path, env)["ms"])
    boto3_ms = min(timings["boto3"])
    handlers = {}
    for name in sorted(functions):
        without, with_ = min(timings[f"{name}@without"]), min(timings[f"{name}@with"])
        handlers[name] = {
            "without_bytecode_ms": without,
            "with_bytecode_ms": with_,
            "without_ratio_vs_boto3": without / boto3_ms,
            "with_ratio_vs_boto3": with_ / boto3_ms,
            "saved_ms": without - with_,
            "median_without_ms": statistics.median(timings[f"{name}@without"]),
            "median_with_ms": statistics.median(timings[f"{name}@with"]),
        }
    report = {
        "python": sys.version.split()[0],
        "repeats": REPEATS,
        "boto3_ms": boto3_ms,
        "layer_files": {kind: sum(1 for _ in layer.rglob("*.py")) for kind, layer in layers.items()},
        "layer_pyc_files": {kind: sum(1 for _ in layer.rglob("*.pyc")) for kind, layer in layers.items()},
        "handlers": handlers,
        "bench_wall_seconds": time.monotonic() - started,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"| handler | without bytecode, ms (best of {REPEATS}) | x boto3 | with, ms | x boto3 | saved ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| `import boto3` alone | {boto3_ms:.0f} | 1.00 | | | |")
    for name, figures in sorted(handlers.items(), key=lambda item: -item[1]["without_bytecode_ms"]):
        print(
            f"| {name} | {figures['without_bytecode_ms']:.0f} | {figures['without_ratio_vs_boto3']:.2f} "
            f"| {figures['with_bytecode_ms']:.0f} | {figures['with_ratio_vs_boto3']:.2f} "
            f"| {figures['saved_ms']:.0f} |"
        )
    worst_without = max(h["without_bytecode_ms"] for h in handlers.values())
    worst_with = max(h["with_bytecode_ms"] for h in handlers.values())
    print(
        f"layer_bytecode: worst_without_ms={worst_without:.0f} worst_with_ms={worst_with:.0f} "
        f"boto3_ms={boto3_ms:.0f} worst_without_ratio={worst_without / boto3_ms:.2f} "
        f"worst_with_ratio={worst_with / boto3_ms:.2f} "
        f"min_saved_ms={min(h['saved_ms'] for h in handlers.values()):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
