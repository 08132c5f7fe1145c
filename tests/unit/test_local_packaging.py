"""Packaging: the template's local paths become S3 locations of zips uploaded to the deployment bucket."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from studio_local.packaging import PackagingError, artifact_for_location, package_template, zip_directory


def _tree(root: Path) -> None:
    (root / "functions" / "ingest").mkdir(parents=True)
    (root / "functions" / "ingest" / "app.py").write_text("def lambda_handler(e, c):\n    return e\n")
    (root / "functions" / "ingest" / "__pycache__").mkdir()
    (root / "functions" / "ingest" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (root / "functions" / "shared").mkdir(parents=True)
    (root / "functions" / "shared" / "app.py").write_text("")
    (root / "layers" / "common" / "lib").mkdir(parents=True)
    (root / "layers" / "common" / "lib" / "__init__.py").write_text("X = 1\n")
    (root / "statemachine").mkdir()
    (root / "statemachine" / "job.asl.json").write_text('{"StartAt": "A", "States": {}}')


TEMPLATE = {
    "Globals": {"Function": {"CodeUri": "functions/shared/", "Runtime": "python3.11"}},
    "Resources": {
        "Ingest": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "functions/ingest/"}},
        "Shared": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layers/common"}},
        "Machine": {
            "Type": "AWS::Serverless::StateMachine",
            "Properties": {"DefinitionUri": "statemachine/job.asl.json"},
        },
        "Remote": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://bucket/key.zip"}},
    },
}


def test_local_paths_become_s3_locations(tmp_path: Path) -> None:
    # Given a project tree and a SAM template naming its directories
    _tree(tmp_path)
    uploaded: dict[str, bytes] = {}
    # When it is packaged
    packaged, artifacts = package_template(TEMPLATE, tmp_path, "deploy", uploaded.__setitem__)
    # Then each local path is an uploaded object, and the template points at it
    resources = packaged["Resources"]
    by_id = {a.logical_id: a for a in artifacts}
    assert set(by_id) == {"Ingest", "Shared", "Layer", "Machine"}
    assert resources["Ingest"]["Properties"]["CodeUri"] == {"Bucket": "deploy", "Key": by_id["Ingest"].key}
    assert resources["Shared"]["Properties"]["CodeUri"]["Key"] == by_id["Shared"].key  # from Globals
    assert resources["Layer"]["Properties"]["ContentUri"]["Key"].endswith(".zip")
    assert resources["Machine"]["Properties"]["DefinitionUri"]["Key"].endswith(".json")
    assert resources["Remote"]["Properties"]["CodeUri"] == "s3://bucket/key.zip"
    assert "CodeUri" not in packaged["Globals"]["Function"]
    assert uploaded[by_id["Machine"].key] == b'{"StartAt": "A", "States": {}}'
    assert by_id["Ingest"].local_path == (tmp_path / "functions" / "ingest").resolve()
    # And the original template is untouched
    assert TEMPLATE["Resources"]["Ingest"]["Properties"]["CodeUri"] == "functions/ingest/"


def test_zip_is_deterministic_and_leaves_caches_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    first = zip_directory(tmp_path / "functions" / "ingest")
    assert first == zip_directory(tmp_path / "functions" / "ingest")
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["app.py"]


def test_a_missing_directory_is_an_error_naming_the_resource(tmp_path: Path) -> None:
    template = {
        "Resources": {"Ingest": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "nope/"}}}
    }
    with pytest.raises(PackagingError, match=r"Ingest\.CodeUri points at .*nope"):
        package_template(template, tmp_path, "deploy", lambda key, body: None)


def test_artifacts_are_found_again_by_their_s3_location(tmp_path: Path) -> None:
    _tree(tmp_path)
    _, artifacts = package_template(TEMPLATE, tmp_path, "deploy", lambda key, body: None)
    layer = next(a for a in artifacts if a.logical_id == "Layer")
    # After translation a layer is renamed (Layer1a2b3c4d5e) and its Content says S3Bucket/S3Key.
    assert artifact_for_location(artifacts, {"S3Bucket": "deploy", "S3Key": layer.key}) == layer
    assert artifact_for_location(artifacts, {"S3Bucket": "other", "S3Key": layer.key}) is None
