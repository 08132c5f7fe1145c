"""The deploy guide's facts follow the template: the runtime `sam build` needs, what the fixed
monthly costs count, and an upload that puts product.json last."""

from __future__ import annotations

import re
from pathlib import Path

from studio_local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]


def section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def resources_of(kind: str) -> list[str]:
    resources = load_template(REPO / "template.yaml")["Resources"]
    return [name for name, resource in resources.items() if resource["Type"] == kind]


def test_the_guide_names_the_runtime_sam_build_needs() -> None:
    runtime = load_template(REPO / "template.yaml")["Globals"]["Function"]["Runtime"]

    assert f"`{runtime}`" in section("Deploy to AWS, step by step")
    assert "--use-container" in section("Deploy to AWS, step by step")


def test_the_fixed_monthly_costs_count_what_the_template_creates() -> None:
    costs = section("Costs: per month, and per product")
    alarms = len(resources_of("AWS::CloudWatch::Alarm"))
    dashboards = len(resources_of("AWS::CloudWatch::Dashboard"))
    secrets = len(resources_of("AWS::SecretsManager::Secret"))

    assert f"| {alarms}, at $0.10 | ${alarms * 0.10:.2f} |" in costs
    assert f"| {dashboards}, at $3.00 | ${dashboards * 3:.2f} |" in costs
    assert f"| {secrets}, at $0.40 | ${secrets * 0.40:.2f} |" in costs
    total = alarms * 0.10 + dashboards * 3 + secrets * 0.40
    assert f"**${total:.2f}**" in costs


def test_the_upload_without_the_cli_puts_product_json_last() -> None:
    guide = section("Deploy to AWS, step by step")
    photos = re.search(r"aws s3 cp \S+ \S+ --recursive --exclude product\.json", guide)
    manifest = re.search(r"aws s3 cp \S+/product\.json \S+/product\.json", guide)

    assert photos and manifest and photos.start() < manifest.start()
