"""The cold-start bench's floor (``bench/coldstart.py``) is a handler's import with none of our code.

The bench's claim that a handler cannot reach its goal by changing our code alone rests on the
floor: it must load every module the handler loads that is not ours, build the SDK objects the
handler builds at import, and load nothing of ours.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import REPO_ROOT
from tests.support.benches import load_bench


def test_the_floor_loads_what_the_handler_loads_but_our_code_and_builds_its_sdk_objects(
    tmp_path: Path,
) -> None:
    bench = load_bench("coldstart")
    ingest = bench.template_functions()["ingest"]
    module, path, env = bench.subject(REPO_ROOT, "ingest", ingest["env"])

    built = bench.sdk_objects_built(path, env)
    handler_modules = bench.import_once(module, path, env)["modules"]
    (tmp_path / "floor_ingest.py").write_text(bench.floor_source(handler_modules, built))
    floor_modules = bench.import_once("floor_ingest", [tmp_path], env)["modules"]

    # Ingest stores photos in S3, jobs in DynamoDB and starts executions: each client built once.
    assert ["client", "s3"] in built
    assert ["resource", "dynamodb"] in built
    assert ["client", "stepfunctions"] in built
    ours = [name for name in handler_modules if name.split(".")[0] in bench.OWN_PACKAGES]
    assert "studio_core.steps.ingest" in ours
    assert not [name for name in floor_modules if name.split(".")[0] in ("studio_core", "app")]
    missing = set(handler_modules) - set(ours) - set(floor_modules)
    assert not missing, f"the floor does not load {sorted(missing)[:10]}"
