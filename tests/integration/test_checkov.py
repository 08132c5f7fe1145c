"""checkov on template.yaml: no skip list on the command line, every skip in its resource's Metadata.

The first tests read the template and the Makefile as text and data. The last one runs checkov
from ``.venv-checkov`` (``make checkov`` creates it; ``make test`` runs it before pytest) and is
skipped when that venv is absent.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
MAKEFILE_PATH = REPO_ROOT / "Makefile"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CloudFormationLoader.add_multi_constructor("!", _any_tag)


def metadata_skips() -> dict[tuple[str, str], str]:
    """(resource, check id) -> comment, for every checkov skip in the template's Metadata."""
    template = yaml.load(TEMPLATE_PATH.read_text(), Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)
    skips: dict[tuple[str, str], str] = {}
    for name, resource in template["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            key = (name, skip["id"])
            assert key not in skips, f"{name} skips {skip['id']} twice"
            skips[key] = skip.get("comment", "")
    return skips


def checkov_recipe() -> str:
    makefile = MAKEFILE_PATH.read_text()
    match = re.search(r"^checkov:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, "the Makefile has no checkov target"
    return match.group(1)


def test_make_checkov_skips_nothing_on_its_command_line() -> None:
    recipe = checkov_recipe()
    assert "-f template.yaml" in recipe
    assert "--framework cloudformation" in recipe
    for option in ("--skip-check", "--soft-fail", "--check ", "--baseline", "--skip-framework"):
        assert option not in recipe, option
    assert "CHECKOV_SKIPPED" not in MAKEFILE_PATH.read_text()


def test_make_test_runs_checkov() -> None:
    match = re.search(r"^test:(.*)$", MAKEFILE_PATH.read_text(), re.MULTILINE)
    assert match and "checkov" in match.group(1).split()


def test_every_skip_in_metadata_names_a_check_and_gives_a_reason() -> None:
    skips = metadata_skips()
    assert skips
    for (resource, check), comment in skips.items():
        assert re.fullmatch(r"CKV_AWS_\d+", check), (resource, check)
        assert len(comment.split()) >= 5, f"{resource} {check}: the reason is missing or too short"


def test_functions_calling_aiuta_or_checking_catalogues_reserve_concurrency_others_say_why_not() -> None:
    template = yaml.load(TEMPLATE_PATH.read_text(), Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)
    functions = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    reserved = {name for name, f in functions.items() if "ReservedConcurrentExecutions" in f["Properties"]}
    skipped = {resource for resource, check in metadata_skips() if check == "CKV_AWS_115"}

    # The Aiuta API callers are bounded by the AiutaFunctionConcurrency parameter (the status check,
    # which may sleep between checks, by one per operation in flight), and the catalogue function by
    # its check's MaxConcurrency (10), so a catalogue never takes the account's whole pool...
    aiuta_callers = {"SubmitFunction", "CheckStatusFunction", "RegenerateFunction"}
    assert reserved == aiuta_callers | {"CatalogueFunction"}
    for name in aiuta_callers - {"CheckStatusFunction"}:
        assert functions[name]["Properties"]["ReservedConcurrentExecutions"] == "AiutaFunctionConcurrency"
    check = functions["CheckStatusFunction"]["Properties"]
    assert check["ReservedConcurrentExecutions"] == "AiutaOperationsInFlight"
    assert functions["CatalogueFunction"]["Properties"]["ReservedConcurrentExecutions"] == 10
    # ...and every other function skips the check with its reason
    assert skipped == set(functions) - reserved


@pytest.mark.skipif(not CHECKOV.exists(), reason="no .venv-checkov (make checkov creates it)")
@pytest.mark.slow
def test_checkov_fails_nothing_and_every_metadata_skip_is_used() -> None:
    command = [str(CHECKOV), "-f", str(TEMPLATE_PATH), "--framework", "cloudformation", "--compact"]
    command += ["--skip-download", "--output", "json"]
    run = subprocess.run(  # noqa: S603 (a fixed command)
        command,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    report = json.loads(run.stdout)
    assert report["summary"]["parsing_errors"] == 0
    failed = [(c["resource"], c["check_id"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert run.returncode == 0, run.stderr
    # checkov names a resource "<Type>.<LogicalId>"; a skip that no longer matches a failing
    # check (the resource was fixed, or checkov changed) is stale and should go.
    skipped = {
        (c["resource"].rsplit(".", 1)[1], c["check_id"]): c["check_result"]["suppress_comment"]
        for c in report["results"]["skipped_checks"]
    }
    assert skipped == metadata_skips()
