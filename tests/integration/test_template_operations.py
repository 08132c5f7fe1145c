"""template.yaml's parts for operators: the job event bus, the alarms' topic, the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.integration.test_template import load_template, props, translated  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def test_every_function_knows_the_job_event_bus(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert resources["StudioEventBus"]["Type"] == "AWS::Events::EventBus"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    # GetAtt Name (not Ref): the same on AWS, and what moto's CloudFormation resolves correctly
    assert env["EVENT_BUS_NAME"] == {"Fn::GetAtt": ["StudioEventBus", "Name"]}
    assert template["Outputs"]["EventBusName"]["Value"] == {"Fn::GetAtt": ["StudioEventBus", "Name"]}


@pytest.mark.parametrize("function", ["FinalizeFunction", "RecordFailureFunction"])
def test_the_tasks_that_end_a_job_may_put_its_event_and_write_its_gallery(
    translated: dict[str, Any],  # noqa: F811 (the fixture)
    function: str,
) -> None:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }

    assert "events:PutEvents" in actions
    # The gallery copies the inputs beside the outputs: read and write in the bucket
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions


def test_alarms_notify_the_given_topic_or_one_the_stack_creates(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    conditions = template["Conditions"]
    assert conditions["HasAlarmTopic"] == {
        "Fn::Or": [{"Condition": "GivenAlarmTopic"}, {"Condition": "CreateAlarmTopic"}]
    }
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert props(resources, "AlarmTopic")["KmsMasterKeyId"] == "alias/aws/sns"
    assert props(resources, "AlarmTopicEmail") == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    topic = {"Fn::If": ["GivenAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 7
    for alarm in alarms:
        assert alarm["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [topic], {"Ref": "AWS::NoValue"}]}


def test_the_dashboard_charts_job_events_and_gallery_pages(resources: dict[str, Any]) -> None:
    body = props(resources, "StudioDashboard")["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    lines = [line for widget in dashboard["widgets"] for line in widget["properties"]["metrics"]]

    assert ["StudioPipeline", "JobEventsNotPut", "service", "studio-pipeline"] in lines
    assert ["StudioPipeline", "GalleryNotWritten", "service", "studio-pipeline"] in lines
    assert "${StudioEventBus.Name}" in body
